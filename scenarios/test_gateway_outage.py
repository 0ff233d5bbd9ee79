"""With east's gateway stopped, west sees it dead and requests fail fast; restarted, both recover.

The client's proxy cannot connect to the gateway, backs that endpoint off, and after its failfast timeout
(3 s) answers from itself: 504 with `l5d-proxy-error: ... service in fail-fast` on edge's proxy (v2.366.0),
a bare 503 on 2.8.1's (v2.100.0). On edge the mirror also lists the dead gateway as not ready once its
probe has failed failureThreshold times in a row (Link CRD default 3; cluster_watcher.go updateReadiness);
2.8.1's mirror leaves the endpoints alone."""


def test_gateway_outage_is_detected_and_recovered(lab, east, west):
    url = lab.mirror_url("foobar", east.name)
    mirror = f"foobar-{east.name}"
    assert west.request(url).ok
    periods = lab.probe_period * 5 + 2  # three failed probes in a row on edge, plus the ticker's phase and jitter

    def listed(key: str) -> list[str]:
        eps = west.get("Endpoints", lab.cfg.namespace, mirror) or {}
        return [a["ip"] for subset in eps.get("subsets", []) for a in subset.get(key, [])]

    gw = lab.gateway
    east.scale(gw.namespace, gw.name, 0)
    try:
        lab.wait_for(lambda: west.gateway(east.name) and not west.gateway(east.name).alive, periods,
                     "west to report east's gateway not alive")
        profile = lab.cfg.profile
        if profile.liveness_gates_endpoints:
            lab.wait_for(lambda: not listed("addresses") and east.gateway_address() in listed("notReadyAddresses"), 10,
                         f"west's {mirror} to list the dead gateway as not ready")
        failed = west.request(url)
        assert failed.status == profile.failfast_status, failed.describe()
        if profile.proxy_error_headers:
            assert "service in fail-fast" in failed.headers.get("l5d-proxy-error", ""), failed.describe()
        else:
            assert "l5d-proxy-error" not in failed.headers, failed.describe()
    finally:
        east.scale(gw.namespace, gw.name, 1)
        lab.wait_for(lambda: getattr(west.gateway(east.name), "alive", False), periods, "east's gateway to be alive again")
        lab.wait_for(lambda: listed("addresses") == [east.gateway_address()], 10, f"west's {mirror} to list the gateway as ready")
        lab.wait_for(lambda: west.request(url).ok, 10, "requests through the gateway to succeed again")


def test_without_its_service_mirror_controller_west_probes_no_gateway(lab, east, west):
    """The probe workers live in the service mirror controller, and `multicluster gateways` reads their
    metrics from its pods (edge-26.8.3 multicluster/cmd/gateways.go): with the controller scaled to zero,
    west lists no gateway for east; started again, it probes east's gateway alive after a period."""
    from lab.render import manifests
    from lab import names

    controllers = manifests.mirror_controllers(lab.cfg, west.name)
    assert west.gateway(east.name) is not None
    for controller in controllers:
        west.scale(names.MC_NS, controller, 0)
    try:
        lab.wait_for(lambda: west.gateway(east.name) is None, 15, "west to list no gateway for east")
    finally:
        for controller in controllers:
            west.scale(names.MC_NS, controller, 1)
        lab.wait_for(lambda: getattr(west.gateway(east.name), "alive", False), lab.probe_period * 3 + 10,
                     "east's gateway to be probed alive again")
    assert west.request(lab.mirror_url("foobar", east.name)).ok
