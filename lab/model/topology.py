"""The lab's topology: its clusters (subnets, LoadBalancer pools, workloads) and the links between them.

What lab.yaml's `clusters:` and `links:` become, the ranges a cluster gets when it names none, and the
checks that look across clusters, links and the workload fixtures. config.py reads the file and calls
these; each problem is a ConfigError naming the field and the fix.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import ConfigError, shown
from .fixtures_dir import WORKLOADS


@dataclass(frozen=True)
class AddressPool:
    """A MetalLB-style address range, first and last address inclusive."""

    first: ipaddress.IPv4Address
    last: ipaddress.IPv4Address

    @classmethod
    def parse(cls, text: str, strict: bool = True) -> "AddressPool":
        """FIRST-LAST or a CIDR, the two forms MetalLB's `addresses` take; ValueError otherwise. MetalLB
        itself reads a CIDR with host bits set as its network (`strict=False`); lab.yaml refuses it."""
        if "/" in text:
            net = ipaddress.IPv4Network(text, strict=strict)
            return cls(net.network_address, net.broadcast_address)
        first, last = (ipaddress.IPv4Address(p.strip()) for p in text.split("-"))
        return cls(first, last)

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def addresses(self):
        for n in range(int(self.first), int(self.last) + 1):
            yield ipaddress.IPv4Address(n)

    def overlaps(self, other: "AddressPool") -> bool:
        return int(self.first) <= int(other.last) and int(other.first) <= int(self.last)

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    pod_subnet: ipaddress.IPv4Network
    service_subnet: ipaddress.IPv4Network
    lb_pool: AddressPool
    workloads: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    context: str | None = None  # an existing kubeconfig context (the contexts backend)
    network: str | None = None  # clusters naming the same network reach each other's pods (a flat network)
    federated: tuple[str, ...] = ()  # services that join `<name>-federated` in the clusters linked to this one


@dataclass(frozen=True)
class LinkConfig:
    """`source` mirrors services that `target` exports (the guide links west to east)."""

    source: str
    target: str
    mode: str = "gateway"  # one of lab.model.profiles.LINK_MODES: how the source reaches what the target exports

    @property
    def via_gateway(self) -> bool:
        return self.mode == "gateway"


POOL_BLOCK = 15  # LoadBalancer addresses a cluster gets by default: the gateway, Ambassador, and room to spare
MAX_DERIVED = 12  # pod subnets 10.244/16 .. 10.255/16; past that a cluster names its own ranges


def derived_ranges(index: int) -> dict[str, str] | None:
    """The ranges of the cluster at position `index` (0-based) that names none: pods 10.(244+i).0.0/16,
    services 10.(96+i).0.0/16 (kind's defaults for the first cluster, kind.x-k8s.io/v1alpha4), and a
    LoadBalancer block of 15 from the top of the kind network: three per /24 at .200-.244, counting down
    from 172.18.255.0/24. The same position gives the same ranges whatever the cluster is called."""
    if not 0 <= index < MAX_DERIVED:
        return None
    first = int(ipaddress.IPv4Address(f"172.18.{255 - index // 3}.200")) + POOL_BLOCK * (index % 3)
    return {"pod_subnet": f"10.{244 + index}.0.0/16", "service_subnet": f"10.{96 + index}.0.0/16",
            "lb_pool": f"{ipaddress.IPv4Address(first)}-{ipaddress.IPv4Address(first + POOL_BLOCK - 1)}"}


def check_link_reachable(link: LinkConfig, i: int, clusters: dict[str, ClusterConfig], earlier: list[LinkConfig],
                         source: str) -> None:
    """Pod-to-pod needs the source's pods to reach the target's (the clusters share a network); and a target's
    exports carry one `mirror.linkerd.io/exported` value, so every link into it must use the same mode."""
    a, b = clusters[link.source], clusters[link.target]
    flat = a.network is not None and a.network == b.network
    if link.mode == "remote-discovery" and not flat:
        raise ConfigError(f"links[{i}].mode", f"remote-discovery needs {link.source}'s pods to reach {link.target}'s, "
                          f"but the two are not on one flat network ({a.network or 'none'} and {b.network or 'none'})",
                          f"give both clusters the same `network:` (e.g. network: flat), or use mode gateway", source)
    if b.federated and not flat:  # federated members are reached pod-to-pod, like remote-discovery
        raise ConfigError(f"clusters.{b.name}.federated", f"federated services are reached pod-to-pod, and {link.source}, "
                          f"linked to {b.name}, is not on its flat network ({a.network or 'none'} and {b.network or 'none'})",
                          f"give both clusters the same `network:` (e.g. network: flat)", source)
    for other in earlier:
        if other.target == link.target and other.mode != link.mode:
            raise ConfigError(f"links[{i}].mode", f"{link.target}'s exports are marked for {other.mode} by the link from "
                              f"{other.source}, and a service carries one mirror.linkerd.io/exported value",
                              f"use mode {other.mode} for every link to {link.target}", source)


# Ranges no cluster network may use: a pod, Service or LoadBalancer address there never reaches a node.
SPECIAL_RANGES = {
    "loopback": ipaddress.IPv4Network("127.0.0.0/8"),
    "link-local": ipaddress.IPv4Network("169.254.0.0/16"),
    "multicast": ipaddress.IPv4Network("224.0.0.0/4"),
    "reserved": ipaddress.IPv4Network("240.0.0.0/4"),
    '"this network"': ipaddress.IPv4Network("0.0.0.0/8"),
}
EXAMPLES = {"pod_subnet": "10.244.0.0/16", "service_subnet": "10.96.0.0/16", "lb_pool": "172.18.255.200-172.18.255.214"}
# The node takes a /24 of the pod subnet: kube-controller-manager's --node-cidr-mask-size-ipv4 is 24 (kind and
# kubeadm keep it), and a cluster CIDR smaller than that leaves no node CIDR to allocate, so the node never
# gets pod addresses (pkg/controller/nodeipam/ipam/cidrset/cidr_set.go NewCIDRSet: 1 << (24 - mask) CIDRs).
NODE_CIDR_PREFIX = 24
# The API server refuses a Service range of more than 20 host bits ("specified --service-cluster-ip-range
# is too large; for 32-bit addresses, the mask must be >= 12", cmd/kube-apiserver/app/options/validation.go).
MAX_SERVICE_HOST_BITS = 20
# kube-dns takes the 10th address of the Service range (kubeadm's GetDNSIP), and the lab alone creates some
# 20 Services per cluster on kind (Linkerd, the extension, MetalLB's webhook, gateways, workloads, mirrors): a /24 leaves room.
MIN_SERVICE_PREFIX = 24
# Namespaces the demo workloads may not take: Kubernetes' own, and those the lab installs into. Linkerd's
# proxy injector skips them (its namespaceSelector leaves out kube-system; its own namespaces are labelled
# config.linkerd.io/admission-webhooks: disabled), so the demo pods would run unmeshed beside the control planes.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


def _ranges(c: ClusterConfig) -> list[tuple[str, int, int, str]]:
    return [(key, int(getattr(c, key).network_address), int(getattr(c, key).broadcast_address), str(getattr(c, key)))
            for key in ("pod_subnet", "service_subnet")] + [("lb_pool", int(c.lb_pool.first), int(c.lb_pool.last), str(c.lb_pool))]


def check_ranges(c: ClusterConfig, source: str) -> None:
    """What a real cluster cannot run on: special-purpose ranges, and subnets too small or too large."""
    for key, first, last, text in _ranges(c):
        for what, special in SPECIAL_RANGES.items():
            if first <= int(special.broadcast_address) and int(special.network_address) <= last:
                raise ConfigError(f"clusters.{c.name}.{key}", f"{text} reaches into the {what} range {special}, "
                                  "which no cluster network can use", f"use a private range, e.g. {EXAMPLES[key]}", source)
    if c.pod_subnet.prefixlen > NODE_CIDR_PREFIX:
        raise ConfigError(f"clusters.{c.name}.pod_subnet", f"{c.pod_subnet} is smaller than the /{NODE_CIDR_PREFIX} "
                          "each node takes from it, so the node would get no pod addresses",
                          f"use a /{NODE_CIDR_PREFIX} or larger, e.g. {EXAMPLES['pod_subnet']}", source)
    if 32 - c.service_subnet.prefixlen > MAX_SERVICE_HOST_BITS:
        raise ConfigError(f"clusters.{c.name}.service_subnet", f"{c.service_subnet} is larger than the API server "
                          f"accepts (the mask must be /{32 - MAX_SERVICE_HOST_BITS} or longer)",
                          f"use e.g. {EXAMPLES['service_subnet']}", source)
    if c.service_subnet.prefixlen > MIN_SERVICE_PREFIX:
        raise ConfigError(f"clusters.{c.name}.service_subnet", f"{c.service_subnet} holds {c.service_subnet.num_addresses} "
                          "addresses, too few for kube-dns (the 10th address) and the Services the lab creates",
                          f"use a /{MIN_SERVICE_PREFIX} or larger, e.g. {EXAMPLES['service_subnet']}", source)


def check_namespace(namespace: str, reserved: tuple[str, ...], source: str) -> None:
    if namespace in SYSTEM_NAMESPACES or namespace in reserved:
        raise ConfigError("namespace", f"{namespace} belongs to Kubernetes or to what the lab installs, where Linkerd "
                          "injects no proxy; the demo workloads need their own", "use e.g. mc-demo", source)


def check_pool_outside_subnets(c: ClusterConfig, clusters: list[ClusterConfig], source: str) -> None:
    """MetalLB hands out addresses on the node network; inside the pod or service subnet they would collide."""
    for key in ("pod_subnet", "service_subnet"):
        net = getattr(c, key)
        if int(c.lb_pool.first) <= int(net.broadcast_address) and int(net.network_address) <= int(c.lb_pool.last):
            raise ConfigError(f"clusters.{c.name}.lb_pool", f"{c.lb_pool} lies inside the cluster's {key} {net}",
                              "take the range from the node network (kind: the top of the docker `kind` network), "
                              f"e.g. {free_example('lb_pool', clusters)}", source)


# workload -> ((mtime_ns, size) of its file, [(service name, headless)]): every parse of a config asks up to
# three times per cluster, and reading the YAML is most of a parse's cost (~65 ms of it for the default lab).
_FIXTURE_SERVICES: dict[str, tuple[tuple[int, int], list[tuple[str, bool]]]] = {}


def _fixture_service_names(workload: str) -> list[tuple[str, bool]]:
    """(name, headless) of each Service the workload fixture defines, read again only when its file changes."""
    path = WORKLOADS / f"{workload}.yaml"
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _FIXTURE_SERVICES.get(workload)
    if cached is None or cached[0] != stamp:
        import yaml  # noqa: PLC0415 - the lab process imports this module for AddressPool alone

        text = path.read_text().replace("$namespace", "ns").replace("$cluster", "c")
        services = [(d["metadata"]["name"], d.get("spec", {}).get("clusterIP") == "None")
                    for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind") == "Service"]
        cached = _FIXTURE_SERVICES[workload] = (stamp, services)
    return cached[1]


def fixture_services(workload: str) -> list[str]:
    """The Services a workload fixture defines (what can be exported by bare name)."""
    return [name for name, _ in _fixture_service_names(workload)]


def fixture_headless_services(workload: str) -> list[str]:
    """Those of them that are headless (clusterIP None)."""
    return [name for name, headless in _fixture_service_names(workload) if headless]


def check_workloads_and_exports(c: ClusterConfig, source: str) -> None:
    known = sorted(p.stem for p in WORKLOADS.glob("*.yaml"))
    for name in c.workloads:
        if name not in known:
            raise ConfigError(f"clusters.{c.name}.workloads", f"{shown(name)} is not a workload fixture",
                              f"use one of: {', '.join(known)} (fixtures/workloads/)", source)
    services = {svc for w in c.workloads for svc in fixture_services(w)}
    for key, names in (("exports", c.exports), ("federated", c.federated)):
        for name in names:
            if "/" in name:
                continue  # a service of the user's own, in a namespace of theirs: the export step checks it exists
            if name not in services:
                offered = ", ".join(sorted(services)) or "none: the cluster runs no workload with a Service"
                raise ConfigError(f"clusters.{c.name}.{key}", f"{shown(name)} is not a Service of this cluster's workloads",
                                  f"offer one of them ({offered}), or add the workload that defines it", source)


def free_example(key: str, clusters: list[ClusterConfig]) -> str:
    """A range for `key` that overlaps nothing the clusters use, for a Fix: to offer."""
    taken = [r for c in clusters for r in _ranges(c)]
    for index in range(MAX_DERIVED):
        text = derived_ranges(index)[key]
        pool = AddressPool.parse(text)
        if not any(int(pool.first) <= last and first <= int(pool.last) for _, first, last, _ in taken):
            return text
    return EXAMPLES[key]


def check_disjoint(clusters: list[ClusterConfig], source: str) -> None:
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for c in clusters:
        for key in ("pod_subnet", "service_subnet"):
            net = getattr(c, key)
            for other_path, other in seen:
                if net.overlaps(other):
                    raise ConfigError(
                        f"clusters.{c.name}.{key}", f"{net} overlaps {other_path} ({other})",
                        f"give every cluster its own pod and service subnets, e.g. {free_example(key, clusters)}", source,
                    )
            seen.append((f"clusters.{c.name}.{key}", net))
    for c in clusters:  # another cluster's pods or Services would answer on a LoadBalancer address
        for other in clusters:
            for key in ("pod_subnet", "service_subnet"):
                net = getattr(other, key)
                if other is not c and c.lb_pool.overlaps(AddressPool(net.network_address, net.broadcast_address)):
                    raise ConfigError(f"clusters.{c.name}.lb_pool", f"{c.lb_pool} lies inside clusters.{other.name}.{key} ({net})",
                                      "take the range from the node network (kind: the top of the docker `kind` network), "
                                      f"e.g. {free_example('lb_pool', clusters)}", source)
    for i, c in enumerate(clusters):
        for other in clusters[:i]:
            if c.lb_pool.overlaps(other.lb_pool):
                raise ConfigError(
                    f"clusters.{c.name}.lb_pool", f"{c.lb_pool} overlaps clusters.{other.name}.lb_pool ({other.lb_pool})",
                    f"give each cluster a disjoint LoadBalancer range, e.g. {free_example('lb_pool', clusters)}", source,
                )
