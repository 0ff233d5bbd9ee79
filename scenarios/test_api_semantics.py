"""The cluster's Kubernetes API answers writes as an API server does, seen through the official Python
client's typed API and real kubectl: bodies without a Content-Type, validation (400 for what a body cannot
decode into, 422 `Invalid` naming each field, nothing stored either way), the defaults a write gets, what
DELETE returns, server-side Tables, and a CRD's preferred version. On kind the same tests hold against a
real API server, which is what they assert."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import yaml
from official_client import client_for

NS = "api-semantics"
GROUP = "lab.example.com"


@pytest.fixture(scope="module")
def kube(lab):
    """(ApiClient, kubernetes.client) for the exporting cluster, with a namespace and a CRD of this module's own."""
    if not lab.cfg.links:
        pytest.skip("this lab has no links")
    api, client = client_for(lab.cluster(lab.cfg.links[0].target))
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    crd = _crd()
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    try:
        yield api, client
    finally:
        client.ApiextensionsV1Api(api).delete_custom_resource_definition(crd["metadata"]["name"])
        core.delete_namespace(NS)
        api.close()


def _crd() -> dict:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "required": ["mode"],
        "properties": {"replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                       "mode": {"type": "string", "enum": ["fast", "slow"]},
                       "size": {"type": "string", "pattern": "^[0-9]+[MG]i$"},
                       "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
    columns = [{"name": "Mode", "type": "string", "jsonPath": ".spec.mode"},
               {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]
    versions = [{"name": v, "served": True, "storage": v == "v1beta1", "schema": {"openAPIV3Schema": schema},
                 "additionalPrinterColumns": columns} for v in ("v1alpha1", "v1beta1")]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced", "versions": versions,
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}}}


def _error(exc) -> dict:
    return json.loads(exc.body)


# -- typed client: create, read, patch three ways, delete -----------------------------------------------
def test_the_typed_client_creates_reads_patches_and_deletes_a_config_map(kube):
    api, client = kube
    core = client.CoreV1Api(api)
    made = core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"),
                                                                    data={"a": "1"}))
    assert made.metadata.uid and made.data == {"a": "1"}
    assert core.read_namespaced_config_map("cm", NS).data == {"a": "1"}
    assert core.patch_namespaced_config_map("cm", NS, {"data": {"b": "2"}}).data == {"a": "1", "b": "2"}  # strategic
    merged = core.patch_namespaced_config_map("cm", NS, {"data": {"a": None}}, _content_type="application/merge-patch+json")
    assert merged.data == {"b": "2"}
    patched = core.patch_namespaced_config_map("cm", NS, [{"op": "add", "path": "/data/c", "value": "3"}])  # JSON patch
    assert patched.data == {"b": "2", "c": "3"}
    gone = core.delete_namespaced_config_map("cm", NS)  # the client hands a DELETE's answer back as a dict
    # the generic registry answers a Status naming what went (ReturnDeletedObject is false for configmaps)
    assert (gone["kind"], gone["status"], gone["details"]) == \
        ("Status", "Success", {"name": "cm", "kind": "configmaps", "uid": made.metadata.uid})
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_config_map("cm", NS)
    assert missing.value.status == 404


