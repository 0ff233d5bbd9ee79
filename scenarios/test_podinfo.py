"""podinfo's own endpoints, as tutorials use them, answered across the link as the pinned podinfo (6.7.1)
answers them: a request from west's client to east's foobar through the gateway."""
import json
import time

import pytest


@pytest.fixture
def foobar(lab, east, west):
    def get(path: str, timeout: float = 5.0):
        result = west.request(lab.mirror_url("foobar", east.name).rstrip("/") + path, timeout=timeout)
        assert result.error is None, f"{path}: {result.describe()}"
        return result
    return get


def test_version_and_info_name_the_pinned_release(foobar):
    assert json.loads(foobar("/version").body) == {"version": "6.7.1", "commit": "6b7aab8a10d6ee8b895b0a5048f4ab0966ed29ff"}
    info = json.loads(foobar("/api/info").body)
    assert info["version"] == "6.7.1" and info["color"] == "#34577c" and info["goos"] == "linux"


def test_env_lists_the_containers_environment(foobar, east):
    env = json.loads(foobar("/env").body)
    assert "PODINFO_UI_MESSAGE=foobar in " + east.name in env
    assert any(line.startswith("HOSTNAME=foobar-") for line in env), env


def test_headers_show_what_arrived_after_the_gateway(foobar):
    headers = json.loads(foobar("/headers").body)
    assert all(name == "-".join(p.capitalize() for p in name.split("-")) for name in headers), headers
    assert "Host" not in headers, "Go moves Host out of the header map"
    assert all(isinstance(values, list) for values in headers.values())


@pytest.mark.parametrize("code", [200, 404, 418, 503])
def test_status_answers_with_the_code_asked_for(foobar, code):
    result = foobar(f"/status/{code}")
    assert result.status == code and json.loads(result.body) == {"status": code}


def test_delay_waits_then_answers(foobar):
    started = time.monotonic()
    result = foobar("/delay/1", timeout=10)
    assert json.loads(result.body) == {"delay": 1} and time.monotonic() - started >= 1.0


def test_unknown_paths_get_the_routers_404(foobar):
    result = foobar("/no-such-endpoint")
    assert result.status == 404 and result.body == "404 page not found\n"
    assert foobar("/readyz/enable").status == 405, "a routed path with another method: gorilla/mux's 405"
