"""The simulated clusters' Kubernetes API answers as an API server does: its status codes and reasons,
RBAC, selectors, patches and watches. kubectl's own use of it is in scenarios/test_kubectl.py."""
import http.client
import json
import ssl
import threading

import pytest

from lab import steps
from lab.backends.base import wait_until
from lab.sim.kube import patches, rbac
from lab.sim.kube.apicerts import ApiCerts
from lab.sim.kube.apiserver.selectors import label_matcher
from lab.sim.kube.apiserver.status import ApiError
from lab.sim.kube.store import Gone, ObjectStore


# -- pure parts ----------------------------------------------------------------------------------
def test_label_selectors_as_kubectl_sends_them():
    match = label_matcher("app=foobar,tier!=db,env in (prod, staging),!legacy,team")
    assert match({"app": "foobar", "env": "prod", "team": "x"})
    assert not match({"app": "foobar", "env": "dev", "team": "x"})
    assert not match({"app": "foobar", "env": "prod", "team": "x", "legacy": "1"})
    assert not match({"app": "foobar", "env": "prod"})
    assert label_matcher("app=")({"app": ""}) and not label_matcher("app=")({"app": "x"})  # an empty value is valid
    with pytest.raises(ApiError) as bad:
        label_matcher("app in (a")
    assert bad.value.code == 400


def test_strategic_merge_merges_containers_by_name_and_ports_by_their_keys():
    live = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}]},
        {"name": "sidecar", "image": "s:1"}]}}}}
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app", "image": "a:2", "ports": [{"containerPort": 8080}]},
                       {"name": "sidecar", "$patch": "delete"}]}}}}
    out = patches.strategic_merge_patch(live, patch)
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    assert containers[0]["image"] == "a:2" and [p["containerPort"] for p in containers[0]["ports"]] == [80, 8080]
    service = patches.strategic_merge_patch({"spec": {"ports": [{"port": 80, "name": "a"}]}},
                                            {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
    assert service["spec"]["ports"] == [{"port": 80, "name": "a", "targetPort": 8080}]


def test_merge_patch_removes_with_null_and_json_patch_follows_rfc_6902():
    assert patches.merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}}
    doc = {"spec": {"ports": [{"name": "http", "port": 80}]}}
    out = patches.json_patch(doc, [{"op": "add", "path": "/spec/ports/-", "value": {"name": "mc-gateway", "port": 4143}},
                                   {"op": "replace", "path": "/spec/ports/0", "value": {"name": "mc-probe", "port": 80}},
                                   {"op": "test", "path": "/spec/ports/1/port", "value": 4143}])
    assert out["spec"]["ports"] == [{"name": "mc-probe", "port": 80}, {"name": "mc-gateway", "port": 4143}]
    with pytest.raises(patches.PatchError):
        patches.json_patch(doc, [{"op": "test", "path": "/spec/ports/0/port", "value": 81}])
    with pytest.raises(patches.PatchError):
        patches.json_patch(doc, [{"op": "replace", "path": "/spec/missing", "value": 1}])


