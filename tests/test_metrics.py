from lab import metrics

TEXT = """# TYPE tcp_open_total counter
tcp_open_total{direction="inbound",tls="true",client_id="client.mc-demo.serviceaccount.identity.linkerd.cluster.local"} 3
tcp_open_total{direction="outbound",tls="true",server_id="foobar.mc-demo.serviceaccount.identity.linkerd.cluster.local",authority="10.244.0.3:9898"} 2
inbound_tls_refused_total{reason="no client certificate"} 1
"""


def test_inbound_client_identities_are_counted():
    assert metrics.inbound_client_ids(TEXT) == {"client.mc-demo.serviceaccount.identity.linkerd.cluster.local": 3}
    assert metrics.inbound_client_ids(TEXT + TEXT)["client.mc-demo.serviceaccount.identity.linkerd.cluster.local"] == 6


def test_refusals_by_reason():
    assert metrics.tls_refusals(TEXT) == {"no client certificate": 1}
