"""The contexts backend: the lab's steps against two clusters the user already has."""
import pytest

from lab.model import config, gateways
from lab import steps
from lab.backends.base import LabError
from lab.backends import contexts_backend
from lab.tools.run import RecordingRunner


def lab_config(**east):
    return config.parse({"clusters": {"east": {"context": "prod-east", **east}, "west": {"context": "prod-west"}}})


def test_existing_contexts_pass_clusters_and_loadbalancer_without_creating_anything(tmp_path):
    runner = RecordingRunner({"kubectl config get-contexts": "prod-east\nprod-west\nother\n"})
    ctx = steps.Context(lab_config(), contexts_backend(lab_config(), tmp_path, runner=runner), tmp_path)
    results = steps.up(ctx, until="loadbalancer")
    assert {(r.step, r.outcome) for r in results} == {("clusters", "already done"), ("loadbalancer", "already done")}
    assert not any(l.startswith(("kind", "kubectl --context=prod-east apply")) for l in runner.lines)
    assert ctx.backend.provider.destroy() == []


def test_link_uses_the_users_contexts_and_their_api_addresses(tmp_path):
    runner = RecordingRunner()
    contexts_backend(lab_config(), tmp_path, runner=runner).installer.link("west", "east", gateways.LINKERD)
    assert runner.lines[0] == ("linkerd --context=prod-east multicluster link-gen --cluster-name east"
                               " | kubectl --context=prod-west apply -f -")


def test_a_missing_context_is_named_with_the_fix(tmp_path):
    runner = RecordingRunner({"kubectl config get-contexts": "prod-west\n"})
    ctx = steps.Context(lab_config(), contexts_backend(lab_config(), tmp_path, runner=runner), tmp_path)
    with pytest.raises(LabError, match="context 'prod-east' \\(cluster east\\) is not in your kubeconfig"):
        steps.up(ctx, until="clusters")


def test_every_cluster_needs_a_context(tmp_path):
    with pytest.raises(LabError, match="none for east, west.*clusters.<name>.context"):
        contexts_backend(config.load(), tmp_path)


def test_a_live_read_of_a_cluster_that_does_not_answer_names_the_context_and_the_fix(tmp_path):
    """In a live run the contexts backend reads through the official client on the user's kubeconfig; a
    context whose API server is gone is one LabError naming it, not a client traceback."""
    import socket

    import yaml

    from lab.tools.run import Runner

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod-east",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in ("prod-east", "prod-west")]}))
    backend = contexts_backend(lab_config(), tmp_path, runner=Runner(env={"KUBECONFIG": str(kubeconfig)}))
    with pytest.raises(LabError, match=r"cannot read .* from context prod-east \(cluster east\).*"
                                       r"Fix: .*kubectl --context=prod-east get nodes"):
        backend.kube.get("east", "Namespace", "", "linkerd")
