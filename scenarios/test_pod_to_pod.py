"""Pod-to-pod multicluster (Linkerd 2.14+): on a flat network the client's proxy dials the exporting
cluster's pods itself, over mTLS, and never the gateway; the server sees the client's own identity, so
east's authorization policy can name west's workloads; from inside west's client pod (kubectl exec), a remote
pod's IP answers, and a remote scaled to zero is the client proxy's own error. Runs on a lab of
fixtures/topologies/pod-to-pod.yaml beside the scenarios' lab; the last scenario shows what happens without a
flat network."""
import base64
import copy
import http.client
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from in_pod import head, jsonpath, ok, scaled_to_zero, sh
from traffic import FD_MARGIN, REQUESTS, soak

from lab.render import manifests
from lab.parsers import metrics
from lab import names
from lab.sim.process.labprocess import sockets

TOPOLOGY = Path(__file__).resolve().parent.parent / "fixtures" / "topologies" / "pod-to-pod.yaml"


@pytest.fixture(scope="module")
def flat(lab):
    with lab.topology(TOPOLOGY, "p2p") as other:
        yield other


def _stranger(ns: str) -> list[dict]:
    """A second meshed curl pod in west, under a service account east's policy does not name."""
    labels = {"app": "stranger"}
    return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "stranger", "namespace": ns}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stranger", "namespace": ns, "labels": labels},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels},
                                   "spec": {"serviceAccountName": "stranger",
                                            "containers": [{"name": "stranger", "image": "curlimages/curl:8.10.1",
                                                            "command": ["sleep", "infinity"]}]}}}}]


def test_the_mirror_has_no_endpoints_and_traffic_bypasses_the_gateway(flat):
    east, west, ns = flat.cluster("east"), flat.cluster("west"), flat.cfg.namespace
    mirror = west.get("Service", ns, "foobar-east")
    assert mirror["metadata"]["labels"][names.REMOTE_DISCOVERY_LABEL] == "east"
    assert west.get("Endpoints", ns, "foobar-east") is None
    through_gateway = sum(east.gateway_metrics().clients().values())
    for _ in range(20):
        result = west.request(flat.mirror_url("foobar", "east"))
        assert result.ok and "foobar in east" in result.body, result.describe()
    assert sum(east.gateway_metrics().clients().values()) == through_gateway
    served = metrics.inbound_client_ids(east.proxy_metrics("foobar", ns))
    assert served[flat.identity("client")] >= 20, served


def test_on_a_flat_network_a_remote_pod_ip_answers_and_a_scaled_to_zero_remote_is_the_clients_proxy_error(flat):
    east, west, ns = flat.cluster("east"), flat.cluster("west"), flat.cfg.namespace
    pod_ip = jsonpath(east, flat, "pods", "-l", "app=foobar", "-o", "jsonpath={.items[0].status.podIP}")
    assert east.name in ok(sh(west, flat, f"curl -s {pod_ip}:9898 | grep message"))
    assert east.name in ok(sh(west, flat, f"curl -s foobar-{east.name}:9898 | grep message"))
    status, headers = head(scaled_to_zero(flat, east, west, lambda: sh(west, flat, f"curl -s -i -m 20 foobar-{east.name}:9898")))
    assert status in ("502", "503", "504"), (status, headers)
    assert headers.get("l5d-proxy-error"), headers


def test_thousands_of_pod_to_pod_requests_leave_no_sockets_behind(flat):
    """Each request looks its endpoint up through the link's credentials; the connection to east's pod is
    pooled like any other, so the lab process's open files and memory stay flat."""
    east, west, ns = flat.cluster("east"), flat.cluster("west"), flat.cfg.namespace
    pid = flat.backend.provider.lab_process()
    if pid is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to watch")
    through_gateway = sum(east.gateway_metrics().clients().values())
    statuses, files_added, mib_added = soak(flat.backend.provider, pid, "west", ns,
                                          f"http://{urlsplit(flat.mirror_url('foobar', 'east')).netloc}/")
    assert statuses.count(200) == REQUESTS, f"{REQUESTS - statuses.count(200)} failed: {set(statuses)}"
    assert files_added <= FD_MARGIN, f"the lab process holds {files_added} more open files after {REQUESTS} requests"
    assert mib_added < 50, f"the lab process grew by {mib_added:.0f} MiB"
    assert sum(east.gateway_metrics().clients().values()) == through_gateway


