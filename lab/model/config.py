"""LabConfig: the lab's topology, typed and validated once, from lab.yaml.

Every problem a user can put in the file comes back as one ConfigError that
names the field and says how to fix it; nothing past this module has to
re-check the values. The clusters and links themselves, the ranges a cluster
gets by default and the checks across them are in topology.py.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import gateways, topology
from .. import names as upstream_names
from ..errors import ConfigError, LabError, one_of, shown
from .fixtures_dir import WORKLOADS
from .profiles import DEFAULT_PROFILE, LINK_MODES, MODES, PROFILES, Profile
from .topology import MAX_DERIVED, AddressPool, ClusterConfig, LinkConfig, derived_ranges

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


MAX_FILE_BYTES = 64 * 1024  # a lab.yaml is a few hundred bytes; anything this big is a mistake
MAX_DEPTH = 16  # lab.yaml nests four levels deep


@dataclass(frozen=True)
class TrustConfig:
    """Where the trust anchor comes from: generated (default) or an existing one."""

    anchor_cert: Path | None = None
    anchor_key: Path | None = None
    # shared: one anchor for every cluster. bundle: the guide's Trust Anchor Bundle: the existing
    # cluster keeps its own anchor (whose key is gone), the others get a new one, all trust the bundle.
    mode: str = "shared"


@dataclass(frozen=True)
class LabConfig:
    name: str
    clusters: tuple[ClusterConfig, ...]
    links: tuple[LinkConfig, ...]
    trust_domain: str = "cluster.local"
    namespace: str = "mc-demo"
    gateway: str = "linkerd"
    probe_period: int = 3
    trust: TrustConfig = field(default_factory=TrustConfig)
    profile_name: str = DEFAULT_PROFILE
    installer: str = "cli"  # the multicluster components by `linkerd multicluster install`, or by Helm
    link_with: str | None = None  # "link-gen" (2.18+) or the deprecated "link"; None: the profile's own
    apiext_wait: int = 300  # seconds the kind backend waits for Emissary's conversion webhook (gateways.Emissary)

    @property
    def link_command(self) -> str:
        """`link-gen` (the extension runs each link's controller) or `link` (each link brings its own)."""
        return self.link_with or self.profile.link_command

    @property
    def links_bring_controllers(self) -> bool:
        """The deprecated `link` on a release with Link objects: each link's output carries its own controller,
        and `multicluster install` runs none (2.8.1's one mirror comes with the install either way)."""
        return self.profile.link_crd and self.link_command == "link"

    @property
    def profile(self) -> Profile:
        return PROFILES[self.profile_name]

    def cluster(self, name: str) -> ClusterConfig:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def cluster_names(self) -> list[str]:
        return [c.name for c in self.clusters]

    def export_mode(self, cluster: str) -> str:
        """How `cluster`'s exports are marked: one mode for all links into it (the export label has one value)."""
        return next((link.mode for link in self.links if link.target == cluster), "gateway")

    def federated(self, cluster: str) -> list[tuple[str, str]]:
        """(namespace, name) of each service `cluster` offers as a federated member."""
        return self._qualified(self.cluster(cluster).federated)

    def exported(self, cluster: str) -> list[tuple[str, str]]:
        """(namespace, name) of each service `cluster` exports."""
        return self._qualified(self.cluster(cluster).exports)

    def _qualified(self, services: tuple[str, ...]) -> list[tuple[str, str]]:
        """`namespace/name` or a bare name, which is in the lab's namespace."""
        return [tuple(e.split("/", 1)) if "/" in e else (self.namespace, e) for e in services]

    def state_dir(self, root: Path | None = None) -> Path:
        """Everything the lab writes lives here; two labs with different names never share it."""
        return (root or Path.cwd()) / ".lab" / self.name

    def identity(self, serviceaccount: str, namespace: str) -> str:
        return upstream_names.identity(serviceaccount, namespace, self.trust_domain)


DEFAULT = {
    "name": "lab",
    "trust_domain": "cluster.local",
    "namespace": "mc-demo",
    "gateway": "linkerd",
    "probe_period": 3,
    "apiext_wait": 300,
    "profile": DEFAULT_PROFILE,
    "clusters": {
        # The guide's roles: east serves and exports foobar, west runs the client. Their subnets and
        # pools, like any cluster's that leaves them out, come from their position (derived_ranges).
        "east": {"workloads": ["foobar"], "exports": ["foobar"]},
        "west": {"workloads": ["client"], "exports": []},
    },
    "links": [{"from": "west", "to": "east"}],
}

TOP_KEYS = {"name", "trust_domain", "namespace", "gateway", "probe_period", "profile", "installer", "clusters", "links", "trust",
            "link_with", "apiext_wait"}
LINK_COMMANDS = ("link-gen", "link")
INSTALLERS = ("cli", "helm")
CLUSTER_KEYS = {"pod_subnet", "service_subnet", "lb_pool", "workloads", "exports", "context", "network", "federated"}
LINK_KEYS = {"from", "to", "mode"}
TRUST_KEYS = {"anchor_cert", "anchor_key", "mode"}
TRUST_MODES = ("shared", "bundle")
def _key(key: Any) -> str:
    """A key as a field path shows it, cut like values."""
    text = str(key)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(keys, allowed, where: str, source: str) -> None:
    for key in keys:
        if key not in allowed:
            raise ConfigError(
                f"{where}{_key(key)}", "unknown key", f"use one of: {', '.join(sorted(allowed))}", source
            )


def _network(value: Any, path: str, source: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(value), strict=True)
    except ValueError:
        raise ConfigError(path, f"{shown(value)} is not an IPv4 subnet", "write it as CIDR, e.g. 10.244.0.0/16", source) from None


def _pool(value: Any, path: str, source: str) -> AddressPool:
    text = str(value)
    try:
        pool = AddressPool.parse(text)
    except ValueError:
        raise ConfigError(
            path, f"{shown(value)} is not an address range", "write FIRST-LAST (172.18.255.200-172.18.255.214) or a CIDR", source
        ) from None
    if pool.size < 1:
        raise ConfigError(path, f"range {text} ends before it starts", "put the lower address first", source)
    return pool


def _string_list(value: Any, path: str, source: str, problem: str, example: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, problem, f"write e.g. {example}", source)
    return value


def _once_each(values: list[str], path: str, source: str, what: str) -> tuple[str, ...]:
    seen: set[str] = set()
    for v in values:  # one pass: a list of 200,000 names must not take quadratic time
        if v in seen:
            raise ConfigError(path, f"names {shown(v)} more than once", f"list each {what} once", source)
        seen.add(v)
    return tuple(values)


def _names(value: Any, path: str, source: str) -> tuple[str, ...]:
    names = _string_list(value, path, source, "must be a list of names", "[foobar]")
    for v in names:
        if not DNS_LABEL.match(v):
            raise ConfigError(path, f"{shown(v)} is not a valid Kubernetes name", "use lower-case letters, digits and '-'", source)
    return _once_each(names, path, source, "name")


def _exports(value: Any, path: str, source: str) -> tuple[str, ...]:
    """Service names: `name` (in the lab's namespace) or `namespace/name`."""
    names = _string_list(value, path, source, "must be a list of names (service, or namespace/service)",
                         "[foobar, payments/api]")
    for v in names:
        parts = v.split("/")
        if len(parts) > 2 or not all(DNS_LABEL.match(part) for part in parts):
            raise ConfigError(path, f"{shown(v)} is not a service name or namespace/name",
                              "use lower-case letters, digits and '-', e.g. foobar or payments/api", source)
    return _once_each(names, path, source, "service")


def _context(value: Any, path: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"{shown(value)} is not a kubeconfig context name", "use a name from `kubectl config get-contexts`", source)
    return value


def parse(data: Any, source: str = "lab.yaml") -> LabConfig:
    """Build a LabConfig from parsed YAML; missing keys take the defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("(top level)", "must be a mapping of keys to values", "see the README's lab.yaml example", source)
    _unknown(data, TOP_KEYS, "", source)

    name = data.get("name", DEFAULT["name"])
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        raise ConfigError("name", f"{shown(name)} is not a DNS label", "use lower-case letters, digits and '-'", source)
    domain = data.get("trust_domain", DEFAULT["trust_domain"])
    if not isinstance(domain, str) or not DNS_NAME.match(domain):
        raise ConfigError("trust_domain", f"{shown(domain)} is not a DNS name", "use e.g. cluster.local", source)
    namespace = data.get("namespace", DEFAULT["namespace"])
    if not isinstance(namespace, str) or not DNS_LABEL.match(namespace):
        raise ConfigError("namespace", f"{shown(namespace)} is not a DNS label", "use lower-case letters, digits and '-'", source)
    installs_into = (upstream_names.LINKERD_NS, upstream_names.MC_NS, upstream_names.METALLB_NS,
                     *(gateways.for_profile(p, g).namespace for p in PROFILES.values() for g in gateways.gateway_types()))
    topology.check_namespace(namespace, installs_into, source)
    gateway = data.get("gateway", DEFAULT["gateway"])
    if not isinstance(gateway, str) or gateway not in gateways.gateway_types():
        raise ConfigError("gateway", f"{shown(gateway)} is not a known gateway", f"use one of: {', '.join(gateways.gateway_types())}",
                          source)
    period = data.get("probe_period", DEFAULT["probe_period"])
    if not isinstance(period, int) or isinstance(period, bool) or not 1 <= period <= 300:
        raise ConfigError("probe_period", f"{shown(period)} is not a whole number of seconds from 1 to 300", "use e.g. 3", source)
    apiext_wait = data.get("apiext_wait", DEFAULT["apiext_wait"])
    if not isinstance(apiext_wait, int) or isinstance(apiext_wait, bool) or not 10 <= apiext_wait <= 3600:
        raise ConfigError("apiext_wait", f"{shown(apiext_wait)} is not a whole number of seconds from 10 to 3600", "use e.g. 300",
                          source)

    installer = data.get("installer", "cli")
    if not isinstance(installer, str) or installer not in INSTALLERS:
        raise ConfigError("installer", f"{shown(installer)} is not an installer", f"use one of: {', '.join(INSTALLERS)}", source)
    profile = data.get("profile", DEFAULT["profile"])
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError("profile", f"{shown(profile)} is not a known profile", f"use one of: {', '.join(PROFILES)}", source)
    link_with = data.get("link_with")
    if link_with is not None and (not isinstance(link_with, str) or link_with not in LINK_COMMANDS):
        raise ConfigError("link_with", f"{shown(link_with)} is not a link command", f"use one of: {', '.join(LINK_COMMANDS)}", source)
    if link_with == "link-gen":
        _refuse_newer_mode(profile, "link-gen", "link_with", "or leave link_with out", source)
    if link_with == "link" and installer == "helm" and PROFILES[profile].link_crd:
        raise ConfigError("link_with", "the deprecated `link` brings each link's controller outside the Helm release",
                          "use link_with: link-gen with the Helm installer, or the cli installer", source)

    raw_clusters = data.get("clusters", DEFAULT["clusters"])
    if not isinstance(raw_clusters, dict) or not raw_clusters:
        raise ConfigError("clusters", "must map cluster names to their settings", "see the README's lab.yaml example", source)
    clusters: list[ClusterConfig] = []
    for index, (cname, raw) in enumerate(raw_clusters.items()):
        if not isinstance(cname, str) or not DNS_LABEL.match(cname):
            raise ConfigError(f"clusters.{_key(cname)}", f"{shown(cname)} is not a DNS label", "name clusters with lower-case letters, digits and '-'", source)
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"clusters.{cname}", "must be a mapping", "see the README's lab.yaml example", source)
        _unknown(raw, CLUSTER_KEYS, f"clusters.{cname}.", source)
        fallback = {**(derived_ranges(index) or {}), **DEFAULT["clusters"].get(cname, {})}
        for key in ("pod_subnet", "service_subnet", "lb_pool"):
            if key not in raw and key not in fallback:
                raise ConfigError(f"clusters.{cname}.{key}", f"is required: the lab derives ranges for the first {MAX_DERIVED} "
                                  f"clusters only, and this is cluster {index + 1}", f"set {key}", source)
        clusters.append(
            ClusterConfig(
                name=cname,
                pod_subnet=_network(raw.get("pod_subnet", fallback.get("pod_subnet")), f"clusters.{cname}.pod_subnet", source),
                service_subnet=_network(raw.get("service_subnet", fallback.get("service_subnet")), f"clusters.{cname}.service_subnet", source),
                lb_pool=_pool(raw.get("lb_pool", fallback.get("lb_pool")), f"clusters.{cname}.lb_pool", source),
                workloads=_names(raw.get("workloads", fallback.get("workloads")), f"clusters.{cname}.workloads", source),
                exports=_exports(raw.get("exports", fallback.get("exports")), f"clusters.{cname}.exports", source),
                context=_context(raw.get("context"), f"clusters.{cname}.context", source),
                network=_network_name(raw.get("network"), f"clusters.{cname}.network", source),
                federated=_exports(raw.get("federated"), f"clusters.{cname}.federated", source),
            )
        )
    for c in clusters:
        if c.federated:
            _refuse_newer_mode(profile, "federated", f"clusters.{c.name}.federated", "or leave federated out", source)
        if set(c.exports) & {s for w in c.workloads if (WORKLOADS / f"{w}.yaml").exists() for s in topology.fixture_headless_services(w)}:
            _refuse_newer_mode(profile, "headless", f"clusters.{c.name}.exports", "or export no headless service", source)
    for c in clusters:
        topology.check_ranges(c, source)
    topology.check_disjoint(clusters, source)
    for c in clusters:
        topology.check_pool_outside_subnets(c, clusters, source)
        topology.check_workloads_and_exports(c, source)
    for c in clusters:
        # An exporting cluster may switch to any gateway type (`./labctl gateway TYPE`); each one that is not
        # the bundled gateway runs its own LoadBalancer beside it.
        switchable = [gateways.for_profile(PROFILES[profile], t) for t in gateways.gateway_types()]
        wanted = [upstream_names.GATEWAY] + ([g.name for g in switchable if not g.bundled] if c.exports else [])
        if c.lb_pool.size < len(wanted):
            raise ConfigError(
                f"clusters.{c.name}.lb_pool", f"{c.lb_pool} holds {c.lb_pool.size} address(es), but the lab asks for "
                f"{len(wanted)} LoadBalancer(s) there ({', '.join(wanted)})", f"widen the range to at least {len(wanted)} addresses, e.g. {c.lb_pool.first}-"
                f"{ipaddress.IPv4Address(int(c.lb_pool.first) + len(wanted) - 1)}", source)

    raw_links = data.get("links", DEFAULT["links"])
    if not isinstance(raw_links, list):
        raise ConfigError("links", "must be a list", "write e.g. [{from: west, to: east}]", source)
    names = {c.name for c in clusters}
    links: list[LinkConfig] = []
    for i, raw in enumerate(raw_links):
        if not isinstance(raw, dict):
            raise ConfigError(f"links[{i}]", "must be a mapping with 'from' and 'to'", "write e.g. {from: west, to: east}", source)
        _unknown(raw, LINK_KEYS, f"links[{i}].", source)
        for key in ("from", "to"):
            if not isinstance(raw.get(key), str) or raw.get(key) not in names:
                raise ConfigError(f"links[{i}].{key}", f"{shown(raw.get(key))} is not a cluster of this lab", f"use one of: {', '.join(sorted(names))}", source)
        if raw["from"] == raw["to"]:
            raise ConfigError(f"links[{i}]", "links a cluster to itself", "link two different clusters", source)
        mode = raw.get("mode", "gateway")
        if not isinstance(mode, str) or mode not in LINK_MODES:
            raise ConfigError(f"links[{i}].mode", f"{shown(mode)} is not a link mode", f"use one of: {', '.join(LINK_MODES)}", source)
        _refuse_newer_mode(profile, mode, f"links[{i}].mode", "or mode gateway", source)
        if any((l.source, l.target) == (raw["from"], raw["to"]) for l in links):
            raise ConfigError(f"links[{i}]", "repeats an earlier link", "remove the duplicate", source)
        link = LinkConfig(source=raw["from"], target=raw["to"], mode=mode)
        topology.check_link_reachable(link, i, {c.name: c for c in clusters}, links, source)
        links.append(link)

    raw_trust = data.get("trust") or {}
    if not isinstance(raw_trust, dict):
        raise ConfigError("trust", "must be a mapping", "write anchor_cert and anchor_key paths, or leave it out", source)
    _unknown(raw_trust, TRUST_KEYS, "trust.", source)
    if bool(raw_trust.get("anchor_cert")) != bool(raw_trust.get("anchor_key")):
        raise ConfigError("trust", "anchor_cert and anchor_key go together", "give both paths, or neither to generate an anchor", source)
    mode = raw_trust.get("mode", "shared")
    if not isinstance(mode, str) or mode not in TRUST_MODES:
        raise ConfigError("trust.mode", f"{shown(mode)} is not a trust mode", f"use one of: {', '.join(TRUST_MODES)}", source)
    if mode == "bundle" and raw_trust.get("anchor_cert"):
        raise ConfigError("trust.anchor_cert", "cannot be used with mode bundle, which makes each cluster's anchor",
                          "leave anchor_cert and anchor_key out, or use mode shared", source)
    trust = TrustConfig(
        anchor_cert=_pem_file(raw_trust.get("anchor_cert"), "trust.anchor_cert", "CERTIFICATE", source),
        anchor_key=_pem_file(raw_trust.get("anchor_key"), "trust.anchor_key", "PRIVATE KEY", source),
        mode=mode,
    )

    return LabConfig(
        name=name,
        clusters=tuple(clusters),
        links=tuple(links),
        trust_domain=domain,
        namespace=namespace,
        gateway=gateway,
        probe_period=period,
        apiext_wait=apiext_wait,
        trust=trust,
        profile_name=profile,
        installer=installer,
        link_with=link_with,
    )


def _refuse_newer_mode(profile: str, mode: str, path: str, alternative: str, source: str) -> None:
    if mode not in PROFILES[profile].modes:
        raise ConfigError(path, f"{mode} came with Linkerd {MODES[mode]}, and profile {profile} runs Linkerd "
                          f"{PROFILES[profile].linkerd}", f"use profile {DEFAULT_PROFILE}, {alternative}", source)


def _network_name(value: Any, path: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not DNS_LABEL.match(value):
        raise ConfigError(path, f"{shown(value)} is not a network name", "use lower-case letters, digits and '-', e.g. flat", source)
    return value


def _pem_file(value: Any, path: str, label: str, source: str) -> Path | None:
    """A file the lab will read later, checked now: a readable regular file holding a PEM `label` block."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 4096 or "\0" in value:
        raise ConfigError(path, f"{shown(value)} is not a file path", "write the path of a PEM file", source)
    file = Path(value)
    if not file.exists():
        raise ConfigError(path, f"{shown(value)} does not exist", "write the path of an existing PEM file", source)
    if not file.is_file():
        raise ConfigError(path, f"{shown(value)} is not a regular file", "write the path of a PEM file", source)
    try:
        with open(file, "rb") as fh:
            head = fh.read(MAX_FILE_BYTES)
    except OSError as exc:
        raise ConfigError(path, f"{shown(value)} cannot be read ({exc.strerror})", "make it readable by this user", source) from None
    if f"-----BEGIN {label}-----".encode() not in head and not (label == "PRIVATE KEY" and b"PRIVATE KEY-----" in head):
        raise ConfigError(path, f"{shown(value)} holds no PEM {label.lower()}", f"use a file with a -----BEGIN {label}----- block", source)
    return file


class _StrictLoader(yaml.SafeLoader):
    """YAML as lab.yaml needs it: no anchors or aliases (an alias bomb costs nothing to write and minutes
    to expand), no duplicate keys (the second silently won), nesting no deeper than MAX_DEPTH."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.constructor.ConstructorError(None, None, "uses a YAML alias (*name)", self.peek_event().start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(None, None, "uses a YAML anchor (&name)", event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(None, None, f"nests deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "has a key that is not a plain value", key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"repeats the key {shown(key, 40)}", key_node.start_mark)
        return super().construct_mapping(node, deep)


def load(path: str | Path | None = None) -> LabConfig:
    """The built-in default, or the file at `path`."""
    if path is None:
        return parse({}, "built-in default")
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise ConfigError("(file)", f"{path} does not exist", "pass an existing file to --config, or leave --config out for the default", where)
    if not path.is_file():
        raise ConfigError("(file)", f"{path} is not a regular file", "pass a lab.yaml file to --config", where)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError("(file)", f"{path} cannot be read ({exc.strerror})", "make it readable by this user", where) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError("(file)", f"is larger than {MAX_FILE_BYTES // 1024} KiB", "a lab.yaml is a few lines; check the path", where)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("(file)", f"is not UTF-8 text (byte {exc.start})", "save it as UTF-8 YAML", where) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"line {mark.line + 1}" if mark else "(file)"
        problem = str(getattr(exc, "problem", None) or "")
        if isinstance(exc, yaml.constructor.ConstructorError) and problem.startswith(("uses a YAML", "repeats", "nests", "has a key")):
            fix = "write plain values instead" if "YAML a" in problem else "keep one of them" if "repeats" in problem else \
                "write lab.yaml as the README shows"
        else:
            problem = "is not valid YAML" + (f" ({problem[:80]})" if problem else "")
            fix = "check indentation and quoting there"
        raise ConfigError(line, problem, fix, where) from None
    return parse(data, where)


def with_flags(cfg: LabConfig, profile: str | None = None, trust: str | None = None,
               installer: str | None = None) -> LabConfig:
    """--profile, --trust and --installer override the file's `profile`, `trust.mode` and `installer`."""
    if profile is not None:
        one_of("profile", profile, list(PROFILES))
        cfg = dataclasses.replace(cfg, profile_name=profile)
    if trust is not None:
        one_of("trust mode", trust, TRUST_MODES)
        if trust == "bundle" and cfg.trust.anchor_cert:
            raise LabError("--trust bundle makes each cluster's anchor; it cannot use trust.anchor_cert. Fix: drop one of them")
        cfg = dataclasses.replace(cfg, trust=dataclasses.replace(cfg.trust, mode=trust))
    if installer is not None:
        one_of("installer", installer, INSTALLERS)
        cfg = dataclasses.replace(cfg, installer=installer)
    return cfg
