"""Which gateways the service mirror probes, and what `linkerd multicluster gateways` lists from those probes.

edge-26.8.3: a Link's controller starts the Link's probe worker with its watch (restartClusterWatcher in
multicluster/cmd/service-mirror/main.go), exported or not. stable-2.8.1 (in this simulation's model): one probe
per gateway an exported service names. `GatewayProbes` is mixed into the ServiceMirror (mirror.py), whose
cluster, links and controllers it reads.
"""
from __future__ import annotations

from ...names import MC_NS
from ...parsers.cli_output import GatewayStatus
from . import controlplane
from .gateway import GatewayProbe, GatewayTarget, link_probe_target, name_link_probe, same_probe


class GatewayProbes:
    def _link_probe(self, spec: dict, state) -> None:
        """Edge: a controller starts the Link's probe worker as it starts its watch (link_probe_target); a
        changed probe or gateway gets a new one (upstream restarts watcher and worker on a Link update)."""
        profile = controlplane.installed_profile(self.cluster.store)
        if profile is not None and not profile.link_crd:
            return  # 2.8.1: a probe per gateway its exported services name (_mirror)
        gw = link_probe_target(spec)
        if gw is not None and any(same_probe(p.target, gw) for p in state.probes.values()):
            return
        self._stop_probes(state, keep=set())
        if gw is not None:
            via = (lambda target=state.target: self._probe_service(target)) if profile is not None else None
            state.probes[(gw.namespace, gw.name)] = GatewayProbe(
                self.cluster, gw, False, on_liveness=lambda alive: self._on_liveness(state, alive), via=via, jitter=True)

    def _probe_gateways(self, state, gateways: dict[tuple[str, str], GatewayTarget], link_gateway: GatewayTarget | None,
                        by_link: bool, profile) -> None:
        """After a pass: edge's Link probe learns its gateway's name; 2.8.1 probes the gateways the pass found."""
        if by_link:  # the link's probe runs from its watch's start (_link_probe); here it learns the gateway's name
            name_link_probe(state.probes, link_gateway)
            return
        self._stop_probes(state, keep=set(gateways.items()))
        for key, gw in gateways.items():
            if key not in state.probes:
                state.probes[key] = GatewayProbe(self.cluster, gw, False if profile is None else profile.probe_slash_joined,
                                                 on_liveness=lambda alive, state=state: self._on_liveness(state, alive))

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
        """`linkerd multicluster gateways`, as seen from this cluster."""
        out = []
        for state in self.links.values():
            for (ns, name), probe in sorted(state.probes.items()):
                out.append({"cluster": state.target, "namespace": ns, "name": name,
                            "address": probe.target.address, "alive": bool(probe.alive),
                            "paired_services": state.paired.get((ns, name), 0),
                            "latency_ms": probe.latency_ms(), "last_error": probe.last_error})
        return out