def test_east_policy_admits_wests_client_and_refuses_another_account(flat):
    east, west, ns = flat.cluster("east"), flat.cluster("west"), flat.cfg.namespace
    west.apply(*_stranger(ns))
    flat.wait_for(lambda: (d := west.get("Deployment", ns, "stranger")) and d.get("status", {}).get("readyReplicas"),
                  30, "the stranger pod in west")
    policy = [
        {"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server", "metadata": {"name": "foobar-http", "namespace": ns},
         "spec": {"podSelector": {"matchLabels": {"app": "foobar"}}, "port": 9898}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
         "metadata": {"name": "west-client", "namespace": ns}, "spec": {"identities": [flat.identity("client")]}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "AuthorizationPolicy",
         "metadata": {"name": "foobar-from-west", "namespace": ns},
         "spec": {"targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "foobar-http"},
                  "requiredAuthenticationRefs": [{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication",
                                                  "name": "west-client"}]}},
    ]
    east.apply(*policy)
    try:
        url = flat.mirror_url("foobar", "east")
        flat.wait_for(lambda: west.request(url, deployment="stranger").status == 403, 10, "east to refuse the stranger")
        admitted = west.request(url)
        assert admitted.ok and "foobar in east" in admitted.body, admitted.describe()
        refused = west.request(url, deployment="stranger")
        assert refused.status == 403, refused.describe()
        # foobar's proxy logs whom it refused as linkerd2-proxy's inbound policy does (policy/http.rs, v2.366.0)
        stranger = flat.identity("stranger")
        if flat.cfg.profile.proxy_error_headers:
            log = east.kubectl("-n", ns, "logs", "deploy/foobar", "-c", "linkerd-proxy").stdout
            denied = [line for line in log.splitlines() if "Request denied" in line]
            assert denied and "server.kind=server server.name=foobar-http route.group= route.kind=default " \
                "route.name=default" in denied[-1] and f'client_id: Some(ClientId(Dns(Name("{stranger}"))))' in denied[-1], log
    finally:
        for obj in reversed(policy):
            east.delete(obj["kind"], ns, obj["metadata"]["name"])
    assert west.request(url, deployment="stranger").ok


def _policy_admitting_only_client(lab, ns: str) -> list[dict]:
    """east's foobar port 9898 admits west's `client` only (Server, MeshTLSAuthentication, AuthorizationPolicy)."""
    return [
        {"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server", "metadata": {"name": "foobar-http", "namespace": ns},
         "spec": {"podSelector": {"matchLabels": {"app": "foobar"}}, "port": 9898}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
         "metadata": {"name": "only-client", "namespace": ns}, "spec": {"identities": [lab.identity("client")]}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "AuthorizationPolicy",
         "metadata": {"name": "foobar-from-client", "namespace": ns},
         "spec": {"targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": "foobar-http"},
                  "requiredAuthenticationRefs": [{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication",
                                                  "name": "only-client"}]}},
    ]


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports the lab process listens on: its sockets (/proc/<pid>/fd) in LISTEN state (0A) in
    /proc/<pid>/net/tcp{,6}."""
    inodes = sockets(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _plaintext_get(port: int, host: str) -> tuple[int | None, str]:
    """A GET from this test process (no pod, no identity) to 127.0.0.1:port: (status or None, body)."""
    status, body, _ = _plaintext_response(port, host)
    return status, body


def _plaintext_response(port: int, host: str) -> tuple[int | None, str, dict]:
    """(status or None, body, headers in lower case) of a GET from this test process to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace"), {k.lower(): v for k, v in response.getheaders()}
    except (ConnectionError, http.client.HTTPException, socket.timeout, OSError):
        return None, "", {}
    finally:
        conn.close()


