"""Only exported services are mirrored, and the export marks drive the mirror.

The marks are the profile's: the guide's gateway annotations (seed-2.8) or the
`mirror.linkerd.io/exported=true` label a Link selects (current).
"""


def _service(name, namespace):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": "foobar"}, "ports": [{"name": "http", "port": 9898, "targetPort": "http"}]}}


def test_only_exported_services_are_mirrored_and_the_marks_toggle_the_mirror(lab, east, west):
    ns = lab.cfg.namespace
    mirrored = lambda name: west.get("Service", ns, f"{name}-{east.name}") is not None  # noqa: E731
    east.apply(_service("plain", ns), _service("exported", ns))
    try:
        east.export("exported")
        # The exported twin appearing proves the mirror has seen both services.
        lab.wait_for(lambda: mirrored("exported"), 10, "the exported service to be mirrored")
        assert not mirrored("plain"), "a service that was not exported was mirrored"

        east.export("exported", False)
        lab.wait_for(lambda: not mirrored("exported"), 10, "the mirror to go once the export marks are removed")

        east.export("exported")
        lab.wait_for(lambda: mirrored("exported"), 10, "the mirror to come back with the export marks")
    finally:
        east.delete("Service", ns, "plain")
        east.delete("Service", ns, "exported")
        lab.wait_for(lambda: not mirrored("exported"), 10, "the mirror of a deleted service to go")
