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