def test_only_the_pod_speaks_as_the_pod_and_its_app_answers_only_under_the_mesh_policy(flat):
    """Every socket the lab process listens on, tried from this test process (not a pod): none is a door into
    a pod's proxy's outbound side (which would send on as that pod, with its identity), and east's foobar
    answers on its app port only as its proxy's policy allows an unauthenticated client. With a policy
    admitting only west's `client`, `client` gets through, another pod and this process are both refused."""
    east, west, ns = flat.cluster("east"), flat.cluster("west"), flat.cfg.namespace
    pid = flat.backend.provider.lab_process()
    if pid is None or not os.path.isdir(f"/proc/{pid}/fd"):
        pytest.skip("needs the simulation's lab process on this machine to look at")
    west.apply(*_stranger(ns))
    flat.wait_for(lambda: (d := west.get("Deployment", ns, "stranger")) and d.get("status", {}).get("readyReplicas"),
                  30, "the stranger pod in west")
    url = flat.mirror_url("foobar", "east")
    mesh_host = urlsplit(url).netloc
    foobar = east.list("Pod", ns, {"app": "foobar"})[0]
    pod_name, pod_ip = foobar["metadata"]["name"], foobar["status"]["podIP"]
    sockets = {port: flat.backend.provider.host_address(pod_ip, port) for port in (9898, 4143, 4191, 4140)}
    assert sockets[4140] is None, "a pod's outbound side must not be reachable at its pod IP"
    app, inbound, admin = sockets[9898][1], sockets[4143][1], sockets[4191][1]
    listening = _listening_ports(pid)
    assert {app, inbound, admin} <= listening, (sockets, sorted(listening))

    # Default policy (all-unauthenticated): the app answers, through the proxy's inbound side.
    assert _plaintext_get(app, "foobar")[0] == 200
    east.apply(*_policy_admitting_only_client(flat, ns))
    try:
        flat.wait_for(lambda: west.request(url, deployment="stranger").status == 403, 10, "east to refuse the stranger")
        admitted = west.request(url)
        assert admitted.ok and pod_name in admitted.body, admitted.describe()
        assert west.request(url, deployment="stranger").status == 403
        status, body, headers = _plaintext_response(app, "foobar")
        assert status == 403, f"foobar's app port answered a process outside the mesh: {status} {body[:200]}"
        # informational headers go to meshed peers only (linkerd/app/inbound/src/http/server.rs, v2.366.0)
        assert "l5d-proxy-error" not in headers, headers
        # No socket of the lab process, whatever it is, speaks to foobar for this process: a pod's outbound
        # side would (as that pod, with its identity); foobar's own ports refuse it (403, or no TLS client).
        for port in sorted(listening):
            status, body = _plaintext_get(port, mesh_host)
            assert not (status == 200 and pod_name in body), f"127.0.0.1:{port} let this process reach {pod_name} as a pod"
        assert _plaintext_get(inbound, mesh_host)[0] is None  # mTLS only: no HTTP for a plaintext client
        assert _plaintext_get(admin, mesh_host)[0] == 404  # the proxy's admin side, not the app
    finally:
        for obj in reversed(_policy_admitting_only_client(flat, ns)):
            east.delete(obj["kind"], ns, obj["metadata"]["name"])
        flat.wait_for(lambda: _plaintext_get(app, "foobar")[0] == 200, 10, "the default policy to admit this process again")


def test_without_a_flat_network_a_pod_to_pod_export_cannot_be_reached(lab, west, east):
    """The scenarios' lab links through gateways only: its clusters' pods cannot reach each other, as two
    kind clusters without routes between their pod CIDRs. Marking foobar for pod-to-pod there mirrors it
    (the Link's remoteDiscoverySelector is link-gen's default), and the client's requests then fail."""
    if not lab.cfg.profile.link_crd or "remote-discovery" not in lab.cfg.profile.modes:
        pytest.skip(f"{lab.cfg.profile.linkerd} has no pod-to-pod mode")
    if lab.cfg.cluster(west.name).network is not None and lab.cfg.cluster(west.name).network == lab.cfg.cluster(east.name).network:
        pytest.skip("this lab's clusters share a flat network")
    ns = lab.cfg.namespace
    field, marks = manifests.export_marks(lab.cfg, east.name)
    key = next(iter(names.REMOTE_DISCOVERY_SELECTOR))
    east.set_metadata("Service", ns, "foobar", "labels", dict(names.REMOTE_DISCOVERY_SELECTOR))
    try:
        lab.wait_for(lambda: west.get("Endpoints", ns, f"foobar-{east.name}") is None, 10, "the mirror to lose its gateway endpoints")
        result = west.request(lab.mirror_url("foobar", east.name))
        assert result.status == lab.cfg.profile.failfast_status, result.describe()  # nothing it can connect to
    finally:
        east.set_metadata("Service", ns, "foobar", field, {key: marks[key]})
        lab.wait_for(lambda: west.request(lab.mirror_url("foobar", east.name)).ok, 15, "traffic through the gateway again")


