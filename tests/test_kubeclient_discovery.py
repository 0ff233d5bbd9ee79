"""The lab's KubeClient finds kinds as kubectl does: a kind its discovery, fetched during this very call, does
not hold is not there (no second fetch), and a kind a CRD adds later is found by the next call."""

import json
import threading

import pytest

from lab import steps
from lab.errors import LabError
from lab.kubeclient import KubeClient

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 1}}


@pytest.fixture(scope="module")
def clusters(module_sim_lab):
    """One lab up to its clusters for this file's tests: each lab is a process, and about a second of CPU.
    Each test keeps to a namespace of its own and to CRDs of API groups no other test here uses."""
    steps.up(module_sim_lab, until="clusters")
    return module_sim_lab


@pytest.fixture
def namespace(clusters, test_namespace):
    """A new namespace in east for this test's objects, deleted with them afterwards."""
    name = test_namespace
    clusters.backend.kube.apply("east", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
    yield name
    clusters.backend.kube.delete("east", "Namespace", "", name)


def _paths_asked(client: KubeClient) -> list[str]:
    """The paths the client asks from now on, in order (its discovery's requests and its verbs' alike)."""
    paths: list[str] = []
    request = client.dynamic.request

    def counted(method, path, *args, **kwargs):
        paths.append(path)
        return request(method, path, *args, **kwargs)

    client.dynamic.request = counted
    return paths


def test_a_fresh_miss_is_final_and_a_crd_added_later_is_found(clusters, namespace, tmp_path):
    ns = namespace
    widget = {**WIDGET, "metadata": {"name": "w", "namespace": ns}}
    provider = clusters.backend.provider
    client = KubeClient(provider.kubeconfig_path(), "kind-east", tmp_path / "discovery.json")
    paths = _paths_asked(client)
    assert client.get("Widget", ns, "w") is None
    assert "/apis" not in paths, f"discovery fetched again right after it was fetched: {paths}"
    try:
        client.apply([widget])
    except LabError as exc:
        assert "does not serve" in str(exc)
    else:
        raise AssertionError("a Widget was applied with no CRD serving it")

    client.apply([WIDGET_CRD])
    paths.clear()
    assert client.apply([widget]) == ["Widget/w"], "the kind the CRD added was not found"
    assert "/apis" in paths, "a kind missing from discovery fetched earlier must refresh it"
    # as kubectl refreshes it from a 1.37 server: the two aggregated documents, which hold every group version's
    # resources, then the object; never one request per group version
    assert [p.lstrip("/") for p in paths] == ["api", "apis", f"apis/example.com/v1/namespaces/{ns}/widgets"], paths
    # A kind looked up by its name alone (get, list) in a group a CRD added since: the same two requests.
    sprockets = {"plural": "sprockets", "singular": "sprocket", "kind": "Sprocket", "listKind": "SprocketList"}
    client.apply([{**WIDGET_CRD, "metadata": {"name": "sprockets.example.net"},
                   "spec": {**WIDGET_CRD["spec"], "group": "example.net", "names": sprockets}}])
    assert client.list("Widget", ns)  # a search by kind alone: every group's resources are now known
    paths.clear()
    assert client.list("Sprocket", ns) == []
    assert [p.lstrip("/") for p in paths] == ["api", "apis", f"apis/example.net/v1/namespaces/{ns}/sprockets"], paths
    # A second CRD in a group and version the client knows: its new kind is found.
    doohickeys = {"plural": "doohickeys", "singular": "doohickey", "kind": "Doohickey", "listKind": "DoohickeyList"}
    client.apply([{**WIDGET_CRD, "metadata": {"name": "doohickeys.example.com"}, "spec": {**WIDGET_CRD["spec"], "names": doohickeys}}])
    paths.clear()
    assert client.apply([{**widget, "kind": "Doohickey", "metadata": {"name": "d", "namespace": ns}}]) == ["Doohickey/d"]
    assert [p.lstrip("/") for p in paths] == ["api", "apis", f"apis/example.com/v1/namespaces/{ns}/doohickeys"], paths
    assert client.get("Widget", ns, "w")["spec"] == {"size": 1}
    assert (tmp_path / "discovery.json").exists(), "the discovery cache is written for the next command"

    # A CRD and an object of its kind in one apply, as the client's first call: the object finds its kind.
    # (A group the client's first discovery did not list.)
    names = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"}
    crd = {**WIDGET_CRD, "metadata": {"name": "gadgets.example.org"},
           "spec": {**WIDGET_CRD["spec"], "group": "example.org", "names": names}}
    gadget = {**widget, "apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": ns}}
    fresh = KubeClient(provider.kubeconfig_path(), "kind-east", tmp_path / "fresh.json")
    assert fresh.apply([crd, gadget]) == ["CustomResourceDefinition/gadgets.example.org", "Gadget/g"]


