"""A service exported from a namespace the linked cluster lacks: 2.8.1's mirror creates the namespace,
edge's skips the service and says so with an event in the exporting cluster (never silence)."""
import pytest

from lab.model import config
from lab.render import manifests
from lab import steps
from lab.backends.base import wait_until
from lab.backends import sim_backend


@pytest.fixture(params=["current", "seed-2.8"])
def lab(request, tmp_path):
    cfg = config.parse({"name": "nsmirror", "probe_period": 1, "profile": request.param})
    backend = sim_backend(cfg, tmp_path)
    ctx = steps.Context(cfg, backend, tmp_path)
    try:
        steps.up(ctx)
        yield ctx
    finally:
        backend.provider.destroy()


def _export_api(ctx):
    field, marks = manifests.export_marks(ctx.cfg, "east")
    extra = {}
    if field == "annotations":  # 2.8.1: the export names its gateway in annotations
        extra = {"annotations": dict(marks)}
    else:
        extra = {"labels": dict(marks)}
    ctx.backend.kube.apply("east", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}},
                               {"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": "api", "namespace": "payments", **extra},
                                "spec": {"ports": [{"name": "http", "port": 8080}]}}])


def test_a_missing_namespace_is_created_or_reported(lab):
    _export_api(lab)
    backend = lab.backend
    if lab.cfg.profile.mirror_creates_namespaces:
        wait_until(lambda: backend.kube.get("west", "Service", "payments", "api-east"), 10, "the mirror in a new namespace")
        labels = backend.kube.get("west", "Namespace", "", "payments")["metadata"]["labels"]
        assert labels == {"mirror.linkerd.io/mirrored-service": "true", "mirror.linkerd.io/cluster-name": "east"}
        return
    wait_until(lambda: any(e["reason"] == "ServiceMirroringSkipped" and e["involvedObject"]["kind"] == "Service"
                           and (e["metadata"]["namespace"], e["involvedObject"]["name"]) == ("payments", "api")
                           and e["source"]["component"] == "linkerd-service-mirror-east"
                           for e in backend.kube.events("east")), 10, "the skipped-mirroring event in east")
    assert backend.kube.get("west", "Service", "payments", "api-east") is None
    assert backend.kube.get("west", "Namespace", "", "payments") is None
    backend.kube.apply("west", [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}])
    wait_until(lambda: backend.kube.get("west", "Service", "payments", "api-east"), 10, "the mirror once the namespace exists")
