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
inbound_tls_refused_total{{reason="no client certificate"}} 1
"""


def test_requests_are_counted_by_the_verified_client_identity():
    assert metrics.inbound_client_ids(TEXT) == {CLIENT: 5}
    assert metrics.inbound_client_ids(TEXT + TEXT)[CLIENT] == 10


def test_connections_are_counted_apart_from_requests():
    assert metrics.inbound_connections(TEXT) == {CLIENT: 2}
    assert metrics.open_connections(TEXT) == 2


def test_refusals_by_reason():
    assert metrics.tls_refusals(TEXT) == {"no client certificate": 1}