def _rbac_store() -> ObjectStore:
    store = ObjectStore()
    store.apply({"kind": "ClusterRole", "metadata": {"name": "reader"}, "rules": [
        {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["linkerd-config"]}]})
    store.apply({"kind": "ClusterRoleBinding", "metadata": {"name": "reader"},
                 "roleRef": {"kind": "ClusterRole", "name": "reader"},
                 "subjects": [{"kind": "ServiceAccount", "name": "mirror", "namespace": "mc"}]})
    store.apply({"kind": "Role", "metadata": {"name": "exec", "namespace": "apps"},
                 "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]})
    store.apply({"kind": "RoleBinding", "metadata": {"name": "exec", "namespace": "apps"},
                 "roleRef": {"kind": "Role", "name": "exec"}, "subjects": [{"kind": "Group", "name": "ops"}]})
    return store


def test_rbac_allows_exactly_what_the_bindings_grant():
    store = _rbac_store()
    mirror = rbac.User.service_account("mc", "mirror")
    assert rbac.allowed(store, mirror, rbac.Request("watch", "", "services"))
    assert rbac.allowed(store, mirror, rbac.Request("get", "", "configmaps", "linkerd", "linkerd-config"))
    assert not rbac.allowed(store, mirror, rbac.Request("get", "", "configmaps", "linkerd", "other"))
    assert not rbac.allowed(store, mirror, rbac.Request("list", "", "secrets", "mc"))
    assert not rbac.allowed(store, rbac.User.service_account("mc", "other"), rbac.Request("list", "", "services"))
    ops = rbac.User("alice", ("ops", "system:authenticated"))
    assert rbac.allowed(store, ops, rbac.Request("create", "", "pods/exec", "apps", "web-0"))
    assert not rbac.allowed(store, ops, rbac.Request("create", "", "pods/exec", "default", "web-0")), "a Role is per namespace"
    assert rbac.allowed(store, rbac.User("admin", ("system:masters",)), rbac.Request("delete", "", "nodes"))
    assert rbac.forbidden_message(ops, rbac.Request("create", "", "pods/exec", "default", "web-0")) == (
        'pods "web-0" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "default"')
    assert rbac.forbidden_message(mirror, rbac.Request("list", "", "secrets", "mc")) == (
        'secrets is forbidden: User "system:serviceaccount:mc:mirror" cannot list resource "secrets" in API group "" '
        'in the namespace "mc"')


def test_rbac_rules_match_users_subresources_and_groups_as_the_api_server_does():
    """The authorizer's matching (plugin/pkg/auth/authorizer/rbac/rbac.go RuleAllows and
    pkg/apis/rbac/v1/evaluation_helpers.go at v1.32.0): a User subject names one user; a rule grants
    its resources, never their subresources, `*/log` grants that subresource of every resource and
    `pods/*` no subresource at all; verbs and API groups must both match; a rule for non-resource
    URLs grants no resource."""
    store = _rbac_store()
    store.apply({"kind": "ClusterRole", "metadata": {"name": "logs"}, "rules": [
        {"apiGroups": [""], "resources": ["*/log", "pods/*"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]})
    store.apply({"kind": "ClusterRoleBinding", "metadata": {"name": "logs"}, "roleRef": {"kind": "ClusterRole", "name": "logs"},
                 "subjects": [{"kind": "User", "name": "bob"}]})
    # a subject of no kind the authorizer knows names nobody (rbac.go appliesToUser: default false)
    store.apply({"kind": "ClusterRoleBinding", "metadata": {"name": "odd"}, "roleRef": {"kind": "ClusterRole", "name": "logs"},
                 "subjects": [{"kind": "Robot", "name": "carol"}]})
    bob, carol = rbac.User("bob", ("system:authenticated",)), rbac.User("carol", ("system:authenticated",))
    assert rbac.allowed(store, bob, rbac.Request("get", "", "pods/log", "apps", "web-0"))
    assert not rbac.allowed(store, carol, rbac.Request("get", "", "pods/log", "apps", "web-0")), "the binding names bob alone"
    assert not rbac.allowed(store, bob, rbac.Request("get", "", "pods/exec", "apps", "web-0")), "pods/* is no wildcard"
    assert not rbac.allowed(store, bob, rbac.Request("get", "", "pods", "apps", "web-0")), "*/log grants logs, not pods"
    assert rbac.allowed(store, bob, rbac.Request("patch", "apps", "deployments", "apps", "web"))
    assert not rbac.allowed(store, bob, rbac.Request("patch", "", "deployments", "apps", "web")), "another API group"
    assert not rbac.allowed(store, bob, rbac.Request("get", "apps", "deployments", "apps", "web")), "another verb"
    mirror = rbac.User.service_account("mc", "mirror")
    assert not rbac.allowed(store, mirror, rbac.Request("get", "", "services/proxy", "default", "web")), \
        "a rule on services grants no subresource of them"
    assert rbac.allowed(store, mirror, rbac.Request("get", "", "services", "default", "web"))


def test_a_watch_resumes_from_a_kept_version_and_is_told_when_it_is_too_old():
    store = ObjectStore()
    seen = []
    unsubscribe = store.subscribe(seen.append)
    store.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}})
    version = store.last_version
    store.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}, "data": {"k": "v"}})
    store.delete("ConfigMap", "x", "a")
    unsubscribe()
    assert [change[1] for change in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert [change[1] for change in store.changes_since(version)] == ["MODIFIED", "DELETED"]
    for i in range(2100):  # more changes than the history keeps
        store.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "x"}})
    with pytest.raises(Gone):
        store.changes_since(version)


