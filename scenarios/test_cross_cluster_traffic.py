"""A request from west to the mirror of east's foobar crosses the gateway over mTLS."""
import json

from lab import names
from lab.parsers import metrics


def test_west_client_is_answered_by_east_foobar_through_the_gateway(lab, east, west):
    ns = lab.cfg.namespace
    client_id = lab.identity("client")
    named = lab.cfg.profile.proxy_authz_metrics  # stable-2.8.1's proxy names no client at the gateway
    gateway = east.gateway_metrics()
    forwarded_before = gateway.requests()
    seen_before = gateway.clients()[client_id] if named else None

    result = west.request(lab.mirror_url("foobar", east.name))

    assert result.ok, f"request from {west.name} failed: {result.describe()}: {result.body}"
    answer = json.loads(result.body)
    assert answer["message"] == f"foobar in {east.name}"
    east_pods = {p["metadata"]["name"] for p in east.list("Pod", ns, labels={"app": "foobar"})}
    assert answer["hostname"] in east_pods, f"{answer['hostname']} is not one of east's foobar pods {east_pods}"
    assert gateway.requests() == forwarded_before + 1, "east's gateway did not forward the request"
    # mTLS evidence: east's gateway verified the west client's certificate and authorized its identity.
    if named:
        assert gateway.clients()[client_id] == seen_before + 1
    if named and lab.gateway.bundled:
        # ... under the chart's policy for the gateway (edge-26.8.3 charts/linkerd-multicluster/templates/
        # gateway-policy.yaml), not the pod's default: its Server and its AuthorizationPolicy name the sample
        text = east.proxy_metrics(lab.gateway.name, lab.gateway.namespace)
        allowed = [labels for name, labels, _ in metrics.parse(text) if name == "inbound_http_authz_allow_total"
                   and labels.get("client_id") == client_id and labels.get("target_port") == str(names.PROXY_INBOUND_PORT)]
        assert [(l.get("srv_kind"), l.get("srv_name"), l.get("authz_kind"), l.get("authz_name")) for l in allowed] == \
            [("server", "linkerd-gateway", "authorizationpolicy", "linkerd-gateway")], allowed
    # The connection the request came on, as the gateway's transport metrics label it: v2.366.0 with its target
    # port, the client's identity and the port's server (transport/labels.rs); v2.100.0 with tls="true" only.
    opened = [labels for name, labels, _ in metrics.parse(east.proxy_metrics(lab.gateway.name, lab.gateway.namespace))
              if name == "tcp_open_total" and labels.get("direction") == "inbound"]
    if named:
        assert any(l.get("client_id") == client_id and l.get("target_port") == str(names.PROXY_INBOUND_PORT)
                   and l.get("srv_port") == str(names.PROXY_INBOUND_PORT) for l in opened), opened
    else:
        assert opened and all(set(l) == {"direction", "peer", "tls"} for l in opened), opened


def test_mirror_endpoints_point_at_east_gateway(lab, east, west):
    eps = west.get("Endpoints", lab.cfg.namespace, f"foobar-{east.name}")
    assert eps is not None, "foobar is not mirrored into west"
    addresses = {a["ip"] for s in eps["subsets"] for a in s["addresses"]}
    ports = {p["port"] for s in eps["subsets"] for p in s["ports"]}
    assert addresses == {east.gateway_address()}
    assert ports == {4143}
    gateway = west.gateway(east.name)
    assert gateway is not None and gateway.alive, f"west does not see east's gateway alive: {west.gateways()}"
    assert gateway.paired_services >= 1
