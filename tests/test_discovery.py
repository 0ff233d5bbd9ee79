"""Discovery and OpenAPI as a v1.32 API server serves them: aggregated discovery (apidiscovery.k8s.io v2 and
v2beta1) on /api and /apis to a client that asks for it, legacy discovery to one that does not, a 406 to one
that asks only for what is not served, and OpenAPI v3 documents listed by their hash so kubectl keeps them.
The documents' shape is checked on a catalog alone; what real kubectl and the official client do with them,
against a lab."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config
from multidict import CIMultiDict

from lab import steps
from lab.sim.kube.apiresources import Catalog
from lab.sim.kube.apiserver import discovery
from lab.sim.kube.apiserver.status import ApiError
from lab.sim.kube.store import ObjectStore

# What kubectl v1.32 sends for /api and /apis (client-go discovery/discovery_client.go, acceptDiscoveryFormats)
KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def _crd(group: str, plural: str, kind: str, versions=("v1",), **names) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List", **names},
                     "versions": [{"name": v, "served": True, "storage": i == 0, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}
                                  for i, v in enumerate(versions)]}}


def _answer(catalog: Catalog, path: str, query: dict | None = None, **headers):
    return discovery.answer(path, catalog, "v1.32.2", 6443, CIMultiDict(headers), CIMultiDict(query or {}))


# -- the documents -------------------------------------------------------------------------------------------
def test_aggregated_discovery_lists_groups_and_versions_in_the_aggregators_order_with_each_resources_fields():
    store = ObjectStore()
    catalog = Catalog(store)
    store.apply(_crd("example.com", "widgets", "Widget", ("v1alpha1", "v1", "v1beta1"), shortNames=["wd"],
                     categories=["gadgets"]))
    store.apply(_crd("aardvark.io", "burrows", "Burrow"))
    response = _answer(catalog, "/apis", Accept=KUBECTL_ACCEPT)
    assert response.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    doc = json.loads(response.body)
    assert (doc["kind"], doc["apiVersion"], doc["metadata"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2", {})
    # Built-in groups by their APIService's priority, then the CRDs' groups (priority 1000) by name
    assert [item["metadata"]["name"] for item in doc["items"]] == [
        "apps", "authentication.k8s.io", "authorization.k8s.io", "batch", "rbac.authorization.k8s.io",
        "apiextensions.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "aardvark.io", "example.com"]
    widgets = doc["items"][-1]
    assert widgets["metadata"] == {"name": "example.com", "creationTimestamp": None}
    assert [v["version"] for v in widgets["versions"]] == ["v1", "v1beta1", "v1alpha1"]  # preferred first
    assert widgets["versions"][0]["freshness"] == "Current"
    assert widgets["versions"][0]["resources"] == [{
        "resource": "widgets", "responseKind": {"group": "example.com", "version": "v1", "kind": "Widget"},
        "scope": "Namespaced", "singularResource": "widget",
        "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
        "shortNames": ["wd"], "categories": ["gadgets"],
        "subresources": [{"subresource": "status", "responseKind": {"group": "example.com", "version": "v1",
                                                                     "kind": "Widget"}, "verbs": ["get", "patch", "update"]}]}]
    apps = doc["items"][0]["versions"][0]["resources"]
    assert [r["resource"] for r in apps] == sorted(r["resource"] for r in apps)
    deployments = next(r for r in apps if r["resource"] == "deployments")
    assert deployments["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    assert deployments["categories"] == ["all"] and deployments["scope"] == "Namespaced"
    assert deployments["subresources"] == [
        {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
         "verbs": ["get", "patch", "update"]},
        {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Deployment"},
         "verbs": ["get", "patch", "update"]}]
    # Legacy /apis lists the same groups in the same order
    legacy = json.loads(_answer(catalog, "/apis").body)
    assert [g["name"] for g in legacy["groups"]] == [item["metadata"]["name"] for item in doc["items"]]
    assert legacy["groups"][-1]["preferredVersion"] == {"groupVersion": "example.com/v1", "version": "v1"}


def test_api_answers_the_legacy_group_alone_and_v2beta1_to_a_client_that_asks_only_for_it():
    catalog = Catalog(ObjectStore())
    response = _answer(catalog, "/api", Accept="application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
    assert response.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    doc = json.loads(response.body)
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    [core] = doc["items"]
    assert core["metadata"] == {"creationTimestamp": None} and [v["version"] for v in core["versions"]] == ["v1"]
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["scope"] == "Namespaced" and pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert [(s["subresource"], s["responseKind"]["kind"], s["verbs"]) for s in pods["subresources"]] == [
        ("exec", "PodExecOptions", ["create", "get"]), ("log", "Pod", ["get"]), ("status", "Pod", ["get", "patch", "update"])]
    namespaces = next(r for r in core["versions"][0]["resources"] if r["resource"] == "namespaces")
    assert namespaces["scope"] == "Cluster"


@pytest.mark.parametrize("server, served", [
    ("v1.18.2", ()), ("v1.26.3", ()), ("v1.27.0", ("v2beta1",)), ("v1.29.4", ("v2beta1",)), ("v1.30.0", ("v2", "v2beta1")),
    ("v1.37.0", ("v2", "v2beta1"))])
def test_aggregated_discovery_is_served_from_the_version_that_turned_it_on(server, served):
    """kubectl's header gets the newest aggregated version the server has: none before 1.27 (the feature gate
    was off in 1.26, beta and on in 1.27), v2beta1 until v2 came in 1.30. An older server answers the plain list,
    and refuses a client that asks only for an aggregated version it does not have, as it refuses v3."""
    catalog = Catalog(ObjectStore())
    for path, plain in (("/apis", "APIGroupList"), ("/api", "APIVersions")):
        response = discovery.answer(path, catalog, server, 6443, CIMultiDict(Accept=KUBECTL_ACCEPT), CIMultiDict())
        if not served:
            assert "apidiscovery" not in response.headers["Content-Type"] and json.loads(response.body)["kind"] == plain
        else:
            assert response.headers["Content-Type"] == f"application/json;g=apidiscovery.k8s.io;v={served[0]};as=APIGroupDiscoveryList"
            assert json.loads(response.body)["apiVersion"] == f"apidiscovery.k8s.io/{served[0]}"
    for version in ("v2", "v2beta1"):
        only = CIMultiDict(Accept=f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
        if version in served:
            assert json.loads(discovery.answer("/apis", catalog, server, 6443, only, CIMultiDict()).body)["kind"] == "APIGroupDiscoveryList"
            continue
        with pytest.raises(ApiError) as refused:
            discovery.answer("/apis", catalog, server, 6443, only, CIMultiDict())
        assert refused.value.code == 406, (server, version)


def test_a_client_that_does_not_ask_gets_legacy_discovery_and_one_that_asks_only_the_unserved_gets_406():
    catalog = Catalog(ObjectStore())
    for accept in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}, {"Accept": "application/json, */*"}):
        assert json.loads(_answer(catalog, "/apis", **accept).body)["kind"] == "APIGroupList", accept
        assert json.loads(_answer(catalog, "/api", **accept).body)["kind"] == "APIVersions", accept
    # An aggregated clause after a plain one still wins: the aggregated handler skips the clauses it cannot convert to
    later = _answer(catalog, "/apis", Accept="application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    assert json.loads(later.body)["kind"] == "APIGroupDiscoveryList"
    # A group version's list never comes aggregated; kubectl's header names plain JSON too
    assert json.loads(_answer(catalog, "/apis/apps/v1", Accept=KUBECTL_ACCEPT).body)["kind"] == "APIResourceList"
    for path in ("/api", "/apis", "/apis/apps/v1"):
        with pytest.raises(ApiError) as refused:
            _answer(catalog, path, Accept="application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList")
        assert refused.value.code == 406 and refused.value.reason == "NotAcceptable", path
        assert refused.value.message == ("only the following media types are accepted: application/json, "
                                         "application/yaml, application/vnd.kubernetes.protobuf")


def test_aggregated_discovery_has_an_etag_that_follows_the_crds_and_answers_304_while_it_holds():
    store = ObjectStore()
    catalog = Catalog(store)
    first = _answer(catalog, "/apis", Accept=KUBECTL_ACCEPT)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9A-F]{128}"', etag) and first.headers["Vary"] == "Accept"
    assert first.headers["Cache-Control"] == "public"
    again = _answer(catalog, "/apis", **{"Accept": KUBECTL_ACCEPT, "If-None-Match": etag})
    assert again.status == 304 and again.body is None and again.headers["ETag"] == etag
    # The same list whichever version is asked: the v2beta1 answer has the v2 answer's ETag
    beta = _answer(catalog, "/apis", Accept="application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")
    assert beta.headers["ETag"] == etag
    assert _answer(catalog, "/api", Accept=KUBECTL_ACCEPT).headers["ETag"] != etag  # /api is a document of its own
    store.apply(_crd("example.com", "widgets", "Widget"))
    changed = _answer(catalog, "/apis", **{"Accept": KUBECTL_ACCEPT, "If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag
    assert "example.com" in [i["metadata"]["name"] for i in json.loads(changed.body)["items"]]
    store.delete("CustomResourceDefinition", "", "widgets.example.com")
    assert _answer(catalog, "/apis", Accept=KUBECTL_ACCEPT).headers["ETag"] == etag


def test_openapi_v3_lists_each_group_version_by_its_hash_and_serves_the_hashed_url_for_good():
    store = ObjectStore()
    catalog = Catalog(store)
    index = _answer(catalog, "/openapi/v3")
    paths = json.loads(index.body)["paths"]
    url = paths["api/v1"]["serverRelativeURL"]
    path, _, query = url.partition("?")
    assert path == "/openapi/v3/api/v1" and re.fullmatch(r"hash=[0-9A-F]{128}", query), url
    document = _answer(catalog, path, {"hash": query[5:]})
    assert document.status == 200 and document.headers["ETag"] == f'"{query[5:]}"'
    assert document.headers["Cache-Control"] == "public, immutable" and document.headers["Expires"].endswith(" GMT")
    assert "fieldValidation" in document.body.decode()
    unhashed = _answer(catalog, path)
    assert unhashed.headers["ETag"] == document.headers["ETag"] and "Cache-Control" not in unhashed.headers
    stale = _answer(catalog, path, {"hash": "0" * 128})
    assert (stale.status, stale.headers["Location"]) == (301, url)
    assert _answer(catalog, path, {"hash": query[5:]}, **{"If-None-Match": document.headers["ETag"]}).status == 304
    assert _answer(catalog, "/openapi/v3", **{"If-None-Match": index.headers["ETag"]}).status == 304
    # A CRD's group version joins the index, and a new version of a document gets a new hash
    store.apply(_crd("example.com", "widgets", "Widget"))
    grown = json.loads(_answer(catalog, "/openapi/v3").body)["paths"]
    assert "apis/example.com/v1" in grown and grown["api/v1"] == paths["api/v1"]
    with pytest.raises(ApiError) as missing:
        _answer(catalog, "/openapi/v2")
    assert missing.value.code == 404


# -- real kubectl and the official client --------------------------------------------------------------------
@pytest.fixture(scope="module")
def clusters(module_sim_lab):
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed on this machine")
    steps.up(module_sim_lab, until="clusters")
    return module_sim_lab


def _kubectl(lab, cache, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Real kubectl on east, with a discovery and HTTP cache of the test's own (`--cache-dir`)."""
    env = {**os.environ, "KUBECONFIG": str(lab.backend.provider.kubeconfig_path())}
    return subprocess.run(["kubectl", "--context=kind-east", f"--cache-dir={cache}", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


def _requests(stderr: str) -> list[str]:
    """`METHOD PATH` of each request kubectl's -v=6 log reports."""
    return [f"{m[1]} {m[2]}" for m in re.finditer(r"round_trippers\.go:\d+\] (\w+) https://[^/]+(\S+) \d{3}", stderr)]


def test_kubectl_on_a_fresh_cache_discovers_in_two_requests_and_finds_a_crd_applied_after(clusters, tmp_path):
    result = _kubectl(clusters, tmp_path, "get", "pods", "-A", "-v=6")
    assert result.returncode == 0, result.stderr
    asked = [r.split("?")[0] for r in _requests(result.stderr)]
    assert asked == ["GET /api", "GET /apis", "GET /api/v1/pods"], asked  # no request per group version
    crd = _crd("fresh.example.com", "sprockets", "Sprocket")
    assert _kubectl(clusters, tmp_path, "apply", "-f", "-", stdin=json.dumps(crd)).returncode == 0
    found = _kubectl(clusters, tmp_path, "get", "sprockets", "-A")
    assert found.returncode == 0 and "No resources found" in found.stderr, found.stderr
    listed = _kubectl(clusters, tmp_path, "api-resources", "--api-group=fresh.example.com", "-o", "name")
    assert listed.stdout.split() == ["sprockets.fresh.example.com"], listed.stderr
    assert _kubectl(clusters, tmp_path, "delete", "crd", "sprockets.fresh.example.com").returncode == 0
    listed = _kubectl(clusters, tmp_path, "api-resources", "--api-group=fresh.example.com", "-o", "name")
    assert listed.returncode == 0 and listed.stdout.split() == [], listed.stdout  # api-resources discovers afresh


def test_kubectl_keeps_the_openapi_document_of_a_group_version_it_applied_to(clusters, tmp_path):
    """A second apply reads the hashed OpenAPI v3 document from kubectl's HTTP cache, with no request."""
    def apply(value: str) -> subprocess.CompletedProcess:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "openapi-cache", "namespace": "default"},
              "data": {"k": value}}
        return _kubectl(clusters, tmp_path, "apply", "-f", "-", "-v=8", stdin=json.dumps(cm))

    first, second = apply("a"), apply("b")
    assert first.returncode == 0 and "configmap/openapi-cache created" in first.stdout, first.stderr
    assert second.returncode == 0 and "configmap/openapi-cache configured" in second.stdout, second.stderr
    document = [line for line in second.stderr.splitlines() if "GET https://" in line and "/openapi/v3/api/v1?" in line]
    assert document and "hash=" in document[0], second.stderr
    # The cached answer kubectl's HTTP cache gives back is marked so; it follows the request in the log
    after = second.stderr.split(document[0], 1)[1].split("GET https://", 1)[0]
    assert "X-From-Cache: 1" in after, after


