"""Real clusters: kind, MetalLB, Linkerd and its multicluster extension, with the real tools.

Every external call goes through a runner (lab/run.py), so the same methods
run the tools, record them in tests, or print them as a shell script
(`inv plan --backend kind --format sh`). Contexts are kind's own
(`kind-<cluster>`); KUBECONFIG lists one kubeconfig file per cluster, so the
commands read as the guide's (`linkerd --context=kind-east ...`).
"""
from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
from pathlib import Path

import yaml
from pytest_kind import KindCluster

from .. import cli_output, gateways, helm, manifests
from ..cli_output import CheckResult, GatewayStatus
from ..config import AddressPool, LabConfig
from ..errors import CommandError
from ..run import Arg, Command, Dynamic, Runner, cmd, pipe
from ..trust import pki_dir, roots_path
from .base import ROOTS_ANNOTATION, Backend, HttpResult, LabError

KIND_NETWORK = "kind"
KIND_DEFAULT_SUBNET = "172.18.0.0/16"  # what kind creates when the network does not exist yet
POOL_SIZE = 25  # LoadBalancer addresses per cluster, taken from the top of the kind network
LINK_CHECK_ATTEMPTS = 20  # `multicluster check` after linking, one probe period apart (see link)
WAIT = "300s"
ROLLOUT_RESOURCE = {"Deployment": "deploy", "StatefulSet": "statefulset"}  # kubectl patch/rollout names


def tool_bin(root: Path) -> Path:
    """Where `inv tools` links the verified binaries (shared by every lab in this directory)."""
    return root / ".lab" / "tools" / "bin"


def pytest_kind_cluster(backend: "KindBackend", cluster: str) -> KindCluster:
    """pytest-kind's KindCluster for one of the lab's kind clusters, constructed as designed, for scenarios
    (its `kubectl()` and `port_forward()`). It is given the lab's kubeconfig and the pinned tools from
    `./labctl tools` (or PATH), so it downloads nothing; its `.pytest-kind/<name>` directory goes under
    the lab's state, not the working directory. Creating and deleting clusters stays with the backend's
    runner, which records and scripts them and passes kind's `--wait`."""
    tools = {}
    for tool in ("kind", "kubectl"):
        pinned = tool_bin(backend.root) / tool
        found = pinned if pinned.exists() else shutil.which(tool)
        if not found:
            raise LabError(f"pytest-kind needs `{tool}` and would download an unpinned one. Fix: run `./labctl tools`")
        tools[tool] = Path(found)
    backend.kind_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(backend.kind_dir):  # KindCluster makes .pytest-kind/<name> in the working directory
        made = KindCluster(cluster, kubeconfig=backend.kubeconfig(cluster).resolve(), image=backend.profile.node_image,
                           kind_path=tools["kind"].resolve(), kubectl_path=tools["kubectl"].resolve())
    made.path = (backend.kind_dir / made.path).resolve()
    return made


class DockerFacts:
    """What kind's docker network says: its subnet, a node's address on it (docker SDK)."""

    def __init__(self):
        import docker

        self.client = docker.from_env(timeout=10)

    def subnet(self) -> ipaddress.IPv4Network | None:
        import docker

        try:
            network = self.client.networks.get(KIND_NETWORK)
        except docker.errors.NotFound:
            return None
        for entry in network.attrs.get("IPAM", {}).get("Config") or []:
            try:
                net = ipaddress.ip_network(entry.get("Subnet", ""))
            except ValueError:
                continue
            if net.version == 4:
                return net
        return None

    def info(self) -> dict:
        """`docker info`: CgroupVersion says what kind's nodes run under."""
        return self.client.info()

    def node_address(self, container: str) -> str:
        attrs = self.client.containers.get(container).attrs
        return attrs["NetworkSettings"]["Networks"][KIND_NETWORK]["IPAddress"]


def pools_for(subnet: ipaddress.IPv4Network, count: int) -> list[AddressPool]:
    """Disjoint ranges of POOL_SIZE at the top of the kind network, one per cluster, first cluster highest.

    Docker hands out node addresses from the bottom, so the top is free.
    """
    needed = POOL_SIZE * count
    last = int(subnet.broadcast_address) - 1
    if subnet.num_addresses < needed + 16:
        raise LabError(
            f"the docker '{KIND_NETWORK}' network's subnet {subnet} has {subnet.num_addresses} addresses, too few for "
            f"{count} LoadBalancer pools of {POOL_SIZE} beside the nodes. Fix: `docker network rm {KIND_NETWORK}` "
            "(with no kind cluster running) so kind recreates it as a /16"
        )
    return [AddressPool(ipaddress.IPv4Address(last - (i + 1) * POOL_SIZE + 1), ipaddress.IPv4Address(last - i * POOL_SIZE))
            for i in range(count)]


