"""With east's gateway stopped, west sees it dead and requests fail clearly; restarted, both recover."""
def test_gateway_outage_is_detected_and_recovered(lab, east, west):
    url = lab.mirror_url("foobar", east.name)
    assert west.request(url).ok
    periods = lab.probe_period * 4 + 2

    gw = lab.gateway
    east.scale(gw.namespace, gw.name, 0)
    try:
        lab.wait_for(lambda: west.gateway(east.name) and not west.gateway(east.name).alive, periods,
                     "west to report east's gateway not alive")
        failed = west.request(url)
        assert not failed.ok
        # A clear error, from the client's own proxy, naming the gateway it could not reach.
        assert failed.status == 502, failed.describe()
        reason = failed.headers.get("l5d-proxy-error", "")
        assert "connection refused" in reason and east.gateway_address() in reason, reason
    finally:
        east.scale(gw.namespace, gw.name, 1)

    lab.wait_for(lambda: getattr(west.gateway(east.name), "alive", False), periods, "east's gateway to be alive again")
    lab.wait_for(lambda: west.request(url).ok, 10, "requests through the gateway to succeed again")