def test_the_typed_client_creates_patches_and_deletes_a_service_with_the_servers_defaults(kube):
    api, client = kube
    core = client.CoreV1Api(api)
    made = core.create_namespaced_service(NS, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(name="http", port=9898)])))
    port = made.spec.ports[0]
    assert (made.spec.type, made.spec.session_affinity, port.protocol, port.target_port) == ("ClusterIP", "None", "TCP", 9898)
    assert (made.spec.ip_family_policy, made.spec.ip_families, made.spec.internal_traffic_policy) == \
        ("SingleStack", ["IPv4"], "Cluster")
    patched = core.patch_namespaced_service("web", NS, {"spec": {"ports": [{"port": 9898, "targetPort": 8080}]}})
    assert [(p.name, p.port, p.target_port) for p in patched.spec.ports] == [("http", 9898, 8080)]
    merged = core.patch_namespaced_service("web", NS, {"metadata": {"labels": {"tier": "front"}}},
                                           _content_type="application/merge-patch+json")
    assert merged.metadata.labels == {"tier": "front"}
    jsoned = core.patch_namespaced_service("web", NS, [{"op": "replace", "path": "/spec/type", "value": "NodePort"}])
    assert 30000 <= jsoned.spec.ports[0].node_port <= 32767
    gone = core.delete_namespaced_service("web", NS)
    assert (gone.kind, gone.metadata.name) == ("Service", "web"), "the service registry returns the deleted object"


def test_the_typed_client_creates_patches_and_deletes_a_deployment_with_the_servers_defaults(kube):
    api, client = kube
    apps = client.AppsV1Api(api)
    body = {"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}}
    made = apps.create_namespaced_deployment(NS, body)
    spec = made.spec
    assert (spec.replicas, spec.revision_history_limit, spec.progress_deadline_seconds) == (1, 10, 600)
    assert (spec.strategy.type, spec.strategy.rolling_update.max_surge, spec.strategy.rolling_update.max_unavailable) == \
        ("RollingUpdate", "25%", "25%")
    pod = spec.template.spec
    container = pod.containers[0]
    assert (pod.restart_policy, pod.dns_policy, pod.termination_grace_period_seconds, pod.scheduler_name) == \
        ("Always", "ClusterFirst", 30, "default-scheduler")
    assert (container.image_pull_policy, container.termination_message_path, container.ports[0].protocol) == \
        ("IfNotPresent", "/dev/termination-log", "TCP")
    scaled = apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 0}},
                                              _content_type="application/merge-patch+json")
    assert scaled.spec.replicas == 0
    image = apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:latest"}]}}}})  # strategic: the container merges by name
    assert [(c.name, c.image, c.ports[0].container_port) for c in image.spec.template.spec.containers] == \
        [("web", "nginx:latest", 80)]
    jsoned = apps.patch_namespaced_deployment("web", NS, [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}])
    assert jsoned.metadata.labels == {"a": "b"}
    gone = apps.delete_namespaced_deployment("web", NS)
    assert (gone["status"], gone["details"]["name"], gone["details"]["group"]) == ("Success", "web", "apps")


# -- validation -------------------------------------------------------------------------------------------
def _svc(name="s", **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}], **spec}}


def _pod(name="p", **container):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36", **container}]}}


def _deploy(name="d", labels=None, **spec):
    template = {"metadata": {"labels": labels or {"app": "d"}},
                "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], **spec.pop("pod", {})}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": template, **spec}}


def _event(**fields):
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"e.{uuid.uuid4().hex[:8]}"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": NS}, "reason": "Test", "message": "m", **fields}


def _widget(name="w", **spec):
    return {"apiVersion": f"{GROUP}/v1beta1", "kind": "Widget", "metadata": {"name": name}, "spec": {"mode": "fast", **spec}}


