"""The sim's object store behaves like `kubectl apply` for what the lab relies on."""
from hypothesis import given
from hypothesis import strategies as st

from lab.sim.kube.store import ObjectStore, json_copy


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


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=25)


def _containers(value) -> set[int]:
    """The identities of every dict and list inside `value`: two values share a mutable part if these meet."""
    if isinstance(value, dict):
        return {id(value)}.union(*(_containers(v) for v in value.values()))
    if isinstance(value, list):
        return {id(value)}.union(*(_containers(v) for v in value))
    return set()


@given(JSON)
def test_what_is_written_and_what_is_read_are_the_callers_own_copies(data):
    store = ObjectStore()
    written = {**svc(), "data": data}
    store.apply(written)
    read = store.get("Service", "demo", "foobar")
    listed = store.list("Service")[0]
    kept = store.view("Service", "demo", "foobar")
    assert read["data"] == listed["data"] == kept["data"] == data
    for other in (written, read, listed):  # changing any of these can never change what the store holds
        assert not _containers(other) & _containers(kept)
    store.set_status("Service", "demo", "foobar", {"data": data})
    assert store.view("Service", "demo", "foobar")["status"] == {"data": data}
    assert not _containers(data) & _containers(store.view("Service", "demo", "foobar"))


def test_a_value_json_cannot_hold_is_still_copied_whole():
    inner = [1]
    copied = json_copy({"pair": (inner, 2)})
    assert copied == {"pair": ([1], 2)} and copied["pair"][0] is not inner
