"""Which gateways the service mirror probes, and what `linkerd multicluster gateways` lists from those probes.

edge-26.8.3: a Link's controller starts the Link's probe worker with its watch (restartClusterWatcher in
multicluster/cmd/service-mirror/main.go), exported or not. stable-2.8.1: the cluster watcher mirrors every remote
Service annotated as a gateway into a gateway mirror, `<gateway>-<target>` in the service mirror's namespace,
exported or not; the probe manager, in the same process, runs a probe worker per gateway mirror it sees there
(controller/cmd/service-mirror/cluster_watcher.go, probe_manager.go). `GatewayProbes` is mixed into the
ServiceMirror (mirror.py), whose cluster, links and controllers it reads.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ... import names
from ...names import CLUSTER_NAME, MC_NS, MIRRORED_GATEWAY, MIRRORED_LABEL
from ...parsers.cli_output import GatewayStatus
from ..kube.objects import template_hash
from . import controlplane
from .gateway import GatewayProbe, GatewayTarget, link_probe_target, name_link_probe, same_probe


def _uint32(text: str | None) -> int | None:
    """strconv.ParseUint(text, 10, 32): decimal digits only, below 2**32; None where Go returns an error."""
    return int(text) if text and re.fullmatch(r"[0-9]+", text) and int(text) < 2 ** 32 else None


def seed_gateway_mirror(svc: dict, target: str) -> tuple[dict, dict] | None:
    """The gateway mirror stable-2.8.1's cluster watcher makes for a remote gateway: `<name>-<target>` in the
    service mirror's namespace, labelled mirrored and mirrored-gateway, its one port the gateway's `mc-probe`,
    the probe's path and period in annotations, and Endpoints at the gateway's LoadBalancer addresses (none
    while it has none) carrying its identity (handleRemoteGatewayCreated, cluster_watcher.go:580-660 at
    stable-2.8.1). None where extractGatewaySpec fails (:1117-1180): no `mc-gateway` or `mc-probe` port, a probe
    period that is not a whole number, an empty probe path; the event is retried, then given up."""
    meta, ann = svc["metadata"], svc["metadata"].get("annotations") or {}
    ports = {p.get("name"): p["port"] for p in svc["spec"].get("ports", [])}
    period, path = _uint32(ann.get(names.PROBE_PERIOD_ANNOTATION)), ann.get(names.PROBE_PATH_ANNOTATION, "")
    if "mc-gateway" not in ports or "mc-probe" not in ports or period is None or not path:
        return None
    addresses = [{"ip": i["ip"]} for i in (svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []) if i.get("ip")]
    name, probe_port = f"{meta['name']}-{target}", {"name": "mc-probe", "protocol": "TCP", "port": ports["mc-probe"]}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": name, "namespace": MC_NS,
        "labels": {MIRRORED_LABEL: "true", CLUSTER_NAME: target, MIRRORED_GATEWAY: "true"},
        "annotations": {names.REMOTE_GATEWAY_RESOURCE_VERSION: meta["resourceVersion"],
                        names.MIRRORED_GATEWAY_REMOTE_NAME: meta["name"], names.MIRRORED_GATEWAY_REMOTE_NS: meta["namespace"],
                        names.MIRRORED_GATEWAY_PROBE_PATH: path, names.MIRRORED_GATEWAY_PROBE_PERIOD: str(period)}},
        "spec": {"ports": [probe_port]}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
        "name": name, "namespace": MC_NS, "labels": {MIRRORED_LABEL: "true", CLUSTER_NAME: target},
        "annotations": {names.REMOTE_GATEWAY_IDENTITY_ANNOTATION: ann.get(names.GATEWAY_IDENTITY_ANNOTATION, "")}},
        "subsets": [{"addresses": addresses, "ports": [probe_port]}] if addresses else []}
    return service, endpoints


def seed_probe_target(svc: dict, endpoints: dict | None) -> GatewayTarget | None:
    """What stable-2.8.1's probe manager reads off a gateway mirror (extractProbeSpec, probe_manager.go:159-186):
    the probe path annotation (present, even empty), the `mc-probe` port and the period annotation; the gateway
    it names from the remote-name annotations. The worker dials the mirror by name, so the address is what its
    Endpoints hold ("" while they hold none). Each failed probe sets gateway_alive 0, and the client gives up
    after 50 s (probe_worker.go:13, :102-110)."""
    ann = svc["metadata"].get("annotations") or {}
    ports = {p.get("name"): p["port"] for p in svc["spec"].get("ports", [])}
    period = _uint32(ann.get(names.MIRRORED_GATEWAY_PROBE_PERIOD))
    if names.MIRRORED_GATEWAY_PROBE_PATH not in ann or "mc-probe" not in ports or period is None:
        return None  # "Could not parse probe spec": no worker
    addresses = [a["ip"] for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses") or []]
    return GatewayTarget(
        namespace=ann.get(names.MIRRORED_GATEWAY_REMOTE_NS, ""), name=ann.get(names.MIRRORED_GATEWAY_REMOTE_NAME, ""),
        address=addresses[0] if addresses else "", port=0,
        identity=((endpoints or {}).get("metadata", {}).get("annotations") or {}).get(names.REMOTE_GATEWAY_IDENTITY_ANNOTATION, ""),
        probe_port=ports["mc-probe"], probe_path=ann[names.MIRRORED_GATEWAY_PROBE_PATH], probe_period=period,
        failure_threshold=1, probe_timeout=50.0)


class GatewayProbes:
    def _link_probe(self, spec: dict, state) -> None:
        """Edge: a controller starts the Link's probe worker as it starts its watch (link_probe_target); a
        changed probe or gateway gets a new one (upstream restarts watcher and worker on a Link update)."""
        profile = controlplane.installed_profile(self.cluster.store)
        if profile is not None and not profile.link_crd:
            return  # 2.8.1: the probe manager probes gateway mirrors (_run_probe_manager)
        gw = link_probe_target(spec)
        if gw is not None and any(same_probe(p.target, gw) for p in state.probes.values()):
            return
        self._stop_probes(state, keep=set())
        if gw is not None:
            via = (lambda target=state.target: self._probe_service(target)) if profile is not None else None
            state.probes[(gw.namespace, gw.name)] = GatewayProbe(
                self.cluster, gw, False, on_liveness=lambda alive: self._on_liveness(state, alive), via=via, jitter=True,
                link=f"cluster {self.cluster.name}: link to {state.target}")

    @staticmethod
    def _name_link_probe(state, link_gateway: GatewayTarget | None) -> None:
        """After an edge pass: the Link's probe, running from its watch's start (_link_probe), learns its gateway's name."""
        name_link_probe(state.probes, link_gateway)

    # -- stable-2.8.1: the cluster watcher's gateway mirrors, the probe manager's workers ---------------
    def _mirror_gateway(self, svc: dict, target: str) -> set[tuple[str, str]]:
        """A remote gateway's mirror, made or brought up to date (createOrUpdateService, cluster_watcher.go:822-855;
        updateGatewayMirrorService, :712-773, rewrites it when the gateway's resourceVersion changed). A gateway
        whose spec does not parse leaves what exists as it is. Returns the mirror kept."""
        name, store = f"{svc['metadata']['name']}-{target}", self.cluster.store
        have = store.view("Service", MC_NS, name)
        made = seed_gateway_mirror(svc, target)
        if made is None:
            return {(MC_NS, name)} if have is not None else set()
        if have is None or (have["metadata"].get("annotations") or {}).get(names.REMOTE_GATEWAY_RESOURCE_VERSION) \
                != svc["metadata"]["resourceVersion"]:
            for obj in made:
                store.apply(obj)
        return {(MC_NS, name)}

    def _stale_gateway_mirrors(self, services: list[dict], target: str) -> set[tuple[str, str]]:
        """Gateway mirrors 2.8.1 keeps though their remote Service is no longer a gateway: its update path looks for
        `<name>-<target>` in the remote Service's own namespace (createOrUpdateService, cluster_watcher.go:888-903),
        so only a gateway in the service mirror's namespace loses its mirror that way. A deleted gateway's mirror
        goes (handleRemoteGatewayDeleted, :543-575)."""
        remote = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services}
        out = set()
        for svc in self.cluster.store.views("Service", MC_NS, labels={MIRRORED_GATEWAY: "true", CLUSTER_NAME: target}):
            ann = svc["metadata"].get("annotations") or {}
            key = (ann.get(names.MIRRORED_GATEWAY_REMOTE_NS), ann.get(names.MIRRORED_GATEWAY_REMOTE_NAME))
            if key in remote and key[0] != MC_NS:
                out.add((MC_NS, svc["metadata"]["name"]))
        return out

    def _run_probe_manager(self) -> None:
        """stable-2.8.1's probe manager: while the service mirror runs, one probe worker per gateway mirror in its
        namespace (its Service informer is namespaced: main.go:82-89), keyed by the remote gateway and cluster,
        started when the mirror appears and stopped when it goes (probe_manager.go:101-140, :189-267). A changed
        path or port reaches the running worker; its ticker keeps the period it started with (UpdateProbeSpec;
        run() makes the ticker once, probe_worker.go:45-80), and ticks one period plus up to a tenth after the
        last (jittered_ticker.go:52-72). A new controller process starts every worker again."""
        store = self.cluster.store
        profile = controlplane.installed_profile(store)
        dep = store.view("Deployment", MC_NS, profile.service_mirror) if profile is not None and not profile.link_crd else None
        running = dep is not None and dep.get("status", {}).get("availableReplicas", 0) >= 1
        key = (dep["metadata"].get("uid"), template_hash(dep.get("spec", {}).get("template", {}))) if running else None
        if key != self.probe_manager_key:
            self._stop_gateway_probes(keep=set())
            self.probe_manager_key = key
        if key is None:
            return
        wanted: dict[tuple[str, str, str], tuple[str, GatewayTarget]] = {}
        for svc in store.views("Service", MC_NS):
            labels = svc["metadata"].get("labels") or {}
            if MIRRORED_GATEWAY in labels:
                name = svc["metadata"]["name"]
                target = seed_probe_target(svc, store.view("Endpoints", MC_NS, name))
                if target is not None:
                    wanted[(target.namespace, target.name, labels.get(CLUSTER_NAME, ""))] = (name, target)
        self._stop_gateway_probes(keep=set(wanted))
        for k, (name, target) in wanted.items():
            probe = self.gateway_probes.get(k)
            if probe is None:
                # Liveness gates nothing on 2.8.1; a change only wakes a pass, so that what waits on the
                # gateways listing (the export step polls once a pass) sees it at once
                self.gateway_probes[k] = GatewayProbe(
                    self.cluster, target, profile.probe_slash_joined, jitter=True, on_liveness=lambda alive: self.cluster.wake(),
                    via=lambda name=name: (name, store.view("Service", MC_NS, name)),  # http://<mirror>:<port>/<path>
                    link=f"cluster {self.cluster.name}: gateway mirror {name} of {k[2]}")
            elif replace(target, probe_period=probe.target.probe_period) != probe.target:
                probe.target = replace(target, probe_period=probe.target.probe_period)

    def _stop_gateway_probes(self, keep: set) -> None:
        for k in [k for k in self.gateway_probes if k not in keep]:
            self.gateway_probes.pop(k).stop()

    def _paired(self, cluster: str, namespace: str, name: str) -> int:
        """NUM_SVC on 2.8.1: the mirrors labelled with the gateway and cluster, gateway mirrors left out
        (getNumServicesMap, controller/api/public/gateways.go:58-77 at stable-2.8.1)."""
        labels = {MIRRORED_LABEL: "true", CLUSTER_NAME: cluster, names.REMOTE_GATEWAY_NAME: name, names.REMOTE_GATEWAY_NS: namespace}
        return sum(1 for s in self.cluster.store.views("Service", None, labels=labels)
                   if MIRRORED_GATEWAY not in (s["metadata"].get("labels") or {}))

    def _probe_service(self, target: str) -> tuple[str, dict | None]:
        """The probe Service the link's controller names (`-probe-service=`, templates/controller/deployment.yaml
        and the link chart's service-mirror.yaml, edge-26.8.3), as the source cluster has it."""
        dep = self.controller(target) or {}
        containers = dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        args = [a for c in containers for a in c.get("args") or []]
        name = next((a.split("=", 1)[1] for a in args if a.startswith("-probe-service=")), f"probe-{target}")
        return name, self.cluster.store.view("Service", MC_NS, name)

    def _on_liveness(self, state, alive: bool) -> None:
        """A change the probe worker reports: the watcher repairs every mirror's endpoints at once
        (cluster_watcher.go RepairEndpoints), so a pass runs now rather than at the next write."""
        state.gateway_alive = alive
        self.cluster.wake()

    @staticmethod
    def _stop_probes(state, keep: set) -> None:
        for key, probe in list(state.probes.items()):
            if (key, probe.target) not in keep:
                probe.stop()
                del state.probes[key]

    def gateway_statuses(self, profile) -> list[GatewayStatus]:
        """The rows `linkerd multicluster gateways` prints: 2.8.1 one per probed gateway (with its namespace
        and name), edge one per link (the gateway its Link names)."""
        named = not profile.link_crd
        return [GatewayStatus(g["cluster"], g["alive"], g["paired_services"], g["latency_ms"],
                              g["namespace"] if named else None, g["name"] if named else None)
                for g in self.gateways()]

    def gateways(self) -> list[dict]:
        """`linkerd multicluster gateways`, as seen from this cluster: edge a row per Link probe; 2.8.1 a row per
        gateway_alive series, which the worker's metrics create at 0 as it starts and delete as it stops
        (metrics.go:101-135 at stable-2.8.1; rows: controller/api/public/gateways.go:79-123)."""
        out = []
        for (ns, name, cluster), probe in sorted(self.gateway_probes.items()):
            out.append({"cluster": cluster, "namespace": ns, "name": name, "address": probe.target.address,
                        "alive": bool(probe.alive), "paired_services": self._paired(cluster, ns, name),
                        "latency_ms": probe.latency_ms(), "last_error": probe.last_error})
        for state in self.links.values():
            for (ns, name), probe in sorted(state.probes.items()):
                out.append({"cluster": state.target, "namespace": ns, "name": name,
                            "address": probe.target.address, "alive": bool(probe.alive),
                            "paired_services": state.paired.get((ns, name), 0),
                            "latency_ms": probe.latency_ms(), "last_error": probe.last_error})
        return out