# -- the server, over HTTPS ------------------------------------------------------------------------------
class Api:
    """Raw HTTPS calls as the admin (client certificate), as a token holder, or as nobody; `ns` is the namespace
    the test's own objects go to."""

    def __init__(self, port: int, certs: ApiCerts, ns: str = "default"):
        self.port, self.certs, self.ns = port, certs, ns

    def call(self, method: str, path: str, body=None, content_type="application/json", token=None, admin=True):
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        if admin and token is None:
            context.load_cert_chain(*self.certs.admin)
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
        raw = body if isinstance(body, bytes) else json.dumps(body) if body is not None else None
        conn.request(method, path, body=raw, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data) if data.startswith(b"{") else data.decode()


def _api_up_to(sim_lab, until: str) -> Api:
    steps.up(sim_lab, until=until)
    backend = sim_lab.backend
    port = backend.provider.rpc("GET", "health")["kubeapi"]["east"]
    return Api(port, ApiCerts.of(backend.provider.sim_dir, "east"))


@pytest.fixture(scope="module")
def shared(module_sim_lab):
    """(lab, its east's API): one lab with the multicluster extension installed (its remote-access account is
    what some tests use) for this file's tests that leave it as they found it: each writes only to a namespace
    of its own (the `api` fixture), or adds objects no other test looks at; a test that deletes the account's
    token has a lab of its own (`own_api`)."""
    return module_sim_lab, _api_up_to(module_sim_lab, "multicluster")


@pytest.fixture
def shared_lab(shared):
    return shared[0]


@pytest.fixture
def api(shared, test_namespace):
    """East's API of the shared lab, with a new namespace (`api.ns`) for this test's objects, deleted with
    them afterwards."""
    base = shared[1]
    ns = test_namespace
    status, body = base.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    assert status == 201, body
    yield Api(base.port, base.certs, ns)
    assert base.call("DELETE", f"/api/v1/namespaces/{ns}")[0] == 200


@pytest.fixture
def own_api(sim_lab):
    """East's API, with the multicluster extension installed, on a lab of this test's own: for a test that
    deletes the remote-access account's token, which the shared lab's other tests read."""
    return _api_up_to(sim_lab, "multicluster")


def _cm(ns: str, **metadata) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": ns, **metadata}, "data": {"k": "v"}}


def test_the_api_answers_with_the_api_servers_codes_and_reasons(api):
    # No credentials is system:anonymous, whom RBAC refuses (403), as a kind cluster's API server does; it
    # may read its version and health (system:public-info-viewer), not discovery. A bad token is 401.
    status, body = api.call("GET", "/api/v1/namespaces", admin=False)
    assert (status, body["message"]) == (403, 'namespaces is forbidden: User "system:anonymous" cannot list resource '
                                               '"namespaces" in API group "" at the cluster scope')
    assert api.call("GET", "/version", admin=False)[0] == 200
    status, body = api.call("GET", "/api", admin=False)
    assert (status, body["message"]) == (403, 'forbidden: User "system:anonymous" cannot get path "/api"')
    assert api.call("GET", "/api/v1/namespaces", token="not-a-token", admin=False)[0] == 401
    cm, at = _cm(api.ns), f"/api/v1/namespaces/{api.ns}/configmaps"
    status, body = api.call("GET", f"{at}/probe")
    assert (status, body["reason"], body["kind"]) == (404, "NotFound", "Status") and body["message"] == 'configmaps "probe" not found'
    assert api.call("POST", at, cm)[0] == 201
    status, body = api.call("POST", at, cm)
    assert (status, body["reason"]) == (409, "AlreadyExists")
    stale = _cm(api.ns, resourceVersion="1")
    status, body = api.call("PUT", f"{at}/probe", stale)
    assert (status, body["reason"]) == (409, "Conflict") and "the object has been modified" in body["message"]
    status, body = api.call("POST", "/api/v1/namespaces/nowhere/configmaps", {**cm, "metadata": {"name": "x"}})
    assert (status, body["message"]) == (404, 'namespaces "nowhere" not found')
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": api.ns},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    status, body = api.call("POST", f"/apis/apps/v1/namespaces/{api.ns}/deployments", bad)
    assert (status, body["reason"]) == (422, "Invalid") and "`selector` does not match template `labels`" in body["message"]
    status, body = api.call("PATCH", f"{at}/probe", {"data": {"k": None, "j": "w"}},
                            content_type="application/merge-patch+json")
    assert status == 200 and body["data"] == {"j": "w"}
    assert api.call("DELETE", f"{at}/probe")[0] == 200
    assert api.call("GET", "/apis/metallb.io/v1beta1/ipaddresspools")[0] == 200, "served once its CRD is applied"
    assert api.call("GET", "/apis/getambassador.io/v3alpha1/mappings")[0] == 404, "not served without its CRD"


