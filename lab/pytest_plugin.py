"""Fixtures for the scenarios: `lab`, `east`, `west`, `cluster(name)`.

The `lab` fixture brings the lab up if it is not (and then tears it down at
the end of the session, pass or fail); a lab that was already up is reused
and left up. Which lab: `--lab-config FILE` (a lab.yaml) and `--lab-backend`
(default auto), the same choices as `inv up`. `--lab-keep` keeps a lab the
session started; `--lab-profile` overrides the config's profile; `--lab-root`
is the folder whose .lab/ holds the lab's state (default: pytest's rootdir).
Each option left out comes from its variable, LAB_CONFIG, LAB_BACKEND,
LAB_KEEP=1, LAB_PROFILE and LAB_ROOT (what `./labctl e2e` sets); an option
given wins over its variable. A failing scenario leaves a diagnostics bundle
under .lab/<name>/artifacts/.

The test run's time scale: a lab the session brings up itself on the
simulation from the built-in config (and takes down at the end) probes its
gateways every `--lab-probe-period` seconds (LAB_PROBE_PERIOD, default 1),
not the guide's 3, as pytest's header says. The scenarios read the period
from the lab, so they hold at any period; a lab that is already up, a
config you name (or the root's lab.yaml) and a kept lab keep their own.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from . import names
from .model import config, gateways, topology
from .report import diagnostics, status
from .render import manifests, readback
from .parsers import metrics
from .backends.base import HttpResult, wait_until
from .parsers.cli_output import CheckResult, GatewayStatus
from .session import DEFAULT_CONFIG_FILE, TEST_WORKERS, Lab

# The probe period of the labs a test run brings up itself (the module's docstring says which): the scenarios
# wait on probes (an outage is three failed probes in a row), and the guide's 3 s made them most of the run.
TEST_PROBE_PERIOD = 1


class ClusterHandle:
    """One cluster, as a scenario sees it: the Kubernetes API, curl from a pod, the gateways it probes."""

    def __init__(self, lab: "LabHandle", name: str):
        self.lab, self.name = lab, name
        self.backend = lab.backend

    def __repr__(self) -> str:
        return f"<cluster {self.name} on {self.backend.name}>"

    def get(self, kind, namespace, name):
        return self.backend.kube.get(self.name, kind, namespace, name)

    def list(self, kind, namespace=None, labels=None):
        return self.backend.kube.list(self.name, kind, namespace, labels)

    def apply(self, *objects):
        return self.backend.kube.apply(self.name, list(objects))

    def delete(self, kind, namespace, name):
        return self.backend.kube.delete(self.name, kind, namespace, name)

    def set_metadata(self, kind, namespace, name, field, values):
        return self.backend.kube.set_metadata(self.name, kind, namespace, name, field, values)

    def export(self, service: str, exported: bool = True, namespace: str | None = None) -> None:
        """Export a service the way the lab's profile does (annotations or label), or unexport it."""
        field, values = manifests.export_marks(self.lab.cfg, self.name)
        self.set_metadata("Service", namespace or self.lab.cfg.namespace, service, field,
                          values if exported else {k: None for k in values})

    def scale(self, namespace, deployment, replicas):
        return self.backend.kube.scale(self.name, namespace, deployment, replicas)

    def request(self, url: str, deployment: str = "client", namespace: str | None = None, timeout: float = 5.0) -> HttpResult:
        """curl `url` from a pod of `deployment` in this cluster."""
        return self.backend.kube.request(self.name, namespace or self.lab.cfg.namespace, deployment, url, timeout)

    def gateways(self) -> list[GatewayStatus]:
        return self.backend.kube.gateways(self.name)

    def gateway(self, cluster: str, gw: gateways.Gateway | None = None) -> GatewayStatus | None:
        """The row for `cluster`'s gateway (default: the one in use) in this cluster's gateways listing
        (edge's rows name the target cluster only)."""
        gw = gw or self.lab.gateway
        return next((g for g in self.gateways() if g.cluster == cluster and g.name in (gw.name, None)), None)

    def gateway_address(self, gw: gateways.Gateway | None = None) -> str | None:
        gw = gw or self.lab.gateway
        return readback.ingress_ip(self.get("Service", gw.namespace, gw.name))

    def proxy_metrics(self, deployment: str, namespace: str) -> str:
        return self.backend.kube.proxy_metrics(self.name, namespace, deployment)

    def gateway_metrics(self, gw: gateways.Gateway | None = None) -> "GatewayMetrics":
        """What the proxy of this cluster's gateway (default: the one in use) counts, as the tests read it."""
        return GatewayMetrics(self, gw or self.lab.gateway)

    def check(self) -> list[CheckResult]:
        return self.backend.kube.check(self.name)

    def kubectl(self, *args: str, stdin: str | None = None, kubeconfig: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        """Real `kubectl --context=kind-<cluster> ARGS`, with the lab's kubeconfig (or `kubeconfig`): what a
        person following the guide types. Skips the test with one line where kubectl is not installed."""
        if shutil.which("kubectl") is None:
            pytest.skip("kubectl is not installed on this machine")
        env = {**os.environ, "KUBECONFIG": kubeconfig or self.backend.provider.kubeconfig_path()}
        context = [] if kubeconfig else [f"--context=kind-{self.name}"]
        return run_kubectl([*context, *args], env=env, stdin=stdin, timeout=timeout)

    @property
    def kind_cluster(self):
        """pytest-kind's KindCluster for this cluster (kind backend only): its `kubectl(*args)` and
        `port_forward(...)` against the real cluster."""
        if self.backend.name != "kind":
            pytest.skip(f"pytest-kind drives kind clusters; this lab runs on {self.backend.name}")
        from .backends.kind import pytest_kind_cluster

        return pytest_kind_cluster(self.backend.provider, self.name)

    def links(self) -> list[topology.LinkConfig]:
        """The links this cluster mirrors through (it is their source)."""
        return [link for link in self.lab.cfg.links if link.source == self.name]

    def link(self, target: str) -> status.LinkStatus:
        """This cluster's link to `target` as `./labctl status` reports it."""
        return status.link_status(self.lab.cfg, self.backend, self.name, target)


# kubectl before 1.34 may drop the first output of `exec`: client-go's websocket executor starts reading
# frames before it has registered its streams, and discards a frame for a stream it does not know yet,
# logging this line (client-go v0.32.0 tools/remotecommand/websocket.go `readDemuxLoop`; fixed upstream by
# "make sure all streams are created before starting demux websocket", first released in v0.34.0). A real
# cluster rarely shows it: after the upgrade the API server first opens its own SPDY stream to the kubelet
# (k8s.io/apiserver v0.32.0 pkg/util/proxy/streamtranslator.go, ServeHTTP), so the command starts a round
# trip or more later; the simulation's command can answer at once.
DROPPED_EXEC_OUTPUT = "discarding message"


def run_kubectl(args: list[str], env: Mapping[str, str], stdin: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
    """`kubectl ARGS`, captured. An `exec` whose output kubectl itself says it discarded (the client bug
    above, and only that) runs once more, with a warning in the test report: the command's effects happen
    twice, so the scenarios exec only what may run twice."""
    argv = ["kubectl", *args]

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(argv, input=stdin, env=dict(env), capture_output=True, text=True, timeout=timeout)

    result = run()
    if "exec" in args and "Unknown stream id" in result.stderr and DROPPED_EXEC_OUTPUT in result.stderr:
        warnings.warn(f"kubectl dropped the output of `{' '.join(argv)}` (client-go before v0.34 discards "
                      f"frames that arrive before its streams exist); ran it again. kubectl said: "
                      f"{result.stderr.strip()}", stacklevel=2)
        result = run()
    return result


class GatewayMetrics:
    """A gateway's proxy seen through its metrics (the admin port's /metrics), each read fresh. What it counts
    depends on the proxy's version (the profile's `proxy_authz_metrics`): v2.366.0 names the client of each
    request it authorizes and counts the connections it drops; stable-2.8.1's does neither."""

    def __init__(self, cluster: ClusterHandle, gw: gateways.Gateway):
        self.cluster, self.gw = cluster, gw
        self.profile = cluster.lab.cfg.profile

    def _text(self) -> str:
        return self.cluster.proxy_metrics(self.gw.name, self.gw.namespace)

    def clients(self) -> Counter[str]:
        """Client identities the proxy verified over mTLS, with the number of requests each sent through it:
        what it authorized on its inbound port. A proxy that does not count authorizations (stable-2.8.1's) names
        no client anywhere: `requests` is what it shows."""
        if not self.profile.proxy_authz_metrics:
            raise AssertionError(f"the proxy of profile {self.profile.name} does not count its clients at the gateway "
                                 f"(no inbound_http_authz_allow_total): read requests()")
        return metrics.authorized_clients(self._text(), names.PROXY_INBOUND_PORT)

    def requests(self) -> int:
        """Requests the proxy forwarded to the cluster's services, at every proxy version (outbound request_total)."""
        return metrics.outbound_requests(self._text())

    def traffic(self, client_id: str) -> int:
        """What the proxy shows of `client_id`'s requests: those it authorized for that client where it counts
        clients, else every request it forwarded."""
        return self.clients()[client_id] if self.profile.proxy_authz_metrics else self.requests()

    def refusals(self) -> Counter[str]:
        """Connections the proxy dropped on its inbound port, by kind of error; always empty where the proxy
        does not count them (stable-2.8.1's leaves a debug log line only)."""
        return metrics.tcp_errors(self._text(), names.PROXY_INBOUND_PORT)

    def expect_refusal_counted(self, before: Counter[str], error: str, what: str) -> None:
        """The proxy counts a connection it dropped, as `error`, where it counts any: v2.366.0's
        inbound_tcp_errors_total (error.rs: "unexpected" for a client without an identity, as upstream's
        tests/telemetry/tcp_errors.rs asserts; "i/o" for a handshake that failed). stable-2.8.1's proxy counts
        none: there nothing may be counted, and the client's view is all there is."""
        if self.profile.proxy_authz_metrics:
            self.cluster.lab.wait_for(lambda: self.refusals()[error] > before[error], 5,
                                      f"{self.cluster.name}'s gateway to count {what} (inbound_tcp_errors_total error={error})")
        else:
            assert not self.refusals(), "stable-2.8.1's proxy counts no dropped connection"


class LabHandle:
    """The lab as a scenario sees it: its clusters, names and URLs, over the one Lab object."""

    def __init__(self, lab: Lab):
        self.lab = lab

    @property
    def cfg(self):
        return self.lab.cfg

    @property
    def backend(self):
        return self.lab.backend

    @property
    def root(self) -> Path:
        return self.lab.root

    def cluster(self, name: str) -> ClusterHandle:
        self.cfg.cluster(name)  # KeyError for a cluster the lab does not have
        return ClusterHandle(self, name)

    def links(self, mode: str | None = None) -> list[topology.LinkConfig]:
        """Every link of the topology (of one mode), whichever clusters it joins."""
        return [link for link in self.cfg.links if mode in (None, link.mode)]

    def identity(self, serviceaccount: str, namespace: str | None = None) -> str:
        return self.cfg.identity(serviceaccount, namespace or self.cfg.namespace)

    def mirror_url(self, service: str, target: str, port: int = 9898, namespace: str | None = None) -> str:
        """The URL a client in a linked cluster uses for `service` exported by `target`."""
        return f"http://{service}-{target}.{namespace or self.cfg.namespace}.svc.{self.cfg.trust_domain}:{port}/"

    def wait_for(self, predicate, timeout: float, what: str):
        """Look again when the clusters may have changed, 0.1 s apart at most: on the simulation the pause ends
        as the lab process finishes a reconcile pass (what changes the clusters, a probe's verdict included),
        as `up` waits on its steps; elsewhere it is a sleep."""
        return wait_until(predicate, timeout, what, interval=0.1, pause=self.backend.provider.pause)

    @property
    def probe_period(self) -> int:
        return self.cfg.probe_period

    @contextlib.contextmanager
    def sibling(self, overrides: dict):
        """Another lab beside this one (its own name, clusters and state), on the same backend and
        profile, started from nothing and removed afterwards (certificates included), pass or fail.
        Returns its LabHandle, not yet up. It probes on this lab's period unless `overrides` sets one."""
        cfg = config.parse({"profile": self.cfg.profile_name, "probe_period": self.cfg.probe_period, **overrides},
                           "scenario")
        shared = sorted(set(cfg.cluster_names) & set(self.cfg.cluster_names))
        if shared and self.backend.name != "sim":  # before its `down`, which would delete them
            pytest.skip(f"on {self.backend.name} a lab beside this one would take its clusters' names ({', '.join(shared)}; "
                        f"cluster names are the machine's, not the lab's): this scenario runs on the simulation")
        other = Lab.from_config(cfg, self.backend.name, self.root)
        other.down(purge=True)
        shutil.rmtree(other.state_dir, ignore_errors=True)
        try:
            yield LabHandle(other)
        finally:
            other.down(purge=True)
            shutil.rmtree(other.state_dir, ignore_errors=True)

    @contextlib.contextmanager
    def topology(self, path: Path, name: str):
        """A lab of the topology in `path` (fixtures/topologies/), up: this lab itself when it is that
        topology (`./labctl e2e --config <path>`), else a sibling called `name` on the simulation. On kind a
        sibling's clusters would take the names and ranges of this lab's (kind names are global), so there the
        scenario is skipped with the command that runs it on a lab of its own."""
        data = yaml.safe_load(Path(path).read_text())
        try:
            wanted = config.parse({**data, "profile": self.cfg.profile_name}, str(path))
        except config.ConfigError as exc:  # a mode this profile's Linkerd did not have: the message names its release
            pytest.skip(str(exc))
        if _shape(wanted) == _shape(self.cfg):
            yield self
            return
        if self.backend.name != "sim":
            pytest.skip(f"on {self.backend.name} this topology runs on a lab of its own: ./labctl e2e --backend "
                        f"{self.backend.name} --config {path} --scenarios <this file>")
        with self.sibling({**data, "name": name}) as other:
            other.run()
            yield other

    def run(self, until: str | None = None, step: str | None = None) -> list:
        """`./labctl up --until` (or `./labctl step`) on this lab."""
        return self.lab.step(step) if step else self.lab.up(until=until)

    def switch_gateway(self, gateway: str) -> list:
        """`./labctl gateway <type>`; returns the step results (all "already done" when nothing changed)."""
        return self.lab.switch_gateway(gateway)

    def relink(self, link_with: str) -> list:
        """`./labctl relink link-gen|link` on this lab."""
        return self.lab.relink(link_with)

    @property
    def gateway(self) -> gateways.Gateway:
        """The gateway exported services use now."""
        return self.lab.gateway


def _shape(cfg: config.LabConfig) -> tuple:
    """What makes two labs the same topology: clusters with their roles, links with their modes, how they link."""
    return (tuple((c.name, c.workloads, c.exports, c.federated, c.network) for c in cfg.clusters),
            tuple(cfg.links), cfg.link_command)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing scenario leaves a diagnostics bundle and says where."""
    outcome = yield
    report = outcome.get_result()
    lab_handle = getattr(item, "funcargs", {}).get("lab")
    if report.when == "call" and report.failed and isinstance(lab_handle, LabHandle):
        path = diagnostics.collect(lab_handle.cfg, lab_handle.backend, lab_handle.root, item.name)
        report.sections.append(("lab diagnostics", f"bundle written to {path}"))


def pytest_addoption(parser):
    group = parser.getgroup("lab", "the lab the scenarios run against (each option wins over its LAB_* variable)")
    group.addoption("--lab-config", metavar="FILE",
                    help="the lab.yaml to use (else $LAB_CONFIG, else the root's lab.yaml, else the built-in lab)")
    group.addoption("--lab-backend", metavar="NAME", help="sim, kind, contexts or auto (else $LAB_BACKEND, else auto)")
    group.addoption("--lab-profile", metavar="PROFILE", help="override the config's profile (else $LAB_PROFILE)")
    group.addoption("--lab-keep", action="store_true", default=None,
                    help="keep a lab this session started (else LAB_KEEP=1 does)")
    group.addoption("--lab-root", metavar="DIR", help="the folder whose .lab/ holds the lab (else $LAB_ROOT, else the rootdir)")
    group.addoption("--lab-probe-period", metavar="SECONDS",
                    help=f"gateway probe period of a lab the session brings up on the simulation from the built-in "
                         f"config (else $LAB_PROBE_PERIOD, else {TEST_PROBE_PERIOD}; the guide's is 3)")


@dataclass(frozen=True)
class LabOptions:
    """Which lab the session's `lab` fixture opens, and whether it keeps one it started."""

    config: str | None
    backend: str
    profile: str | None
    keep: bool
    root: Path
    probe_period: int = TEST_PROBE_PERIOD


def lab_options(pytest_config, environ: Mapping[str, str] = os.environ) -> LabOptions:
    """Each --lab-* option given wins over its LAB_* variable, which `./labctl e2e` sets; neither: the default."""
    def chosen(option: str, variable: str, default=None):
        value = pytest_config.getoption(option)
        return value if value is not None else environ.get(variable, default)

    keep = pytest_config.getoption("lab_keep")
    root = Path(chosen("lab_root", "LAB_ROOT", pytest_config.rootpath))
    # Under pytest-xdist (`./labctl test` runs the simulation's suite with `-n auto`) each worker but the first
    # has a lab of its own: the session's lab is locked for the whole session and scenarios change it
    # (scale a gateway, revoke a link), so two workers cannot share one. The first worker keeps the root, so
    # a lab the user brought up is still the one it reuses.
    # The other workers' roots hold no lab.yaml: the root's, if there is one, is named for them.
    lab_config = chosen("lab_config", "LAB_CONFIG")
    worker = getattr(pytest_config, "workerinput", {}).get("workerid", "")  # set by xdist in its workers only
    if worker not in ("", "gw0"):
        if lab_config is None and (root / DEFAULT_CONFIG_FILE).is_file():
            lab_config = str(root / DEFAULT_CONFIG_FILE)
        root = root / TEST_WORKERS / worker
    period = chosen("lab_probe_period", "LAB_PROBE_PERIOD", TEST_PROBE_PERIOD)
    try:  # the lab.yaml rule for probe_period, and its message
        period = config.parse({"probe_period": int(period) if str(period).isdigit() else period},
                              "--lab-probe-period").probe_period
    except config.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return LabOptions(config=lab_config, backend=chosen("lab_backend", "LAB_BACKEND", "auto"),
                      profile=chosen("lab_profile", "LAB_PROFILE"),
                      keep=keep if keep is not None else environ.get("LAB_KEEP") == "1", root=root,
                      probe_period=period)


def _on_the_test_runs_time_scale(chosen: LabOptions, the_lab: Lab) -> bool:
    """A lab this session will bring up from the built-in config on the simulation and take down again."""
    return (chosen.config is None and not (chosen.root / DEFAULT_CONFIG_FILE).is_file() and not chosen.keep
            and the_lab.backend.name == "sim" and not the_lab.running())


def pytest_report_header(config):
    chosen = lab_options(config)
    return (f"lab: a lab this run brings up on the simulation from the built-in config probes gateways every "
            f"{chosen.probe_period} s (--lab-probe-period; the guide's is 3); a lab already up is used as it is")


@pytest.fixture(scope="session")
def lab(request):
    chosen = lab_options(request.config)
    the_lab = Lab.open(chosen.config, chosen.backend, chosen.root, profile=chosen.profile)
    the_lab.keep = chosen.keep
    # The lab's lock for the whole session: a `./labctl down` or `up` on this lab waits (and says for
    # whom) instead of pulling the lab from under the scenarios. Up unless it already is; down at the
    # end only if this session brought it up.
    with the_lab.locked("pytest scenarios"):
        if _on_the_test_runs_time_scale(chosen, the_lab):
            the_lab.backend.cfg = dataclasses.replace(the_lab.cfg, probe_period=chosen.probe_period)
        with the_lab:
            yield LabHandle(the_lab)


def _first_link(lab: LabHandle):
    if not lab.cfg.links:
        pytest.skip("this lab has no links")
    return lab.cfg.links[0]


@pytest.fixture
def east(lab) -> ClusterHandle:
    """The cluster that exports (the first link's target)."""
    return lab.cluster(_first_link(lab).target)


@pytest.fixture
def west(lab) -> ClusterHandle:
    """The cluster that mirrors (the first link's source)."""
    return lab.cluster(_first_link(lab).source)


@pytest.fixture
def cluster(lab):
    return lab.cluster
