"""A proxy talks only to the peer it expects: a certificate from the shared anchor is not enough, it must
name the identity discovery gave (the Link's `gatewayIdentity`, carried to the mirror's endpoints as
`mirror.linkerd.io/remote-gateway-identity`, or 2.8's gateway Service annotation). A gateway that answers
for another identity is refused by the client's proxy before any request crosses, and the client sees the
proxy's own error; the right identity back, traffic flows again."""
import json

from lab import names


def _expect_gateway_identity(lab, east, west, identity: str) -> None:
    """Make west's discovery expect `identity` from east's gateway, the way the lab's profile stores it."""
    if lab.cfg.profile.link_crd:
        patch = json.dumps({"spec": {"gatewayIdentity": identity}})
        done = west.kubectl("-n", names.MC_NS, "patch", "link", east.name, "--type=merge", "-p", patch)
    else:  # 2.8.1: the gateway Service in the target cluster says who it is
        gw = lab.gateway
        done = east.kubectl("-n", gw.namespace, "annotate", "--overwrite", "svc", gw.name,
                            f"{names.GATEWAY_IDENTITY_ANNOTATION}={identity}")
    assert done.returncode == 0, done.stderr
    mirror = f"foobar-{east.name}"
    lab.wait_for(lambda: (west.get("Endpoints", lab.cfg.namespace, mirror) or {}).get("metadata", {})
                 .get("annotations", {}).get(names.REMOTE_GATEWAY_IDENTITY_ANNOTATION) == identity, 15,
                 f"west's mirror of foobar to expect {identity} from east's gateway")


def test_a_gateway_answering_for_another_identity_is_refused_by_the_client_proxy(lab, east, west):
    gateway_identity = lab.gateway.identity(lab.cfg)
    impostor = lab.identity("client")  # issued by the shared anchor, so the chain verifies; the name does not
    url = lab.mirror_url("foobar", east.name)
    assert west.request(url).ok, "the link must work before it is broken"
    served_before = east.gateway_metrics().traffic(lab.identity("client"))
    try:
        _expect_gateway_identity(lab, east, west, impostor)
        refused = west.request(url, timeout=10)
        assert not refused.ok, f"west's proxy accepted a gateway that is not {impostor}: {refused.describe()}"
        assert refused.status in (502, 503, 504), refused.describe()
        if lab.cfg.profile.proxy_error_headers:
            assert refused.headers.get("l5d-proxy-error"), f"the proxy says why: {refused.headers}"
        assert east.gateway_metrics().traffic(lab.identity("client")) == served_before, \
            "nothing may reach east's gateway over a connection whose server identity was wrong"
    finally:
        _expect_gateway_identity(lab, east, west, gateway_identity)
        lab.wait_for(lambda: west.request(url).ok, 30, "traffic to flow again once the gateway's identity is expected")
        # Leave the link as found: the changed Link started a new probe worker, whose gateway counts as not
        # alive until its first probe, one period later (the scenarios after this one read it at once).
        lab.wait_for(lambda: (gateway := west.gateway(east.name)) is not None and gateway.alive, 30,
                     "west's probe to see east's gateway alive again")


def test_mirrored_endpoints_carry_the_identity_of_the_gateway_they_lead_to(lab, east, west):
    eps = west.get("Endpoints", lab.cfg.namespace, f"foobar-{east.name}")
    assert eps["metadata"]["annotations"][names.REMOTE_GATEWAY_IDENTITY_ANNOTATION] == \
        lab.gateway.identity(lab.cfg)