def test_a_server_without_aggregated_discovery_is_read_from_its_plain_lists(sim_lab_of, tmp_path):
    """seed-2.8's Kubernetes 1.18 answers kubectl's aggregated request with the plain list of groups: the client
    reads that, and from then on asks as the official client does, the list of groups and the one group
    version a new kind is in."""
    with sim_lab_of(profile="seed-2.8") as old:
        steps.up(old, until="clusters")
        client = KubeClient(old.backend.provider.kubeconfig_path(), "kind-east", tmp_path / "discovery.json")
        paths = _paths_asked(client)
        client.apply([WIDGET_CRD])
        paths.clear()
        assert client.apply([WIDGET]) == ["Widget/w"], "the kind the CRD added was not found"
        assert [p.lstrip("/") for p in paths] == ["apis", "apis/example.com/v1", "apis/example.com/v1/namespaces/default/widgets"], paths
        assert client.get("Widget", "default", "w")["spec"] == {"size": 1}


def test_the_api_serves_a_crd_as_it_is_now_after_each_change():
    """The catalog every request reads follows each change to a CRD: a version no longer served is gone, a
    new one is there, a deleted CRD serves nothing."""
    from lab.sim.kube.apiresources import Catalog
    from lab.sim.kube.store import ObjectStore

    store = ObjectStore()
    catalog = Catalog(store)
    store.apply(WIDGET_CRD)
    assert catalog.find("example.com", "v1", "widgets") is not None
    changed = {**WIDGET_CRD, "spec": {**WIDGET_CRD["spec"], "versions": [
        {**WIDGET_CRD["spec"]["versions"][0], "served": False, "storage": False},
        {**WIDGET_CRD["spec"]["versions"][0], "name": "v2"}]}}
    store.apply(changed)
    assert catalog.find("example.com", "v1", "widgets") is None
    assert catalog.find("example.com", "v2", "widgets") is not None
    store.delete("CustomResourceDefinition", "", "widgets.example.com")
    assert catalog.find("example.com", "v2", "widgets") is None