def test_protobuf_bodies_are_read_for_kubectl_create_kinds_and_refused_with_the_fix_otherwise(api):
    from lab.sim.wire.protowire import field_bytes

    protobuf = "application/vnd.kubernetes.protobuf"

    def body(api_version: str, kind: str, message: bytes) -> bytes:
        return b"k8s\x00" + field_bytes(1, field_bytes(1, api_version.encode()) + field_bytes(2, kind.encode())) \
            + field_bytes(2, message)

    meta = field_bytes(1, field_bytes(1, b"pb") + field_bytes(4, b""))  # name, and an empty selfLink as gogo writes it
    entry = field_bytes(2, field_bytes(1, b"k") + field_bytes(2, b"v"))
    status, created = api.call("POST", f"/api/v1/namespaces/{api.ns}/configmaps", body("v1", "ConfigMap", meta + entry),
                               content_type=protobuf)
    assert (status, created["metadata"]["name"], created["data"]) == (201, "pb", {"k": "v"}), created
    unknown = field_bytes(1, field_bytes(1, b"pb2") + field_bytes(16, b"x"))  # a field kubectl create never sets
    status, refused = api.call("POST", f"/api/v1/namespaces/{api.ns}/configmaps", body("v1", "ConfigMap", unknown),
                               content_type=protobuf)
    assert status == 415 and "field 16 of ObjectMeta" in refused["message"] and "kubectl apply -f" in refused["message"]
    rule = field_bytes(2, field_bytes(1, b"get") + field_bytes(2, b"") + field_bytes(3, b"pods"))
    status, created = api.call("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{api.ns}/roles",
                               body("rbac.authorization.k8s.io/v1", "Role", meta + rule), content_type=protobuf)
    assert (status, created["rules"]) == (201, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]), created
    assert api.call("DELETE", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{api.ns}/roles/pb")[0] == 200
    status, refused = api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                               body("apiextensions.k8s.io/v1", "CustomResourceDefinition", meta), content_type=protobuf)
    assert status == 415 and "CustomResourceDefinition" in refused["message"] and "kubectl apply -f" in refused["message"]


