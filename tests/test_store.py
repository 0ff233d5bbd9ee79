"""The sim's object store behaves like `kubectl apply` for what the lab relies on."""
from lab.sim.kube.store import ObjectStore


def svc(**annotations):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "foobar", "namespace": "demo", "annotations": annotations},
            "spec": {"ports": [{"port": 9898}]}}


def test_reapplying_the_same_manifest_changes_nothing():
    changes = []
    store = ObjectStore(on_change=lambda: changes.append(1))
    assert store.apply(svc()) is True
    version = store.get("Service", "demo", "foobar")["metadata"]["resourceVersion"]
    assert store.apply(svc()) is False
    assert store.get("Service", "demo", "foobar")["metadata"]["resourceVersion"] == version
    assert len(changes) == 1


def test_status_and_server_filled_fields_survive_a_reapply():
    store = ObjectStore()
    store.apply(svc())
    obj = store.get("Service", "demo", "foobar")
    obj["spec"]["clusterIP"] = "10.96.0.10"
    store.apply(obj)
    store.set_status("Service", "demo", "foobar", {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}})
    store.apply(svc(extra="1"))
    after = store.get("Service", "demo", "foobar")
    assert after["spec"]["clusterIP"] == "10.96.0.10"
    assert after["status"]["loadBalancer"]["ingress"] == [{"ip": "172.18.255.200"}]
    assert after["metadata"]["annotations"] == {"extra": "1"}


def test_annotate_adds_and_removes():
    store = ObjectStore()
    store.apply(svc(a="1"))
    store.set_metadata("Service", "demo", "foobar", "annotations", {"a": None, "b": "2"})
    assert store.get("Service", "demo", "foobar")["metadata"]["annotations"] == {"b": "2"}
    store.set_metadata("Service", "demo", "foobar", "labels", {"mirror.linkerd.io/exported": "true"})
    assert store.get("Service", "demo", "foobar")["metadata"]["labels"] == {"mirror.linkerd.io/exported": "true"}


def test_label_selection_and_persistence_roundtrip():
    store = ObjectStore()
    store.apply({**svc(), "metadata": {**svc()["metadata"], "labels": {"mirror.linkerd.io/mirrored-service": "true"}}})
    store.apply({**svc(), "metadata": {"name": "other", "namespace": "demo"}})
    assert [o["metadata"]["name"] for o in store.list("Service", labels={"mirror.linkerd.io/mirrored-service": "true"})] == ["foobar"]
    copy = ObjectStore()
    copy.load(store.dump())
    assert copy.dump() == store.dump()
    assert copy.apply({**svc(), "metadata": {"name": "third", "namespace": "demo"}})
    assert int(copy.get("Service", "demo", "third")["metadata"]["resourceVersion"]) > max(
        int(o["metadata"]["resourceVersion"]) for o in store.dump())