def kind_config(cfg: LabConfig, cluster: str) -> str:
    """A kind cluster config with the lab's disjoint pod and service subnets."""
    c = cfg.cluster(cluster)
    return yaml.safe_dump({
        "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"podSubnet": str(c.pod_subnet), "serviceSubnet": str(c.service_subnet)},
        "nodes": [{"role": "control-plane", "image": cfg.profile.node_image}],
    }, sort_keys=False)


class KindBackend(Backend):
    name = "kind"

    def __init__(self, cfg: LabConfig, root: Path | None = None, runner=None, docker: DockerFacts | None = None):
        super().__init__(cfg, root)
        self.profile = cfg.profile
        # Tools from `inv tools` (pinned, verified) come first on PATH.
        path = os.pathsep.join([str(tool_bin(self.root)), os.environ.get("PATH", "")])
        self.runner = runner or Runner(env={**os.environ, "KUBECONFIG": self.kubeconfig_env, "PATH": path})
        self._docker = docker

    # -- paths and names -----------------------------------------------------------
    @property
    def kind_dir(self) -> Path:
        return self.state_dir / "kind"

    def kubeconfig(self, cluster: str) -> Path:
        return self.kind_dir / f"{cluster}.kubeconfig"

    def kubeconfig_path(self) -> str:
        return self.kubeconfig_env

    @property
    def kubeconfig_env(self) -> str:
        return os.pathsep.join(str(self.kubeconfig(c)) for c in self.cfg.cluster_names)

    @staticmethod
    def context(cluster: str) -> str:
        return f"kind-{cluster}"

    def kubectl(self, cluster: str, *args: Arg, stdin: str | None = None, stdout_to: Path | None = None) -> Command:
        return cmd("kubectl", f"--context={self.context(cluster)}", *args, stdin=stdin, stdout_to=stdout_to)

    def linkerd(self, cluster: str, *args: Arg) -> Command:
        return cmd("linkerd", f"--context={self.context(cluster)}", *args)

    def apply_output(self, cluster: str, producer: Command) -> None:
        """`<producer> | kubectl --context=<cluster> apply -f -`: how the guide installs and links."""
        self.runner.run(pipe(producer, self.kubectl(cluster, "apply", "-f", "-")))

    def _helm_namespace(self, create: bool = False) -> list[str]:
        """2.8's chart templates its own namespace; today's charts install into the release namespace."""
        if self.profile.helm_access == "release":
            return []
        return ["-n", manifests.MC_NS] + (["--create-namespace"] if create else [])

    @property
    def docker(self) -> DockerFacts:
        if self._docker is None:
            self._docker = DockerFacts()
        return self._docker

    # -- lifecycle -----------------------------------------------------------------
    def preflight(self) -> None:
        """Every tool at the profile's version, before anything is created."""
        if not isinstance(self.runner, Runner):
            return  # recording or scripting: nothing will run
        from ..doctor import cgroup_findings, cgroup_version, tool_findings

        cgroups = cgroup_findings(self.profile, cgroup_version(self.docker.info()))
        if not cgroups[0].ok:
            raise LabError(f"kind cannot start the {self.profile.name} clusters here: {cgroups[0].detail}. Fix: {cgroups[0].fix}")
        bad = [f for f in tool_findings(self.profile, tool_bin(self.root)) if not f.ok]
        if bad:
            raise LabError("the kind backend needs " + "; ".join(f"{f.name} ({f.detail})" for f in bad) +
                           f". Fix: {bad[0].fix}; `./labctl doctor` lists everything")

    def cluster_exists(self, cluster: str) -> bool:
        out = self.runner.run(cmd("kind", "get", "clusters")).stdout
        return cluster in out.split() and self.kubeconfig(cluster).exists()

    def create_cluster(self, cluster: str) -> None:
        config = self.kind_dir / f"{cluster}.kind.yaml"
        self.runner.write_file(config, kind_config(self.cfg, cluster))
        self.runner.run(cmd("kind", "create", "cluster", f"--name={cluster}", f"--kubeconfig={self.kubeconfig(cluster)}",
                            f"--image={self.profile.node_image}", "--config", str(config), "--wait", WAIT))

    def destroy(self) -> list[str]:
        removed = []
        existing = self.runner.run(cmd("kind", "get", "clusters"), check=False).stdout.split()
        for cluster in self.cfg.cluster_names:
            if cluster in existing:
                self.runner.run(cmd("kind", "delete", "cluster", f"--name={cluster}", f"--kubeconfig={self.kubeconfig(cluster)}"))
                removed.append(f"kind cluster {cluster}")
        return removed

    def running(self) -> bool:
        existing = self.runner.run(cmd("kind", "get", "clusters"), check=False).stdout.split()
        return all(c in existing for c in self.cfg.cluster_names)

    # -- the Kubernetes API ----------------------------------------------------------
    def apply(self, cluster: str, objects: list[dict]) -> list[str]:
        out = self.runner.run(self.kubectl(cluster, "apply", "-f", "-",
                                           stdin=yaml.safe_dump_all(objects, sort_keys=False))).stdout
        return [line.split(" ")[0] for line in out.splitlines() if line.endswith(("created", "configured"))]

    def _read(self, cluster: str, args: list[str]) -> str:
        """`kubectl get ...`'s output; empty when the kind itself is not served yet (its CRD is not installed:
        `--ignore-not-found` covers a missing object, not a missing resource type, so kubectl exits 1 with
        `error: the server doesn't have a resource type "IPAddressPool"`, as kubectl 1.32 was seen to do
        against the simulated API, which serves a kind only once its CRD exists)."""
        result = self.runner.run(self.kubectl(cluster, *args), check=False)
        if result.code != 0:
            if "the server doesn't have a resource type" in result.stderr:
                return ""
            raise CommandError(result)
        return result.stdout.strip()

    def get(self, cluster: str, kind: str, namespace: str, name: str) -> dict | None:
        out = self._read(cluster, ["get", kind, name, "-o", "json", "--ignore-not-found"] + (["-n", namespace] if namespace else []))
        return json.loads(out) if out else None

    def list(self, cluster: str, kind: str, namespace: str | None = None, labels: dict | None = None) -> list[dict]:
        args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else ["--all-namespaces"])
        if labels:
            args += ["-l", ",".join(f"{k}={v}" for k, v in labels.items())]
        out = self._read(cluster, args)
        return json.loads(out)["items"] if out else []

    def delete(self, cluster: str, kind: str, namespace: str, name: str) -> bool:
        out = self.runner.run(self.kubectl(cluster, "delete", kind, name, "-n", namespace, "--ignore-not-found")).stdout
        return "deleted" in out

    def set_metadata(self, cluster: str, kind: str, namespace: str, name: str, field: str, values: dict[str, str | None]) -> None:
        verb = {"annotations": "annotate", "labels": "label"}[field]
        pairs = [f"{k}-" if v is None else f"{k}={v}" for k, v in values.items()]
        self.runner.run(self.kubectl(cluster, "-n", namespace, verb, kind.lower(), name, *pairs, "--overwrite"))

    def scale(self, cluster: str, namespace: str, deployment: str, replicas: int) -> None:
        self.runner.run(self.kubectl(cluster, "-n", namespace, "scale", f"deploy/{deployment}", f"--replicas={replicas}"))

    def wait_rollout(self, cluster: str, namespace: str, name: str, kind: str = "Deployment") -> None:
        resource = ROLLOUT_RESOURCE[kind]
        self.runner.run(self.kubectl(cluster, "-n", namespace, "rollout", "status", f"{resource}/{name}", f"--timeout={WAIT}"))

    # -- installing ------------------------------------------------------------------
    def lb_pool(self, cluster: str) -> AddressPool:
        """This cluster's range at the top of the docker `kind` network (the kind default in a script)."""
        subnet = None if self.runner.scripting else self.docker.subnet()  # a script reads the network when run
        subnet = subnet or ipaddress.IPv4Network(KIND_DEFAULT_SUBNET)
        return pools_for(subnet, len(self.cfg.clusters))[self.cfg.cluster_names.index(cluster)]

    def install_loadbalancer(self, cluster: str) -> None:
        """MetalLB at the profile's version, ready before its pool is applied (its webhook rejects pools until then)."""
        for url in self.profile.metallb_manifests:
            self.runner.run(self.kubectl(cluster, "apply", "-f", url))
        if self.profile.metallb_config == "configmap":
            # MetalLB < 0.13 needs a memberlist secret (metallb.universe.tf v0.9 installation docs).
            key = Dynamic("$(openssl rand -base64 128)", lambda: base64.b64encode(secrets.token_bytes(128)).decode())
            self.runner.run(self.kubectl(cluster, "create", "secret", "generic", "-n", manifests.METALLB_NS, "memberlist",
                                         Dynamic(f"--from-literal=secretkey={key.shell}",
                                                 lambda: f"--from-literal=secretkey={key.resolve()}")))
        self.runner.run(self.kubectl(cluster, "wait", f"--namespace={manifests.METALLB_NS}", "--for=condition=ready",
                                     "pod", "--selector=app=metallb", f"--timeout={WAIT}"))

    def install_gateway_api(self, cluster: str) -> None:
        """The Gateway API release edge's `linkerd check` names, applied server-side as its hint says
        (pkg/healthcheck/healthcheck.go GatewayAPICRDsMissingError, edge-26.8.3): the CRDs are too large
        for client-side apply's last-applied annotation."""
        self.runner.run(self.kubectl(cluster, "apply", "--server-side", "-f", self.profile.gateway_api_manifest))
        self.runner.run(self.kubectl(cluster, "wait", "--for=condition=established", f"--timeout={WAIT}",
                                     *(f"crd/{plural}.gateway.networking.k8s.io" for plural in manifests.GATEWAY_API_CRDS)))

    def install_linkerd(self, cluster: str) -> None:
        base = pki_dir(self.cfg, self.root)
        if self.profile.linkerd_crds_first:
            self.apply_output(cluster, self.linkerd(cluster, "install", "--crds"))
        self.apply_output(cluster, self.linkerd(
            cluster, "install",
            "--identity-trust-anchors-file", str(roots_path(self.cfg, self.root, cluster)),
            "--identity-issuer-certificate-file", str(base / cluster / "issuer.crt"),
            "--identity-issuer-key-file", str(base / cluster / "issuer.key")))
        # No viz: edge's `multicluster gateways` reads the service mirror's metrics itself
        # (multicluster/cmd/gateways.go, edge-26.8.3; the viz dependency went in linkerd2 PR 8467).
        self.runner.run(self.linkerd(cluster, "check"))

    def fetch_trust_anchors(self, cluster: str, dest: Path) -> None:
        """The guide's `kubectl get cm/linkerd-config -ojsonpath="{.data.global}" | jq ...`, with python3 for jq."""
        if self.profile.trust_roots == "linkerd-config":
            self.runner.run(pipe(
                self.kubectl(cluster, "-n", manifests.LINKERD_NS, "get", "cm/linkerd-config", "-o", "jsonpath={.data.global}"),
                cmd("python3", "-c", "import json,sys; print(json.load(sys.stdin)['identityContext']['trustAnchorsPem'], end='')",
                    stdout_to=dest)))
        else:
            self.runner.run(self.kubectl(cluster, "-n", manifests.LINKERD_NS, "get", "cm/linkerd-identity-trust-roots",
                                         "-o", "jsonpath={.data.ca-bundle\\.crt}", stdout_to=dest))

    def write_bundle(self, dest: Path, sources: list[Path]) -> None:
        """`awk 1` is the guide's `cat` with a newline after any file that lacks its last one: edge's
        trust roots come back from jsonpath trimmed, and `cat` would glue two PEM blocks on one line."""
        self.runner.run(cmd("awk", "1", *(str(s) for s in sources), stdout_to=dest))

    def upgrade_linkerd(self, cluster: str, with_issuer: bool) -> None:
        base = pki_dir(self.cfg, self.root)
        issuer = ["--identity-issuer-certificate-file", str(base / cluster / "issuer.crt"),
                  "--identity-issuer-key-file", str(base / cluster / "issuer.key")] if with_issuer else []
        self.apply_output(cluster, self.linkerd(cluster, "upgrade", "--identity-trust-anchors-file",
                                                str(base / "bundle.crt"), *issuer))
        self.runner.run(self.linkerd(cluster, "check"))

    def restart_workloads(self, cluster: str, workloads: list[tuple[str, str, str]], stamp) -> None:
        def patch_for(value: str) -> str:
            return json.dumps({"spec": {"template": {"metadata": {"annotations": {ROOTS_ANNOTATION: value}}}}})

        for kind, namespace, name in workloads:
            # Only what exists: the bundle runs right after `linkerd`, before the lab's meshed workloads
            # (a printed script for a fresh lab therefore restarts nothing), and patching a missing one fails.
            if self.get(cluster, kind, namespace, name) is None:
                continue
            if isinstance(stamp, Dynamic):
                # inside a double-quoted shell word: escape the JSON's quotes, let $(...) expand
                shell = patch_for("@STAMP@").replace('"', '\\"').replace("@STAMP@", stamp.shell)
                patch = Dynamic(shell, lambda: patch_for(stamp.resolve()))
            else:
                patch = patch_for(str(stamp))
            resource = ROLLOUT_RESOURCE[kind]
            self.runner.run(self.kubectl(cluster, "-n", namespace, "patch", resource, name, "-p", patch))
            self.wait_rollout(cluster, namespace, name, kind)

    def _controller_values(self, cluster: str) -> list[str]:
        """Linkerd 2.18+: the service mirror for each link comes with the extension."""
        if self.cfg.link_command != "link-gen":  # 2.8.1, or links that bring their own controller
            return []
        sources = [link for link in self.cfg.links if link.source == cluster]
        values = []
        for i, link in enumerate(sources):
            values.append(f"controllers[{i}].link.ref.name={link.target}")
            if not link.via_gateway:  # no gateway to probe (values.yaml controllerDefaults.gateway.enabled)
                values.append(f"controllers[{i}].gateway.enabled=false")
            if manifests.headless_exports(self.cfg, link.target):  # off by default (controllerDefaults)
                values.append(f"controllers[{i}].enableHeadlessServices=true")
        return values

    def _helm(self, cluster: str, *args: str) -> Command:
        return cmd("helm", *args, "--kube-context", self.context(cluster))

    def install_multicluster(self, cluster: str) -> None:
        values = self._controller_values(cluster)
        if self.cfg.installer == "helm":
            repo, url, chart, version = helm.chart(self.cfg)
            self.runner.run(cmd("helm", "repo", "add", repo, url))
            self.runner.run(self._helm(cluster, "install", helm.MAIN_RELEASE, chart, "--version", version,
                                       *self._helm_namespace(create=True), *(a for v in values for a in ("--set", v))))
        else:
            self.apply_output(cluster, self.linkerd(cluster, "multicluster", "install",
                                                    *(a for v in values for a in ("--set", v))))
        self.wait_rollout(cluster, manifests.MC_NS, manifests.GATEWAY)

    def _access_accounts(self, target: str, without: str | None = None) -> list[str]:
        """The main release's `remoteMirrorServiceAccountName` list (edge): the default account and one
        per source linked to `target`, in the config's order."""
        sources = [link.source for link in self.cfg.links if link.target == target and link.source != without]
        return [manifests.REMOTE_ACCESS_SA] + sources

    def _helm_accounts_upgrade(self, target: str, accounts: list[str]) -> None:
        """Edge: one release owns the accounts (templates/remote-access-service-mirror-rbac.yaml ranges over the
        list); a second release of the chart would own the Link CRD and the local mirror's RBAC twice."""
        _, _, chart, version = helm.chart(self.cfg)
        self.runner.run(self._helm(target, "upgrade", helm.MAIN_RELEASE, chart, "--version", version,
                                   *self._helm_namespace(), "--reuse-values",
                                   "--set", f"remoteMirrorServiceAccountName={{{','.join(accounts)}}}"))

    def allow_access(self, target: str, source: str) -> None:
        if self.cfg.installer == "helm" and self.profile.helm_access == "values":
            self._helm_accounts_upgrade(target, self._access_accounts(target))
        elif self.cfg.installer == "helm":
            _, _, chart, version = helm.chart(self.cfg)
            self.runner.run(self._helm(target, "install", helm.access_release(source), chart, "--version", version,
                                       *self._helm_namespace(),
                                       *(a for v in helm.access_values(self.cfg, source) for a in ("--set", v))))
        else:
            self.apply_output(target, self.linkerd(target, "multicluster", "allow", "--service-account-name", source))

    def revoke_access(self, target: str, source: str) -> None:
        if self.cfg.installer == "helm" and self.profile.helm_access == "values":
            self._helm_accounts_upgrade(target, self._access_accounts(target, without=source))
        elif self.cfg.installer == "helm":
            self.runner.run(self._helm(target, "uninstall", helm.access_release(source), *self._helm_namespace()))
        else:
            # Not `allow --ignore-cluster ... | kubectl delete -f -`: `allow` renders the extension's Namespace
            # too (templates/namespace.yaml: installNamespace defaults to true in 2.8.1's allow values; edge
            # renders it whenever the CLI renders), and deleting that would remove the whole extension.
            # The account's own objects, by the names the chart gives them (2.8.1's token Secret is made and
            # removed with the account by Kubernetes' token controller, so it is not named here):
            objects = [o for o in manifests.access_objects(self.cfg, source)
                       if not (o["kind"] == "Secret" and not self.profile.link_crd)]
            for namespaced in (False, True):
                names = [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects
                         if ("namespace" in o["metadata"]) == namespaced]
                scope = ["-n", manifests.MC_NS] if namespaced else []
                self.runner.run(self.kubectl(target, *scope, "delete", *names, "--ignore-not-found"))

    def retire_link_controller(self, source: str, target: str) -> None:
        if self.runner.scripting:
            return  # a script starts from no clusters: there is no old controller to find
        super().retire_link_controller(source, target)

    def api_server(self, cluster: str) -> Dynamic:
        """The target's API as the source cluster reaches it: the control-plane container on the
        docker `kind` network, not the host's 127.0.0.1 port in the kubeconfig (kind docs, multi-cluster)."""
        node = self.node_address(cluster)
        return Dynamic(f"https://{node.shell}:6443", lambda: f"https://{node.resolve()}:6443")

    def node_address(self, cluster: str) -> Dynamic:
        node = f"{cluster}-control-plane"
        return Dynamic(f"$(docker inspect -f '{{{{.NetworkSettings.Networks.{KIND_NETWORK}.IPAddress}}}}' {node})",
                       lambda: self.docker.node_address(node))

    def route_pods(self, source: str, target: str) -> None:
        """A flat network between two kind clusters, as Linkerd's own multicluster CI makes one (linkerd2
        justfile mc-flat-network-init, edge-26.8.3): each node routes the other's pod CIDR through the other
        node's address on the docker network. Each cluster here has one node, so its whole pod subnet is that
        node's; `replace` instead of upstream's `add` so a second run changes nothing."""
        for here, there in ((source, target), (target, source)):
            self.runner.run(cmd("docker", "exec", f"{here}-control-plane", "ip", "route", "replace",
                                str(self.cfg.cluster(there).pod_subnet), "via", self.node_address(there)))

    def pods_routed(self, source: str, target: str) -> bool:
        """`ip route show <the other's pod subnet>` on each node names a gateway (`via`): a docker restart loses
        routes added with `ip`, and the next `up` must add them again."""
        for here, there in ((source, target), (target, source)):
            shown = self.runner.run(cmd("docker", "exec", f"{here}-control-plane", "ip", "route", "show",
                                        str(self.cfg.cluster(there).pod_subnet)), check=False)
            if shown.code != 0 or " via " not in f" {shown.stdout}":
                return False
        return True

    def api_server_args(self, target: str) -> list:
        api = self.api_server(target)
        return [Dynamic(f"--api-server-address={api.shell}", lambda: f"--api-server-address={api.resolve()}")]

    def link(self, source: str, target: str, gateway: gateways.Gateway | None, service_account: str | None = None) -> None:
        gw = gateway
        account = ["--service-account-name", service_account] if service_account else []
        # 2.8's link names no gateway (each export's annotations do); link-gen writes one into the Link, or
        # none with --gateway=false (pod-to-pod; multicluster/cmd/link-gen.go, edge-26.8.3).
        if gw is None:
            named = ["--gateway=false"]
        elif not self.profile.link_crd or gw.bundled:
            named = []
        else:
            named = ["--gateway-name", gw.name, "--gateway-namespace", gw.namespace]
        if self.cfg.links_bring_controllers and manifests.headless_exports(self.cfg, target):
            named.append("--set=enableHeadlessServices=true")  # the link chart's value (linkerd-multicluster-link)
        self.apply_output(source, self.linkerd(target, "multicluster", self.cfg.link_command, "--cluster-name", target,
                                               *self.api_server_args(target), *account, *named))
        # The guide's verification after linking; it exits 1 while the clusters' anchors differ. It also
        # fails until the new gateway's first probe: the probe worker runs on a ticker, the first probe one
        # period after the link (edge-26.8.3 multicluster/service-mirror/probe_worker.go), and the check
        # "probe services able to communicate with all gateway mirrors" has no retry deadline
        # (multicluster/cmd/check.go). So the check is repeated for a few probe periods before it counts.
        period = float(self.cfg.probe_period)
        self.runner.retry(self.linkerd(source, *self.profile.mc_check), attempts=LINK_CHECK_ATTEMPTS, interval=period)
        self.runner.run(self.linkerd(source, "multicluster", "gateways"))

    def install_gateway(self, cluster: str, gateway) -> None:
        """The gateway type's own commands (lab/gateways.py): the guide's "Leverage Ambassador" for Ambassador."""
        gateway.install_on_kind(self, cluster)

    # -- observing -------------------------------------------------------------------
    def gateways(self, cluster: str) -> list[GatewayStatus]:
        result = self.runner.run(self.linkerd(cluster, "multicluster", "gateways"), check=False)
        if result.code != 0 or not result.stdout.strip():
            return []
        return cli_output.parse_gateways(result.stdout)

    def check(self, cluster: str) -> list[CheckResult]:
        result = self.runner.run(self.linkerd(cluster, *self.profile.mc_check, "-o", "json"), check=False)
        try:
            return cli_output.parse_check(result.stdout)
        except cli_output.OutputError:
            return [CheckResult("linkerd-check", "check output", "error", (result.stderr.strip() or result.stdout.strip())[-500:])]

    def request(self, cluster: str, namespace: str, deployment: str, url: str, timeout: float = 5.0) -> HttpResult:
        marker = "\n__LAB_STATUS__:"
        # The sample workloads name their curl container after the deployment (fixtures/workloads/client.yaml).
        result = self.runner.run(self.kubectl(cluster, "-n", namespace, "exec", f"deploy/{deployment}", "-c", deployment, "--",
                                              "curl", "-sS", "--max-time", str(int(timeout)), "-D", "/dev/stderr",
                                              "-w", marker + "%{http_code}", url), check=False)
        body, _, status = result.stdout.rpartition(marker)
        if result.code != 0 or not status.strip().isdigit() or status.strip() == "000":
            return HttpResult(error=result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.code}")
        headers = {}
        for line in result.stderr.splitlines()[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return HttpResult(status=int(status), body=body, headers=headers)

    def proxy_metrics(self, cluster: str, namespace: str, deployment: str) -> str:
        return self.runner.run(self.linkerd(cluster, *self.profile.proxy_metrics, "-n", namespace,
                                            f"deploy/{deployment}"), check=False).stdout

    def events(self, cluster: str) -> list[dict]:
        out = self.runner.run(self.kubectl(cluster, "get", "events", "--all-namespaces", "-o", "json"), check=False).stdout
        return json.loads(out)["items"] if out.strip().startswith("{") else []

    def write_diagnostics(self, dest: Path) -> None:
        """`kubectl describe` and logs of the Linkerd and multicluster pods, and the check output as printed."""
        for cluster in self.cfg.cluster_names:
            folder = dest / cluster
            folder.mkdir(exist_ok=True)
            for ns in (manifests.LINKERD_NS, manifests.MC_NS, self.cfg.namespace):
                describe = self.runner.run(self.kubectl(cluster, "-n", ns, "describe", "pods"), check=False)
                (folder / f"describe-{ns}.txt").write_text(describe.stdout + describe.stderr)
                logs = self.runner.run(self.kubectl(cluster, "-n", ns, "logs", "--all-containers", "--prefix",
                                                    "--tail=500", "-l", "linkerd.io/control-plane-ns"), check=False)
                (folder / f"logs-{ns}.txt").write_text(logs.stdout + logs.stderr)
            check = self.runner.run(self.linkerd(cluster, *self.profile.mc_check), check=False)
            (folder / "check.txt").write_text(check.stdout + check.stderr)

    def host_address(self, address: str, port: int) -> tuple[str, int] | None:
        # On Linux the docker `kind` network is routed from the host: LoadBalancer IPs answer directly.
        return address, port
