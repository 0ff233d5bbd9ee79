"""Real clusters from kind: created and deleted with the kind CLI, on the docker `kind` network.

Every external call goes through a runner (lab/tools/run.py), so the same methods
run the tools, record them in tests, or print them as a shell script
(`inv plan --backend kind --format sh`). Contexts are kind's own
(`kind-<cluster>`); KUBECONFIG lists one kubeconfig file per cluster, so the
commands read as the guide's (`linkerd --context=kind-east ...`). The
cluster API (lab/backends/kubectl.py) and the installers
(lab/backends/real_install.py) run through this provider's runner.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..model.config import AddressPool, LabConfig
from ..tools.run import Dynamic, Runner, cmd
from .base import LabError
from .kubectl import WAIT
from .real import ToolProvider, tool_bin

if TYPE_CHECKING:
    from pytest_kind import KindCluster

KIND_NETWORK = "kind"
KIND_DEFAULT_SUBNET = "172.18.0.0/16"  # what kind creates when the network does not exist yet
POOL_SIZE = 25  # LoadBalancer addresses per cluster, taken from the top of the kind network


def pytest_kind_cluster(backend: "KindProvider", cluster: str) -> KindCluster:
    """pytest-kind's KindCluster for one of the lab's kind clusters, constructed as designed, for scenarios
    (its `kubectl()` and `port_forward()`). It is given the lab's kubeconfig and the pinned tools from
    `./labctl tools` (or PATH), so it downloads nothing; its `.pytest-kind/<name>` directory goes under
    the lab's state, not the working directory. Creating and deleting clusters stays with the backend's
    runner, which records and scripts them and passes kind's `--wait`."""
    from pytest_kind import KindCluster  # noqa: PLC0415 - with pykube and requests-oauthlib: 0.03 CPU-s every command on kind would pay

    tools = {}
    for tool in ("kind", "kubectl"):
        pinned = tool_bin(backend.root) / tool
        found = pinned if pinned.exists() else shutil.which(tool)
        if not found:
            raise LabError(f"pytest-kind needs `{tool}` and would download an unpinned one. Fix: run `./labctl tools`")
        tools[tool] = Path(found)
    backend.kind_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(backend.kind_dir):  # KindCluster makes .pytest-kind/<name> in the working directory
        made = KindCluster(cluster, kubeconfig=backend.kubeconfig(cluster).resolve(), image=backend.cfg.profile.node_image,
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



class KindProvider(ToolProvider):
    name = "kind"

    def __init__(self, backend, runner=None, docker: DockerFacts | None = None):
        self.backend = backend
        # Tools from `inv tools` (pinned, verified) come first on PATH.
        path = os.pathsep.join([str(tool_bin(self.root)), os.environ.get("PATH", "")])
        super().__init__(backend, runner or Runner(env={**os.environ, "KUBECONFIG": self.kubeconfig_path(), "PATH": path}))
        self._docker = docker

    # -- paths and names -----------------------------------------------------------
    @property
    def kind_dir(self) -> Path:
        return self.backend.state_dir / "kind"

    def kubeconfig(self, cluster: str) -> Path:
        return self.kind_dir / f"{cluster}.kubeconfig"

    def kubeconfig_path(self) -> str:
        return os.pathsep.join(str(self.kubeconfig(c)) for c in self.cfg.cluster_names)

    def context(self, cluster: str) -> str:
        return f"kind-{cluster}"

    @property
    def docker(self) -> DockerFacts:
        if self._docker is None:
            self._docker = DockerFacts()
        return self._docker

    # -- lifecycle -----------------------------------------------------------------
    def preflight(self) -> None:
        """kind's nodes can start here (cgroups), then every tool at the profile's version."""
        if not isinstance(self.runner, Runner):
            return  # recording or scripting: nothing will run
        from .doctor import cgroup_findings, cgroup_version

        cgroups = cgroup_findings(self.cfg.profile, cgroup_version(self.docker.info()))
        if not cgroups[0].ok:
            raise LabError(f"kind cannot start the {self.cfg.profile.name} clusters here: {cgroups[0].detail}. Fix: {cgroups[0].fix}")
        super().preflight()

    def cluster_exists(self, cluster: str) -> bool:
        out = self.runner.run(cmd("kind", "get", "clusters")).stdout
        return cluster in out.split() and self.kubeconfig(cluster).exists()

    def create_cluster(self, cluster: str) -> None:
        config = self.kind_dir / f"{cluster}.kind.yaml"
        self.runner.write_file(config, kind_config(self.cfg, cluster))
        self.runner.run(cmd("kind", "create", "cluster", f"--name={cluster}", f"--kubeconfig={self.kubeconfig(cluster)}",
                            f"--image={self.cfg.profile.node_image}", "--config", str(config), "--wait", WAIT))

    def destroy(self) -> list[str]:
        removed = []
        existing = self.runner.run(cmd("kind", "get", "clusters"), check=False).stdout.split()
        for cluster in self.cfg.cluster_names:
            if cluster in existing:
                self.runner.run(cmd("kind", "delete", "cluster", f"--name={cluster}", f"--kubeconfig={self.kubeconfig(cluster)}"))
                removed.append(f"kind cluster {cluster}")
        self.forget_readers()
        return removed

    def running(self) -> bool:
        existing = self.runner.run(cmd("kind", "get", "clusters"), check=False).stdout.split()
        return all(c in existing for c in self.cfg.cluster_names)


    def lb_pool(self, cluster: str) -> AddressPool:
        """This cluster's range at the top of the docker `kind` network (the kind default in a script)."""
        subnet = None if self.runner.scripting else self.docker.subnet()  # a script reads the network when run
        subnet = subnet or ipaddress.IPv4Network(KIND_DEFAULT_SUBNET)
        return pools_for(subnet, len(self.cfg.clusters))[self.cfg.cluster_names.index(cluster)]


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
        """`link`'s flag for the target's API as the source cluster reaches it: the control-plane container on the
        docker `kind` network, not the host's 127.0.0.1 port in the kubeconfig (kind docs, multi-cluster)."""
        node = self.node_address(target)
        return [Dynamic(f"--api-server-address=https://{node.shell}:6443",
                        lambda: f"--api-server-address=https://{node.resolve()}:6443")]