def test_protobuf_fields_read_as_json_carries_them():
    """Hand-built bodies: pointer zero against unset, IntOrString's two forms, Time and MicroTime, a map of
    quantities, and a field number the k8s.io/api v0.32.3 schema does not have, refused with its number."""
    from lab.sim.kube import protobodies
    from lab.sim.wire.protowire import field_bytes, field_varint

    def decode(group, version, kind, message):
        api_version = f"{group}/{version}" if group else version
        return protobodies.decode(b"k8s\x00" + field_bytes(1, field_bytes(1, api_version.encode())
                                                            + field_bytes(2, kind.encode())) + field_bytes(2, message),
                                  group, version, kind)

    meta = field_bytes(1, field_bytes(1, b"x"))
    assert decode("", "v1", "ConfigMap", meta + field_varint(4, 0))["immutable"] is False  # *bool, set to false
    assert "immutable" not in decode("", "v1", "ConfigMap", meta)
    assert "minReadySeconds" not in decode("apps", "v1", "Deployment", meta + field_bytes(2, field_varint(5, 0)))["spec"]
    ports = field_bytes(1, field_varint(3, 80) + field_bytes(4, field_varint(1, 0) + field_varint(2, 8080))) \
        + field_bytes(1, field_varint(3, 81) + field_bytes(4, field_varint(1, 1) + field_bytes(3, b"web")))
    spec = decode("", "v1", "Service", meta + field_bytes(2, ports))["spec"]
    assert spec["ports"] == [{"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": "web"}]
    stamp = field_bytes(8, field_varint(1, 1_700_000_000))
    assert decode("", "v1", "ConfigMap", field_bytes(1, field_bytes(1, b"x") + stamp))["metadata"] == \
        {"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z"}
    lease = decode("coordination.k8s.io", "v1", "Lease",
                   meta + field_bytes(2, field_bytes(3, field_varint(1, 1_700_000_000) + field_varint(2, 123_456_000))))
    assert lease["spec"] == {"acquireTime": "2023-11-14T22:13:20.123456Z"}
    limits = field_bytes(1, field_bytes(1, b"cpu") + field_bytes(2, field_bytes(1, b"500m"))) \
        + field_bytes(1, field_bytes(1, b"memory") + field_bytes(2, field_bytes(1, b"64Mi")))
    pod = decode("", "v1", "Pod", meta + field_bytes(2, field_bytes(2, field_bytes(1, b"c") + field_bytes(8, limits))))
    assert pod["spec"]["containers"] == [{"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]
    with pytest.raises(protobodies.Unreadable, match="field 99 of ServiceSpec"):
        decode("", "v1", "Service", meta + field_bytes(2, field_varint(99, 1)))
    with pytest.raises(protobodies.Unreadable, match="field 16 of ObjectMeta"):
        decode("", "v1", "Secret", field_bytes(1, field_bytes(16, b"")))
    fixed = bytes([3 << 3 | 1]) + b"\x00" * 8  # a double in field 3: never dropped unseen
    with pytest.raises(protobodies.Unreadable, match="field 3 has a fixed-width wire type.* of ServiceSpec"):
        decode("", "v1", "Service", meta + field_bytes(2, fixed))


def test_a_token_is_allowed_what_its_account_is_bound_to_and_forbidden_the_rest(shared, shared_lab):
    import base64

    api, backend = shared[1], shared_lab.backend
    secret = next(s for s in backend.kube.list("east", "Secret", "linkerd-multicluster")
                  if s.get("type") == "kubernetes.io/service-account-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert api.call("GET", "/api/v1/services", token=token)[0] == 200
    status, body = api.call("GET", "/api/v1/namespaces/linkerd-multicluster/secrets", token=token)
    assert (status, body["reason"]) == (403, "Forbidden")
    assert api.call("GET", "/api/v1/services", token="not-a-token", admin=False)[0] == 401


def _watch(api, query: str, count: int, events: list) -> threading.Thread:
    def watch():
        context = ssl.create_default_context(cafile=str(api.certs.ca))
        context.load_cert_chain(*api.certs.admin)
        conn = http.client.HTTPSConnection("127.0.0.1", api.port, context=context, timeout=10)
        conn.request("GET", f"/api/v1/namespaces/{api.ns}/configmaps?watch=true&timeoutSeconds=5&{query}")
        response = conn.getresponse()
        while len(events) < count:
            line = response.fp.readline()
            if not line:
                break
            if line.strip() and not line.strip().isalnum():  # chunk sizes are hex digits alone on a line
                events.append(json.loads(line))
        conn.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_a_watch_streams_changes_after_the_lists_version(api):
    _, listed = api.call("GET", f"/api/v1/namespaces/{api.ns}/configmaps")
    events: list = []
    watcher = _watch(api, f"resourceVersion={listed['metadata']['resourceVersion']}", 2, events)
    api.call("POST", f"/api/v1/namespaces/{api.ns}/configmaps", _cm(api.ns))
    api.call("DELETE", f"/api/v1/namespaces/{api.ns}/configmaps/probe")
    watcher.join(15)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "probe"), ("DELETED", "probe")]


def test_an_object_leaving_a_watched_selector_is_deleted_for_that_watch(api):
    labelled = _cm(api.ns, labels={"app": "x"})
    api.call("POST", f"/api/v1/namespaces/{api.ns}/configmaps", labelled)
    _, listed = api.call("GET", f"/api/v1/namespaces/{api.ns}/configmaps?labelSelector=app%3Dx")
    events: list = []
    watcher = _watch(api, f"labelSelector=app%3Dx&resourceVersion={listed['metadata']['resourceVersion']}", 2, events)
    merge = "application/merge-patch+json"
    api.call("PATCH", f"/api/v1/namespaces/{api.ns}/configmaps/probe", {"metadata": {"labels": {"app": "y"}}}, merge)
    api.call("PATCH", f"/api/v1/namespaces/{api.ns}/configmaps/probe", {"metadata": {"labels": {"app": "x"}}}, merge)
    watcher.join(15)
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


def test_an_informer_keeps_its_open_watch_after_revocation_and_is_refused_at_the_next_request(own_api, sim_lab):
    """As client-go's reflector meets an API server: credentials are checked once per request, so a watch
    opened before the account's token was deleted still delivers; the next watch is refused (401), and
    the cache keeps what it had. (The lab's controllers ask for 5-10 minute watches; 1-2 s here.)"""
    import asyncio
    import base64
    import time

    from lab.sim.kube.informer import SERVICES, Informer

    api, backend = own_api, sim_lab.backend
    secret = next(s for s in backend.kube.list("east", "Secret", "linkerd-multicluster")
                  if s.get("type") == "kubernetes.io/service-account-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default"}, "spec": {"ports": [{"port": 80}]}}

    async def until(predicate, what: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    async def scenario():
        lines: list[str] = []
        informer = Informer(f"https://127.0.0.1:{api.port}", token, api.certs.ca.read_text(), (SERVICES,),
                            log_line=lines.append, min_watch_timeout=1)
        try:
            await until(lambda: informer.has_synced, "the first list")
            assert informer.get("Service", "linkerd-multicluster", "linkerd-gateway") is not None and informer.error is None
            await asyncio.to_thread(backend.kube.delete, "east", "Secret", secret["metadata"]["namespace"], secret["metadata"]["name"])
            await asyncio.to_thread(backend.kube.apply, "east", [{**service, "metadata": {**service["metadata"], "name": "after-revoke"}}])
            await until(lambda: informer.get("Service", "default", "after-revoke"), "the open watch to deliver")
            await until(lambda: informer.error, "the next watch to be refused")
            assert "Unauthorized" in informer.error and any("Unauthorized" in line for line in lines)
            await asyncio.to_thread(backend.kube.apply, "east", [{**service, "metadata": {**service["metadata"], "name": "unseen"}}])
            refused = len(lines)
            await until(lambda: len(lines) > refused, "a retry, refused again")
            assert informer.get("Service", "default", "unseen") is None
            assert informer.get("Service", "default", "after-revoke") is not None, "the cache keeps what it had"
        finally:
            await informer.close()

    asyncio.run(scenario())


def test_the_labs_apply_merges_metadata_as_kubectl_apply_does(api, shared_lab):
    """Applying a manifest again keeps labels and annotations others added (a user's `kubectl label`, a
    controller's revision), and drops those its own previous apply set and this one leaves out."""
    backend = shared_lab.backend
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "merged", "namespace": api.ns, "labels": {"mine": "1", "dropped": "1"}}, "data": {"k": "v"}}
    backend.kube.apply("east", [cm])
    backend.kube.set_metadata("east", "ConfigMap", api.ns, "merged", "labels", {"theirs": "1"})
    again = {**cm, "metadata": {**cm["metadata"], "labels": {"mine": "2"}}}
    assert backend.kube.apply("east", [again]) == ["ConfigMap/merged"]
    assert backend.kube.get("east", "ConfigMap", api.ns, "merged")["metadata"]["labels"] == {"mine": "2", "theirs": "1"}
    assert backend.kube.apply("east", [again]) == [], "the same manifest again changes nothing"