BAD_NAME = "Bad_Name"
# (what, the object, ?fieldValidation, the code, the reason, the field a 422 names / the text a 400 carries)
INVALID = [
    ("configmap name", {"kind": "ConfigMap", "metadata": {"name": BAD_NAME}}, None, 422, "Invalid", "metadata.name"),
    ("configmap long name", {"kind": "ConfigMap", "metadata": {"name": "a" * 254}}, None, 422, "Invalid", "metadata.name"),
    ("configmap key", {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"no spaces": "x"}}, None, 422, "Invalid",
     "data[no spaces]"),
    ("label value", {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "not ok!"}}}, None, 422, "Invalid",
     "metadata.labels"),
    ("configmap value type", {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": 1}}, None, 400, "BadRequest",
     "ConfigMap.data of type string"),
    ("secret not base64", {"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}, None, 400,
     "BadRequest", "illegal base64 data at input byte 3"),
    ("service name", _svc("1st"), None, 422, "Invalid", "metadata.name"),
    ("service port range", _svc(ports=[{"port": 70000}]), None, 422, "Invalid", "spec.ports[0].port"),
    ("service port zero", _svc(ports=[{"port": 0, "targetPort": 80}]), None, 422, "Invalid", "spec.ports[0].port"),
    ("service port type", _svc(ports=[{"port": "http"}]), None, 400, "BadRequest", "ServicePort.spec.ports.port of type int32"),
    ("service type", _svc(type="Bogus"), None, 422, "Invalid", "spec.type"),
    ("service protocol", _svc(ports=[{"port": 80, "protocol": "ICMP"}]), None, 422, "Invalid", "spec.ports[0].protocol"),
    ("service node port", _svc(type="NodePort", ports=[{"port": 80, "nodePort": 80}]), None, 422, "Invalid",
     "spec.ports[0].nodePort"),
    ("service port names", _svc(ports=[{"port": 80}, {"port": 81}]), None, 422, "Invalid", "spec.ports[1].name"),
    ("service target port", _svc(ports=[{"port": 80, "targetPort": "Not_Valid"}]), None, 422, "Invalid",
     "spec.ports[0].targetPort"),
    ("service without ports", _svc(ports=[]), None, 422, "Invalid", "spec.ports"),
    ("service unknown field", _svc(bogus=1), "Strict", 400, "BadRequest", 'strict decoding error: unknown field "spec.bogus"'),
    ("pod image", _pod(image=""), None, 422, "Invalid", "spec.containers[0].image"),
    ("pod container name", {**_pod(), "spec": {"containers": [{"name": "Web_1", "image": "x"}]}}, None, 422, "Invalid",
     "spec.containers[0].name"),
    ("pod container port", _pod(ports=[{"containerPort": 70000}]), None, 422, "Invalid",
     "spec.containers[0].ports[0].containerPort"),
    ("pod restart policy", {**_pod(), "spec": {**_pod()["spec"], "restartPolicy": "Sometimes"}}, None, 422, "Invalid",
     "spec.restartPolicy"),
    ("pod pull policy", _pod(imagePullPolicy="Maybe"), None, 422, "Invalid", "spec.containers[0].imagePullPolicy"),
    ("pod without containers", {"kind": "Pod", "metadata": {"name": "p"}, "spec": {}}, None, 422, "Invalid",
     "spec.containers"),
    ("pod unknown field", _pod(imagePullPolize="Always"), "Strict", 400, "BadRequest",
     'unknown field "spec.containers[0].imagePullPolize"'),
    ("deployment selector", _deploy(labels={"app": "other"}), None, 422, "Invalid", "spec.template.metadata.labels"),
    ("deployment replicas", _deploy(replicas=-1), None, 422, "Invalid", "spec.replicas"),
    ("deployment replicas type", _deploy(replicas="three"), None, 400, "BadRequest", "of type int32"),
    ("deployment restart policy", _deploy(pod={"restartPolicy": "Never"}), None, 422, "Invalid",
     "spec.template.spec.restartPolicy"),
    ("deployment strategy", _deploy(strategy={"type": "BlueGreen"}), None, 422, "Invalid", "spec.strategy"),  # the whole struct
    ("deployment recreate rolling", _deploy(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}), None, 422,
     "Invalid", "spec.strategy.rollingUpdate"),
    ("event timestamp", _event(lastTimestamp="yesterday"), None, 400, "BadRequest", 'parsing time "yesterday"'),
    ("event first timestamp", _event(firstTimestamp="12/05/2026"), None, 400, "BadRequest", "parsing time"),
    ("namespace name", {"kind": "Namespace", "metadata": {"name": "Team_A"}}, None, 422, "Invalid", "metadata.name"),
    ("role name", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "a%b"}}, None, 422,
     "Invalid", "metadata.name"),
    ("widget type", _widget(replicas="two"), None, 422, "Invalid", "spec.replicas"),
    ("widget maximum", _widget(replicas=11), None, 422, "Invalid", "spec.replicas"),
    ("widget enum", _widget(mode="medium"), None, 422, "Invalid", "spec.mode"),
    ("widget required", {**_widget(), "spec": {"replicas": 1}}, None, 422, "Invalid", "spec.mode"),
    ("widget pattern", _widget(size="lots"), None, 422, "Invalid", "spec.size"),
    ("widget name", _widget(BAD_NAME), None, 422, "Invalid", "metadata.name"),
    ("widget unknown field", _widget(colour="red"), "Strict", 400, "BadRequest", 'unknown field "spec.colour"'),
]
PATHS = {"ConfigMap": "/api/v1/namespaces/{ns}/configmaps", "Secret": "/api/v1/namespaces/{ns}/secrets",
         "Service": "/api/v1/namespaces/{ns}/services", "Pod": "/api/v1/namespaces/{ns}/pods",
         "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments", "Event": "/api/v1/namespaces/{ns}/events",
         "Namespace": "/api/v1/namespaces", "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
         "Widget": f"/apis/{GROUP}/v1beta1/namespaces/{{ns}}/widgets"}


