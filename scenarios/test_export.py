"""Only services carrying the export annotations are mirrored, and the annotations drive the mirror."""
from lab import manifests

EXPORT = manifests.export_annotations("linkerd")


def _service(name, namespace, annotations=None):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
            "spec": {"selector": {"app": "foobar"}, "ports": [{"name": "http", "port": 9898, "targetPort": "http"}]}}


def test_only_annotated_services_are_mirrored_and_annotations_toggle_the_mirror(lab, east, west):
    ns = lab.cfg.namespace
    mirrored = lambda name: west.get("Service", ns, f"{name}-{east.name}") is not None  # noqa: E731
    east.apply(_service("plain", ns), _service("exported", ns, EXPORT))
    try:
        # The exported twin appearing proves the mirror has seen both services.
        lab.wait_for(lambda: mirrored("exported"), 10, "the exported service to be mirrored")
        assert not mirrored("plain"), "a service without the export annotations was mirrored"

        east.annotate("Service", ns, "exported", {k: None for k in EXPORT})
        lab.wait_for(lambda: not mirrored("exported"), 10, "the mirror to go once the annotations are removed")

        east.annotate("Service", ns, "exported", EXPORT)
        lab.wait_for(lambda: mirrored("exported"), 10, "the mirror to come back with the annotations")
    finally:
        east.delete("Service", ns, "plain")
        east.delete("Service", ns, "exported")
    lab.wait_for(lambda: not mirrored("exported"), 10, "the mirror of a deleted service to go")
