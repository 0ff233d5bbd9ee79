"""The official Python client as an ordinary program uses it against a simulated lab: typed create, read,
the three patch types and delete for Pod, Job and ReplicationController; a watch that sees ADDED,
MODIFIED and DELETED; and `utils.create_from_yaml` of a multi-document file. (ConfigMap, Service and
Deployment are in test_api_semantics.py; exec through `stream` in test_exec_shell.py.)"""
from __future__ import annotations

import threading
import uuid

import pytest
import yaml

from official_client import client_for

NS = f"typed-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def kube(lab):
    api, client = client_for(lab.cluster(lab.cfg.cluster_names[0]))
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    try:
        yield api, client
    finally:
        core.delete_namespace(NS)
        api.close()


def _pod(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"]}]}}


def _patch_three_ways(patch, name: str):
    """Strategic merge (the client's default for a dict), merge and JSON patch, each read back."""
    patch(name, NS, {"metadata": {"labels": {"strategic": "yes"}}})
    patch(name, NS, {"metadata": {"labels": {"merge": "yes"}}}, _content_type="application/merge-patch+json")
    return patch(name, NS, [{"op": "add", "path": "/metadata/labels/json", "value": "yes"}],
                 _content_type="application/json-patch+json")


def test_a_pod_created_patched_and_deleted_through_the_typed_api(kube, lab):
    api, client = kube
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod(NS, _pod("typed-pod"))
    assert created.metadata.uid and created.spec.restart_policy == "Never"
    lab.wait_for(lambda: core.read_namespaced_pod("typed-pod", NS).status.phase == "Running", 30, "the pod to run")
    labels = _patch_three_ways(core.patch_namespaced_pod, "typed-pod").metadata.labels
    assert {"strategic", "merge", "json"} <= set(labels), labels
    core.delete_namespaced_pod("typed-pod", NS)
    lab.wait_for(lambda: not core.list_namespaced_pod(NS, field_selector="metadata.name=typed-pod").items, 30,
                 "the pod to go")


def test_a_job_runs_to_complete_and_takes_every_patch_type(kube, lab):
    api, client = kube
    batch = client.BatchV1Api(api)
    batch.create_namespaced_job(NS, {"metadata": {"name": "typed-job"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "echo hi"]}]}}}})
    lab.wait_for(lambda: (batch.read_namespaced_job("typed-job", NS).status.succeeded or 0) == 1, 30, "the Job to complete")
    labels = _patch_three_ways(batch.patch_namespaced_job, "typed-job").metadata.labels
    assert {"strategic", "merge", "json"} <= set(labels), labels
    batch.delete_namespaced_job("typed-job", NS, propagation_policy="Foreground")


def test_a_replication_controller_keeps_its_pods_and_takes_every_patch_type(kube, lab):
    api, client = kube
    core = client.CoreV1Api(api)
    template = _pod("typed-rc")
    template["spec"]["restartPolicy"] = "Always"
    core.create_namespaced_replication_controller(NS, {"metadata": {"name": "typed-rc"}, "spec": {
        "replicas": 2, "selector": {"app": "typed-rc"}, "template": template}})
    lab.wait_for(lambda: len(core.list_namespaced_pod(NS, label_selector="app=typed-rc").items) == 2, 30, "two pods")
    labels = _patch_three_ways(core.patch_namespaced_replication_controller, "typed-rc").metadata.labels
    assert {"strategic", "merge", "json"} <= set(labels), labels
    core.delete_namespaced_replication_controller("typed-rc", NS)


def test_a_watch_sees_added_modified_and_deleted(kube, lab):
    api, client = kube
    from kubernetes import watch

    core = client.CoreV1Api(api)
    seen: list[tuple[str, str]] = []
    ready = threading.Event()
    w = watch.Watch()

    # Watch from the list's resourceVersion, as an informer does: every change after it is delivered, however
    # late the watch request itself arrives.
    since = core.list_namespaced_config_map(NS).metadata.resource_version

    def follow():
        ready.set()
        for event in w.stream(core.list_namespaced_config_map, NS, resource_version=since, timeout_seconds=20):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=follow)
    thread.start()
    ready.wait(5)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "watched"}, "data": {"k": "1"}})
    core.patch_namespaced_config_map("watched", NS, {"data": {"k": "2"}})
    core.delete_namespaced_config_map("watched", NS)
    thread.join(25)
    assert [t for t, name in seen if name == "watched"] == ["ADDED", "MODIFIED", "DELETED"], seen


def test_create_from_yaml_of_a_multi_document_file(kube, lab, tmp_path):
    api, client = kube
    from kubernetes import utils

    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-yaml"}, "data": {"a": "b"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "from-yaml"},
             "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "from-yaml"}, "spec": {
                "selector": {"matchLabels": {"app": "from-yaml"}},
                "template": {"metadata": {"labels": {"app": "from-yaml"}}, "spec": {"containers": [
                    {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 3600"]}]}}}}]
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    created = utils.create_from_yaml(api, str(path), namespace=NS)
    assert [o[0].kind if isinstance(o, list) else o.kind for o in created] == ["ConfigMap", "Service", "Deployment"]
    svc = client.CoreV1Api(api).read_namespaced_service("from-yaml", NS)
    assert svc.spec.ports[0].target_port == 80 and svc.spec.type == "ClusterIP", "defaulted as the API server does"