def _raw(api, method: str, path: str, body=None, query=None):
    """A call through the client's own REST layer, which sends no Content-Type of its own choosing."""
    params = api.param_serialize(method, path, query_params=list((query or {}).items()), body=body,
                                 header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
    response = api.call_api(*params)
    response.read()
    return response


def _call(api, method: str, path: str, body=None, query=None):
    response = _raw(api, method, path, body, query)
    return response.status, json.loads(response.data or b"{}")


@pytest.mark.parametrize("what,obj,validation,code,reason,named", INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_object_is_refused_naming_its_field_and_nothing_is_stored(kube, what, obj, validation, code, reason,
                                                                            named):
    api, _ = kube
    obj = {"apiVersion": "v1", **obj}
    path = PATHS[obj["kind"]].format(ns=NS)
    status, body = _call(api, "POST", path, obj, {"fieldValidation": validation} if validation else None)
    assert (status, body.get("reason"), body.get("kind"), body.get("code")) == (code, reason, "Status", code), body
    if code == 422:
        fields = [c["field"] for c in body["details"]["causes"]]
        assert named in fields, (fields, body["message"])
        assert body["details"]["name"] == obj["metadata"]["name"] and f"{named}: " in body["message"], body
    else:
        assert named in body["message"], body["message"]
    name = obj["metadata"]["name"]
    fetched, _ = _call(api, "GET", f"{path}/{name}")
    assert fetched in (404, 400, 405) or name == NS, f"{what}: the refused object is there ({fetched})"
    everywhere = PATHS[obj["kind"]].replace("/namespaces/{ns}", "")
    listed, items = _call(api, "GET", everywhere)
    assert listed == 200 and items["kind"].endswith("List"), (everywhere, items)


def test_label_and_annotation_keys_and_values_get_the_api_servers_own_sentences(kube):
    """A key's or value's length and its pattern are separate errors, as apimachinery's IsQualifiedName and
    IsValidLabelValue give them: a long but well-formed key or value is told only that it is too long; a key
    with two slashes is not a qualified name at all; an annotation key's prefix may have capitals."""
    api, client = kube
    path = PATHS["ConfigMap"].format(ns=NS)
    # apimachinery v0.35 calls it "a valid label key" (api/validate/content IsLabelKey); v0.34 and before "a qualified name"
    minor = int("".join(c for c in client.VersionApi(api).get_code().minor if c.isdigit()))
    key = "a valid label key" if minor >= 35 else "a qualified name"
    cases = [({"labels": {"a" * 70: "v"}}, "name part must be no more than 63 characters"),
             ({"labels": {"ok": "v" * 64}}, "must be no more than 63 characters"),
             ({"labels": {"a/b/c": "v"}}, f"{key} must consist of alphanumeric characters"),
             ({"labels": {"/name": "v"}}, "prefix part must be non-empty")]
    for meta, said in cases:
        status, body = _call(api, "POST", path, {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "keys", **meta}})
        assert status == 422, body
        messages = [c["message"] for c in body["details"]["causes"]]
        assert len(messages) == 1 and said in messages[0], messages
    status, body = _call(api, "POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "keys", "annotations": {"Example.COM/Note": "capitals in the prefix are fine here"}}})
    assert status == 201, body
    assert _call(api, "DELETE", f"{path}/keys")[0] == 200


def test_an_update_is_validated_too_and_what_may_not_change_stays(kube):
    api, client = kube
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_secret(NS, {"metadata": {"name": "frozen"}, "immutable": True, "data": {"k": "dg=="}})
    with pytest.raises(client.ApiException) as refused:
        core.patch_namespaced_secret("frozen", NS, {"data": {"k": "dw=="}})
    causes = _error(refused.value)["details"]["causes"]
    assert refused.value.status == 422 and [c["field"] for c in causes] == ["data"], causes
    assert core.read_namespaced_secret("frozen", NS).data == {"k": "dg=="}
    apps.create_namespaced_deployment(NS, _deploy("sel"))
    moved = {"spec": {"selector": {"matchLabels": {"app": "e"}}, "template": {"metadata": {"labels": {"app": "e"}}}}}
    with pytest.raises(client.ApiException) as refused:
        apps.patch_namespaced_deployment("sel", NS, moved, _content_type="application/merge-patch+json")
    assert refused.value.status == 422 and "spec.selector: Invalid value" in _error(refused.value)["message"]
    with pytest.raises(client.ApiException) as refused:
        apps.patch_namespaced_deployment("sel", NS, {"spec": {"replicas": -2}})
    assert refused.value.status == 422 and apps.read_namespaced_deployment("sel", NS).spec.replicas == 1
    apps.delete_namespaced_deployment("sel", NS)
    core.delete_namespaced_secret("frozen", NS)


def test_an_unknown_field_is_dropped_with_a_warning_unless_strict(kube):
    api, _ = kube
    path = PATHS["ConfigMap"].format(ns=NS)
    response = _raw(api, "POST", path, {"metadata": {"name": "loose"}, "data": {"k": "v"}, "colour": "red"})
    stored = json.loads(response.data)
    assert response.status == 201 and "colour" not in stored
    # a warning header's text is a quoted string (RFC 7234), its own quotes escaped
    assert response.getheader("Warning") == '299 - "unknown field \\"colour\\""', response.getheaders()
    assert _call(api, "DELETE", f"{path}/loose")[0] == 200


def test_kubectl_get_events_answers_after_a_bad_event_was_refused(kube, east):
    bad = yaml.safe_dump({"apiVersion": "v1", **_event(lastTimestamp="yesterday")})
    refused = east.kubectl("-n", NS, "create", "-f", "-", stdin=bad)
    assert refused.returncode != 0 and 'parsing time "yesterday"' in refused.stderr, refused.stderr
    listed = east.kubectl("get", "events", "-A")
    assert listed.returncode == 0, listed.stderr


# -- defaults and tables, as kubectl shows them -------------------------------------------------------------
def test_kubectl_shows_a_services_defaults_in_get_describe_and_its_columns(kube, east):
    manifest = yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "podinfo", "namespace": NS},
                               "spec": {"selector": {"app": "podinfo"}, "ports": [{"port": 9898}]}})
    assert east.kubectl("apply", "-f", "-", stdin=manifest).returncode == 0
    spec = json.loads(east.kubectl("-n", NS, "get", "svc", "podinfo", "-o", "json").stdout)["spec"]
    assert spec["ports"] == [{"port": 9898, "protocol": "TCP", "targetPort": 9898}], spec
    described = east.kubectl("-n", NS, "describe", "svc", "podinfo").stdout
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in described.splitlines() if ":" in line}
    assert (lines["Type"], lines["Port"], lines["TargetPort"], lines["Session Affinity"]) == \
        ("ClusterIP", "<unset>  9898/TCP", "9898/TCP", "None"), described
    rows = [r.split() for r in east.kubectl("-n", NS, "get", "svc", "podinfo").stdout.splitlines()]
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], rows
    assert rows[1][:2] == ["podinfo", "ClusterIP"] and rows[1][3:5] == ["<none>", "9898/TCP"], rows
    assert east.kubectl("-n", NS, "delete", "svc", "podinfo").returncode == 0