def test_the_event_recorder_creates_counts_up_and_logs_a_refusal(shared, shared_lab):
    """client-go's recorder, as the simulated mirror writes its events into the linked cluster: the first
    occurrence is created, a repeat after the correlation window patches its count, and an API server's
    refusal is logged once and dropped (tools/record/event.go at v0.36.3)."""
    import asyncio
    import base64
    import time

    from lab.sim.kube import recorder

    api, backend = shared[1], shared_lab.backend
    secret = next(s for s in backend.kube.list("east", "Secret", "linkerd-multicluster")
                  if s.get("type") == "kubernetes.io/service-account-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    gateway = backend.kube.get("east", "Service", "linkerd-multicluster", "linkerd-gateway")

    def recorded() -> list[dict]:
        return [e for e in backend.kube.list("east", "Event", "linkerd-multicluster") if e["reason"] == "Probed"]

    async def scenario(monkeypatch_repeat):
        lines: list[str] = []
        allowed = recorder.EventRecorder(f"https://127.0.0.1:{api.port}", token, api.certs.ca.read_text(),
                                         "linkerd-service-mirror-east", log_line=lines.append)
        refused = recorder.EventRecorder(f"https://127.0.0.1:{api.port}", "not-a-token", api.certs.ca.read_text(),
                                         "linkerd-service-mirror-east", log_line=lines.append)
        try:
            allowed.event(gateway, "Probed", "seen")
            await allowed.flush()  # written, and the recorder holds the server's copy (what a repeat patches)
            assert recorded(), "the event"
            monkeypatch_repeat()  # the next one is a new occurrence, not the same one within the window
            allowed.event(gateway, "Probed", "seen")
            await allowed.flush()
            assert recorded() and recorded()[0]["count"] == 2, recorded()
            allowed.event(gateway, "Probed", "seen")  # two repeats before either is written: both count
            allowed.event(gateway, "Probed", "seen")
            await allowed.flush()
            assert recorded()[0]["count"] == 4, recorded()
            refused.event(gateway, "Probed", "refused")
            await until(lambda: lines, "the refusal in the log")
            assert "Server rejected event (will not retry!)" in lines[0] and "Unauthorized" in lines[0], lines
        finally:
            await allowed.close()
            await refused.close()

    async def until(predicate, what: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    def repeat_at_once():
        recorder.REPEAT_SECONDS = -1

    saved = recorder.REPEAT_SECONDS
    try:
        asyncio.run(scenario(repeat_at_once))
    finally:
        recorder.REPEAT_SECONDS = saved
    events = recorded()
    assert len(events) == 1 and events[0]["source"]["component"] == "linkerd-service-mirror-east", events
    assert events[0]["involvedObject"]["name"] == "linkerd-gateway"


def test_a_deleted_namespace_is_terminating_until_its_content_is_gone(shared):
    """The namespace's registry marks it (Terminating) and answers with it; the NamespaceLifecycle admission
    refuses new content in it, a second DELETE is a 409, and the namespace controller removes it once what it
    holds is gone: here a ConfigMap whose finalizer keeps it (and so the namespace) until a write removes it."""
    base, ns = shared[1], "terminating"
    assert base.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})[0] == 201
    at = f"/api/v1/namespaces/{ns}/configmaps"
    assert base.call("POST", at, {**_cm(ns), "metadata": {"name": "held", "namespace": ns,
                                                          "finalizers": ["example.com/hold"]}})[0] == 201
    status, body = base.call("DELETE", f"/api/v1/namespaces/{ns}")
    assert status == 200 and body["status"]["phase"] == "Terminating" and body["metadata"]["deletionTimestamp"], body
    wait_until(lambda: base.call("GET", f"{at}/held")[1]["metadata"].get("deletionTimestamp"), 10,
               "the namespace controller to mark the held ConfigMap")
    status, body = base.call("POST", at, _cm(ns))
    assert (status, body["message"]) == (403, f'configmaps "probe" is forbidden: unable to create new content in namespace '
                                              f'{ns} because it is being terminated'), body
    assert body["details"]["causes"] == [{"reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
                                          "field": "metadata.namespace"}]
    status, body = base.call("DELETE", f"/api/v1/namespaces/{ns}")
    assert (status, body["reason"]) == (409, "Conflict") and "The system is ensuring all content is removed" in body["message"]
    held = base.call("GET", f"/api/v1/namespaces/{ns}")[1]["status"]
    assert held["phase"] == "Terminating", "still held"
    # and says why, in the namespace controller's words (pkg/controller/namespace/deletion/status_condition_utils.go)
    wait_until(lambda: len(base.call("GET", f"/api/v1/namespaces/{ns}")[1]["status"].get("conditions", [])) == 5, 10,
               "the namespace controller's conditions")
    said = {c["type"]: (c["status"], c["reason"], c["message"])
            for c in base.call("GET", f"/api/v1/namespaces/{ns}")[1]["status"]["conditions"]}
    assert said["NamespaceContentRemaining"] == ("True", "SomeResourcesRemain",
                                                 "Some resources are remaining: configmaps. has 1 resource instances")
    assert said["NamespaceFinalizersRemaining"] == ("True", "SomeFinalizersRemain", "Some content in the namespace has "
                                                    "finalizers remaining: example.com/hold in 1 resource instances")
    assert said["NamespaceDeletionContentFailure"][:2] == ("False", "ContentDeleted")
    status, _ = base.call("PATCH", f"{at}/held", {"metadata": {"finalizers": None}}, content_type="application/merge-patch+json")
    assert status == 200
    wait_until(lambda: base.call("GET", f"/api/v1/namespaces/{ns}")[0] == 404, 10, "the namespace to be gone")
    assert base.call("GET", f"{at}/held")[0] == 404