def test_verbs_from_several_threads_on_one_client_all_land(clusters, namespace):
    """The steps act on one cluster from several threads at once (loadbalancer beside linkerd, multicluster
    beside workloads): their verbs on the cluster's one client run side by side, while one of them installs a
    CRD and refreshes discovery, and each lands as it would alone."""
    import threading

    ns, kube = namespace, clusters.backend.kube
    # A kind and group of this test's own (Gizmo, example.edu): the other test's first look must miss its Widget,
    # and a kind looked up by its name alone must be the one this test made.
    gizmos = {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "listKind": "GizmoList"}
    crd = {**WIDGET_CRD, "metadata": {"name": "gizmos.example.edu"},
           "spec": {**WIDGET_CRD["spec"], "group": "example.edu", "names": gizmos}}
    gizmo = {**WIDGET, "apiVersion": "example.edu/v1", "kind": "Gizmo", "metadata": {"name": "w", "namespace": ns}}
    errors: list[BaseException] = []

    def maps(worker: int):
        try:
            for i in range(15):
                cm = {"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": f"w{worker}-{i}", "namespace": ns}, "data": {"i": str(i)}}
                assert kube.apply("east", [cm]) == [f"ConfigMap/w{worker}-{i}"]
                assert kube.get("east", "ConfigMap", ns, f"w{worker}-{i}")["data"] == {"i": str(i)}
                kube.set_metadata("east", "ConfigMap", ns, f"w{worker}-{i}", "labels", {"worker": str(worker)})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def gizmos_crd():
        try:
            kube.apply("east", [crd])
            assert kube.apply("east", [gizmo]) == ["Gizmo/w"]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=maps, args=(n,)) for n in range(3)] + [threading.Thread(target=gizmos_crd)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(kube.list("east", "ConfigMap", ns, {"worker": "1"})) == 15
    assert kube.get("east", "Gizmo", ns, "w") is not None


def test_an_aggregated_document_reads_as_client_go_reads_it_stale_versions_and_kindless_resources_left_out():
    """client-go's SplitGroupsAndResources: a Stale version is not there (the next one listed is preferred), a
    resource or subresource without a responseKind is dropped, and a subresource takes its parent's scope."""
    from lab.kubeclient import _aggregated_groups

    document = {"kind": "APIGroupDiscoveryList", "items": [{"metadata": {"name": "example.com"}, "versions": [
        {"version": "v2", "freshness": "Stale", "resources": [
            {"resource": "widgets", "responseKind": {"group": "example.com", "version": "v2", "kind": "Widget"}, "scope": "Namespaced"}]},
        {"version": "v1", "freshness": "Current", "resources": [
            {"resource": "widgets", "singularResource": "widget", "scope": "Namespaced", "verbs": ["get", "list"],
             "shortNames": ["wd"], "responseKind": {"group": "example.com", "version": "v1", "kind": "Widget"},
             "subresources": [{"subresource": "status", "verbs": ["get"], "responseKind": {"kind": "Widget"}},
                              {"subresource": "broken", "verbs": ["get"]}]},
            {"resource": "gizmos", "scope": "Cluster", "verbs": ["get"]}]},
        {"version": "v1beta1", "resources": []}]}]}
    assert _aggregated_groups(document) == {"example.com": {
        "v1": (True, [{"name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget", "verbs": ["get", "list"],
                       "shortNames": ["wd"]},
                      {"name": "widgets/status", "namespaced": True, "kind": "Widget", "verbs": ["get"]}]),
        "v1beta1": (False, [])}}


def test_the_next_command_finds_its_kinds_in_the_cache_this_one_wrote(clusters, tmp_path, monkeypatch):
    """The discovery cache a client writes is one the official client reads back: a client made on it (the next
    command's) finds a kind with no discovery request, from its making on."""
    from kubernetes.dynamic import DynamicClient

    kubeconfig, cache = clusters.backend.provider.kubeconfig_path(), tmp_path / "discovery.json"
    assert KubeClient(kubeconfig, "kind-east", cache).get("Namespace", "", "default") is not None
    paths: list[str] = []
    request = DynamicClient.request

    def counted(self, method, path, *args, **kwargs):
        paths.append(path)
        return request(self, method, path, *args, **kwargs)

    monkeypatch.setattr(DynamicClient, "request", counted)
    following = KubeClient(kubeconfig, "kind-east", cache)
    assert following.get("Namespace", "", "default") is not None
    assert paths == ["/api/v1/namespaces/default"], paths


def test_a_command_reading_the_cache_while_another_writes_it_never_finds_half_of_one(clusters, tmp_path):
    """`inv status` while `up` runs: each of `up`'s writes replaces the file whole, so the reader finds the old
    cache or the new one (a half-written one, the official client logs as an error and fetches discovery again)."""
    kubeconfig, cache = clusters.backend.provider.kubeconfig_path(), tmp_path / "discovery.json"
    writer = KubeClient(kubeconfig, "kind-east", cache)
    assert writer.get("Namespace", "", "default") is not None
    torn, reads, done = [], [0], threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                json.loads(cache.read_bytes())
            except ValueError as exc:
                torn.append(exc)
            reads[0] += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(60):  # each lookup of a kind nobody serves fetches discovery again and rewrites the cache
            assert writer.get("Sprocket", "default", "s") is None
    finally:
        done.set()
        reader.join()
    assert reads[0] > 60 and not torn, (reads[0], torn[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["discovery.json"]  # no temporary file left behind