def test_a_secrets_string_data_is_stored_as_data_and_listed_with_its_type_and_count(kube, east):
    manifest = yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": NS},
                               "stringData": {"user": "admin"}, "data": {"pass": base64.b64encode(b"pw").decode()}})
    assert east.kubectl("apply", "-f", "-", stdin=manifest).returncode == 0
    stored = json.loads(east.kubectl("-n", NS, "get", "secret", "creds", "-o", "json").stdout)
    assert stored["type"] == "Opaque" and "stringData" not in stored
    assert {k: base64.b64decode(v).decode() for k, v in stored["data"].items()} == {"user": "admin", "pass": "pw"}
    rows = [r.split() for r in east.kubectl("-n", NS, "get", "secrets", "creds").stdout.splitlines()]
    assert rows == [["NAME", "TYPE", "DATA", "AGE"], ["creds", "Opaque", "2", rows[1][3]]], rows


def test_a_node_port_service_gets_a_node_port_and_a_pod_its_defaults_on_a_server_dry_run(kube, east):
    service = yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "np", "namespace": NS},
                              "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}})
    made = json.loads(east.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", stdin=service).stdout)
    assert 30000 <= made["spec"]["ports"][0]["nodePort"] <= 32767 and made["spec"]["externalTrafficPolicy"] == "Cluster"
    pod = yaml.safe_dump({**_pod(), "metadata": {"name": "p", "namespace": NS}})
    spec = json.loads(east.kubectl("apply", "--dry-run=server", "-o", "json", "-f", "-", stdin=pod).stdout)["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["serviceAccountName"], spec["enableServiceLinks"]) == \
        ("Always", "ClusterFirst", "default", True), spec
    container = spec["containers"][0]
    assert (container["imagePullPolicy"], container["terminationMessagePolicy"]) == ("IfNotPresent", "File"), container
    assert _call(kube[0], "GET", f"/api/v1/namespaces/{NS}/pods/p")[0] == 404, "a dry run stores nothing"


def test_a_crd_is_listed_at_its_newest_version_with_its_printer_columns(kube, east):
    api, _ = kube
    status, group = _call(api, "GET", f"/apis/{GROUP}")
    assert status == 200 and group["preferredVersion"]["version"] == "v1beta1", group
    assert [v["version"] for v in group["versions"]] == ["v1beta1", "v1alpha1"], group
    made = yaml.safe_dump({**_widget("w1", replicas=3), "apiVersion": f"{GROUP}/v1alpha1", "metadata": {"name": "w1",
                                                                                                       "namespace": NS}})
    assert east.kubectl("apply", "-f", "-", stdin=made).returncode == 0
    listed = json.loads(east.kubectl("-n", NS, "get", "widgets", "-o", "json").stdout)
    assert [i["apiVersion"] for i in listed["items"]] == [f"{GROUP}/v1beta1"], listed
    rows = [r.split() for r in east.kubectl("-n", NS, "get", "widget", "w1").stdout.splitlines()]
    assert rows[0] == ["NAME", "MODE", "REPLICAS", "AGE"] and rows[1][:3] == ["w1", "fast", "3"], rows