def test_only_a_delete_begins_a_deletion_and_a_deletion_takes_no_new_finalizer(api):
    """deletionTimestamp is the server's: a create loses it (rest/meta.go WipeObjectMetaSystemFields), an update
    keeps the stored one whatever it sends (rest/update.go BeforeUpdate), so no patch deletes what RBAC only lets
    it patch; an object being deleted takes no new finalizer (ValidateNoNewFinalizers), and a namespace's phase
    follows its deletion (ValidateNamespaceStatusUpdate)."""
    at = f"/api/v1/namespaces/{api.ns}/configmaps"
    stamp = {"deletionTimestamp": "2020-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30}
    status, body = api.call("POST", at, {**_cm(api.ns), "metadata": {"name": "born", "namespace": api.ns, **stamp}})
    assert status == 201 and not {"deletionTimestamp", "deletionGracePeriodSeconds"} & body["metadata"].keys(), body
    status, body = api.call("PATCH", f"{at}/born", {"metadata": stamp}, content_type="application/merge-patch+json")
    assert status == 200 and "deletionTimestamp" not in body["metadata"], body
    assert api.call("GET", f"{at}/born")[0] == 200, "a patch deleted it"
    assert api.call("POST", at, {**_cm(api.ns), "metadata": {"name": "held", "namespace": api.ns, "finalizers": ["example.com/a"]}})[0] == 201
    assert api.call("DELETE", f"{at}/held")[0] == 200
    status, body = api.call("PATCH", f"{at}/held", {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}},
                            content_type="application/merge-patch+json")
    assert (status, body["message"]) == (422, 'ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers '
                                              'can be added if the object is being deleted, found new finalizers '
                                              '[]string{"example.com/b"}'), body
    status, body = api.call("PATCH", f"{at}/held", {"metadata": {"finalizers": None}}, content_type="application/merge-patch+json")
    assert status == 200 and body["metadata"]["resourceVersion"], body
    status, body = api.call("PATCH", f"/api/v1/namespaces/{api.ns}/status", {"status": {"phase": "Terminating"}},
                            content_type="application/merge-patch+json")
    assert (status, body["message"]) == (422, f'Namespace "{api.ns}" is invalid: status.phase: Invalid value: "Terminating": '
                                              "may only be 'Active' if `deletionTimestamp` is empty"), body