def test_the_destination_controller_rereads_credentials_only_when_their_secret_is_recreated(flat):
    """The destination controller watches a linked cluster with the kubeconfig of its remote-kubeconfig
    Secret in `linkerd`, and handles that Secret's creation and deletion only, not its update (edge-26.8.3
    controller/api/destination/watcher/cluster_store.go): new credentials written into the same Secret are
    not used; a recreated Secret is. Here the new credentials are refused ones, so the difference shows."""
    west = flat.cluster("west")
    url = flat.mirror_url("foobar", "east")
    name = manifests.credentials_secret_name("east")
    original = west.get("Secret", names.LINKERD_NS, name)
    refused = _fresh(original)
    kubeconfig = yaml.safe_load(base64.b64decode(refused["data"]["kubeconfig"]))
    kubeconfig["users"][0]["user"]["token"] = "not-a-token"
    refused["data"]["kubeconfig"] = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
    try:
        west.apply(refused)  # an update: the running watch keeps the credentials it started with
        flat.backend.provider.settle()
        for _ in range(10):
            result = west.request(url)
            assert result.ok, result.describe()
        west.delete("Secret", names.LINKERD_NS, name)
        west.apply(refused)  # recreated: a new watch, with the refused token
        flat.wait_for(lambda: west.request(url).status == flat.cfg.profile.failfast_status, 15,
                      "pod-to-pod requests to fail with the refused credentials")
    finally:
        west.delete("Secret", names.LINKERD_NS, name)
        west.apply(_fresh(original))
        flat.wait_for(lambda: west.request(url).ok, 15, "pod-to-pod requests with the original credentials again")


def test_a_cluster_the_destination_controller_could_not_add_stays_unused_until_its_secret_is_recreated(flat):
    """When a remote-kubeconfig Secret appears, the destination controller first asks the linked cluster
    whether its account may list pods and servers there (edge-26.8.3 controller/k8s/api.go initAPI); when it
    may not, the controller logs the error and never tries that Secret again (cluster_store.go has no retry
    and no update handler). Access granted afterwards changes nothing until the Secret is recreated."""
    east, west = flat.cluster("east"), flat.cluster("west")
    url = flat.mirror_url("foobar", "east")
    account = "west" if flat.cfg.installer == "helm" else names.REMOTE_ACCESS_SA  # whose token the Secret holds
    role = east.get("ClusterRole", "", account)
    narrowed = _fresh(role)
    for rule in narrowed["rules"]:
        rule["resources"] = [r for r in rule["resources"] if r != "pods"]
    secret = manifests.credentials_secret_name("east")
    original = west.get("Secret", names.LINKERD_NS, secret)

    def recreate_secret():
        west.delete("Secret", names.LINKERD_NS, secret)
        west.apply(_fresh(original))

    failfast = flat.cfg.profile.failfast_status
    try:
        east.apply(narrowed)
        recreate_secret()  # added again, and refused: the account may not list pods
        flat.wait_for(lambda: west.request(url).status == failfast, 15, "pod-to-pod requests to fail without access")
        logs = west.kubectl("-n", names.LINKERD_NS, "logs", "deploy/linkerd-destination", "-c", "destination")
        assert "Error adding cluster east to store: not authorized to access pods" in logs.stdout, logs.stdout[-2000:]
        east.apply(_fresh(role))
        flat.backend.provider.settle()
        result = west.request(url)
        assert result.status == failfast, f"access restored, the same Secret was tried again: {result.describe()}"
        recreate_secret()
        flat.wait_for(lambda: west.request(url).ok, 15, "pod-to-pod requests once the Secret is recreated")
    finally:
        east.apply(_fresh(role))
        if west.get("Secret", names.LINKERD_NS, secret) is None:
            west.apply(_fresh(original))


def _fresh(obj: dict) -> dict:
    """An object read from the API as a manifest that creates or replaces it."""
    out = copy.deepcopy(obj)
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        out["metadata"].pop(key, None)
    return out
