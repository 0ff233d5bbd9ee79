from lab.parsers import metrics

CLIENT = "client.mc-demo.serviceaccount.identity.linkerd.cluster.local"
TEXT = f"""# TYPE tcp_open_total counter
tcp_open_total{{direction="inbound",peer="src",tls="true",client_id="{CLIENT}"}} 2
tcp_open_total{{direction="outbound",peer="dst",tls="true",server_id="foobar.mc-demo.serviceaccount.identity.linkerd.cluster.local",target_addr="10.244.0.3:4143"}} 1
# TYPE tcp_close_total counter
tcp_close_total{{direction="inbound",peer="src",tls="true",client_id="{CLIENT}"}} 1
# TYPE tcp_open_connections gauge
tcp_open_connections{{direction="inbound",peer="src",tls="true",client_id="{CLIENT}"}} 1
tcp_open_connections{{direction="outbound",peer="dst",tls="true",server_id="foobar.mc-demo.serviceaccount.identity.linkerd.cluster.local",target_addr="10.244.0.3:4143"}} 1
# TYPE request_total counter
request_total{{direction="inbound",authority="foobar.mc-demo.svc.cluster.local:9898",tls="true",client_id="{CLIENT}"}} 5
request_total{{direction="outbound",authority="foobar.mc-demo.svc.cluster.local:9898",tls="true",server_id="x"}} 7
# TYPE inbound_http_authz_allow_total counter
inbound_http_authz_allow_total{{target_addr="10.244.0.9:4143",target_ip="10.244.0.9",target_port="4143",srv_group="",srv_kind="default",srv_name="all-authenticated",srv_port="4143",route_group="",route_kind="default",route_name="default",authz_group="",authz_kind="default",authz_name="all-authenticated",tls="true",client_id="{CLIENT}"}} 3
inbound_http_authz_allow_total{{target_addr="10.244.0.9:4191",target_ip="10.244.0.9",target_port="4191",srv_group="",srv_kind="default",srv_name="all-unauthenticated",srv_port="4191",route_group="",route_kind="default",route_name="default",authz_group="",authz_kind="default",authz_name="all-unauthenticated",tls="true",client_id="{CLIENT}"}} 4
# TYPE inbound_tcp_errors_total counter
inbound_tcp_errors_total{{error="unexpected",target_addr="10.244.0.9:4143",target_ip="10.244.0.9",target_port="4143"}} 2
inbound_tcp_errors_total{{error="i/o",target_addr="10.244.0.9:4143",target_ip="10.244.0.9",target_port="4143"}} 1
inbound_tcp_errors_total{{error="unexpected",target_addr="10.244.0.9:4191",target_ip="10.244.0.9",target_port="4191"}} 5
"""


def test_requests_are_counted_by_the_verified_client_identity():
    assert metrics.inbound_client_ids(TEXT) == {CLIENT: 5}
    assert metrics.inbound_client_ids(TEXT + TEXT)[CLIENT] == 10


def test_connections_are_counted_apart_from_requests():
    assert metrics.inbound_connections(TEXT) == {CLIENT: 2}
    assert metrics.open_connections(TEXT) == 2


def test_authorizations_are_counted_by_client_on_the_port_asked_for():
    assert metrics.authorized_clients(TEXT, 4143) == {CLIENT: 3}
    assert metrics.authorized_clients(TEXT, 4191) == {CLIENT: 4}


def test_outbound_requests_are_summed_whoever_sent_them():
    assert metrics.outbound_requests(TEXT) == 7


def test_dropped_connections_by_error_on_the_port_asked_for():
    assert metrics.tcp_errors(TEXT, 4143) == {"unexpected": 2, "i/o": 1}
    assert metrics.tcp_errors(TEXT, 4191) == {"unexpected": 5}