def test_the_official_client_still_reads_legacy_discovery(clusters):
    api = config.new_client_from_config(config_file=str(clusters.backend.provider.kubeconfig_path()), context="kind-east")
    try:
        assert client.CoreApi(api).get_api_versions().versions == ["v1"]
        groups = client.ApisApi(api).get_api_versions().groups
        assert groups[0].name == "apps" and any(g.name == "apiextensions.k8s.io" for g in groups)
        resources = client.CoreV1Api(api).get_api_resources().resources
        assert "pods" in [r.name for r in resources]
    finally:
        api.close()


def test_a_kubeconfig_deleted_or_damaged_is_made_again_by_the_next_call_and_kubectl_reads_it(clusters, tmp_path):
    """The lab's kubeconfig (.lab/<name>/kubeconfig) is made from the lab process's API ports and certificates;
    every kubectl run asks for it. A file the user deleted or edited is made again, never taken on trust."""
    provider = clusters.backend.provider
    path = Path(provider.kubeconfig_path())
    made = path.read_text()
    assert "kind-east" in made and oct(path.stat().st_mode & 0o777) == "0o600"
    for damage in (path.unlink, lambda: path.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")):
        damage()
        assert Path(provider.kubeconfig_path()).read_text() == made
        assert _kubectl(clusters, tmp_path, "get", "ns", "default", "-o", "name").stdout == "namespace/default\n"
