"""The deployment, replica set and statefulset controllers: each workload's pods, each one handed to the
kubelet (kubelet.py) to run in the same pass, so a rollout sees its new pods' readiness at once. Only the pods
they own are theirs to delete; a pod without an owner stays until it is deleted.

As every controller here, `reconcile` reads the whole store and converges it; running it twice
in a row changes nothing, which is what lets the lab's steps be idempotent.
"""
from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from ..kube.objects import pod_ready, template_hash
from ..kube.store import json_copy
from .kubelet import Kubelet, host_ip

if TYPE_CHECKING:
    from .cluster import SimCluster

HASH_LABEL = "pod-template-hash"  # on a Deployment's ReplicaSets and their pods (apps/v1 DefaultDeploymentUniqueLabelKey)
REVISION = "deployment.kubernetes.io/revision"  # on a Deployment and its ReplicaSets: which one is current


class Deployments:
    """The deployment and statefulset controllers: pods per template, each one running.
    A StatefulSet's pods are `<name>-<ordinal>` with that hostname and the set's serviceName as subdomain, so
    its headless Service names each one (web-0.web.<ns>.svc)."""

    def __init__(self, cluster: "SimCluster", kubelet: Kubelet | None = None):
        self.cluster = cluster
        self.kubelet = kubelet or Kubelet(cluster)

    async def reconcile(self) -> None:
        store = self.cluster.store
        deployments = store.views("Deployment")  # read only: every change goes through store.apply
        wanted_pods: set[tuple[str, str]] = set()
        wanted_sets: set[tuple[str, str]] = set()
        for dep in deployments:
            ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
            template = dep["spec"]["template"]
            digest = template_hash(template)
            replicas = dep["spec"].get("replicas", 1)
            owned = _owned_sets(store, dep)
            new_set = self._replica_set(dep, digest, owned)
            by_set = {rs["metadata"]["name"]: [p for p in store.views("Pod", ns) if _owner_name(p, "ReplicaSet") ==
                                                rs["metadata"]["name"]] for rs in owned + [new_set]}
            current = by_set[new_set["metadata"]["name"]]
            old = [p for rs_name, pods in by_set.items() if rs_name != new_set["metadata"]["name"] for p in pods]
            for pod in current[replicas:]:
                await self.kubelet.delete_pod(ns, pod["metadata"]["name"])
            current = current[:replicas]
            while len(current) < replicas:
                current.append(self._create_pod(dep, digest, owner_set=new_set))
            for pod in current:
                wanted_pods.add((ns, pod["metadata"]["name"]))
                await self.kubelet.run(pod)
            ready = sum(1 for p in current if pod_ready(store.view("Pod", ns, p["metadata"]["name"]) or {}))
            # A rolling update with maxUnavailable 0: the old pods serve until every new one is ready.
            kept: dict[str, int] = {}
            for pod in old:
                if ready == len(current):
                    await self.kubelet.delete_pod(ns, pod["metadata"]["name"])
                else:
                    wanted_pods.add((ns, pod["metadata"]["name"]))
                    kept[_owner_name(pod, "ReplicaSet")] = kept.get(_owner_name(pod, "ReplicaSet"), 0) + 1
            wanted_sets |= self._scale_sets(dep, new_set, owned, len(current), ready, kept)
            store.set_status("Deployment", ns, name, _deployment_status(dep, replicas, len(current), sum(kept.values()),
                                                                       ready, new_set["metadata"]["name"]))
        for rs in list(store.views("ReplicaSet")):  # those of deleted Deployments, and beyond the history limit
            key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
            if _owner_name(rs, "Deployment") is not None and key not in wanted_sets:
                store.delete("ReplicaSet", *key)
        for sts in store.views("StatefulSet"):
            await self._statefulset(sts, wanted_pods)
        for pod in list(store.views("Pod")):  # theirs only: a pod without an owner stays until deleted
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            if key not in wanted_pods and (_owner_name(pod, "ReplicaSet") or _owner_name(pod, "StatefulSet")):
                await self.kubelet.delete_pod(*key)

    def _replica_set(self, dep: dict, digest: str, owned: list[dict]) -> dict:
        """The ReplicaSet of the Deployment's current template, `<name>-<pod-template-hash>`, made or reused
        (a rollback returns to an old one) with the next revision."""
        store, ns, name = self.cluster.store, dep["metadata"]["namespace"], dep["metadata"]["name"]
        revisions = [int((rs["metadata"].get("annotations") or {}).get(REVISION, "0")) for rs in owned]
        found = next((rs for rs in owned if rs["metadata"]["name"] == f"{name}-{digest}"), None)
        latest = max(revisions, default=0)
        if found is not None and int((found["metadata"].get("annotations") or {}).get(REVISION, "0")) == latest:
            revision = latest
        else:
            revision = latest + 1
        template = json_copy(dep["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = digest
        selector = json_copy(dep["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{name}-{digest}", "namespace": ns, "labels": dict(template["metadata"]["labels"]),
                           "annotations": {**((found or {}).get("metadata", {}).get("annotations") or {}),
                                           REVISION: str(revision)},
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                                "uid": dep["metadata"].get("uid", ""), "controller": True,
                                                "blockOwnerDeletion": True}]},
              "spec": {"replicas": dep["spec"].get("replicas", 1), "selector": selector, "template": template}}
        store.apply(rs)
        annotations = dep["metadata"].get("annotations") or {}
        if annotations.get(REVISION) != str(revision):  # on the Deployment too (rollout undo replaces these)
            store.apply({**dep, "metadata": {**dep["metadata"], "annotations": {**annotations, REVISION: str(revision)}}})
        return store.view("ReplicaSet", ns, rs["metadata"]["name"])

    def _scale_sets(self, dep: dict, new_set: dict, owned: list[dict], current: int, ready: int,
                    kept: dict[str, int]) -> set[tuple[str, str]]:
        """Each ReplicaSet's replicas and status: the new one's pods, the old ones' pods still draining; old
        sets at zero are kept up to the Deployment's revisionHistoryLimit (10), newest first."""
        store, ns = self.cluster.store, dep["metadata"]["namespace"]
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        old = sorted((rs for rs in owned if rs["metadata"]["name"] != new_set["metadata"]["name"]),
                     key=lambda rs: -int((rs["metadata"].get("annotations") or {}).get(REVISION, "0")))
        keep = [new_set] + [rs for rs in old if kept.get(rs["metadata"]["name"])]
        keep += [rs for rs in old if not kept.get(rs["metadata"]["name"])][:limit]
        for rs in keep:
            rs_name = rs["metadata"]["name"]
            count, ready_here = (current, ready) if rs is new_set else (kept.get(rs_name, 0), kept.get(rs_name, 0))
            if rs is not new_set and rs["spec"].get("replicas") != count:
                store.apply({**rs, "spec": {**rs["spec"], "replicas": count}})
            store.set_status("ReplicaSet", ns, rs_name, {
                "replicas": count, "fullyLabeledReplicas": count, "readyReplicas": ready_here,
                "availableReplicas": ready_here, "observedGeneration": rs["metadata"].get("generation", 1)})
        return {(ns, rs["metadata"]["name"]) for rs in keep}

    async def _statefulset(self, sts: dict, wanted_pods: set[tuple[str, str]]) -> None:
        """Ordinals 0..replicas-1, each created only once the one before is ready (OrderedReady); a pod of an
        older template is replaced in place, under the same name."""
        store = self.cluster.store
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        template = sts["spec"]["template"]
        digest = template_hash(template)
        replicas = sts["spec"].get("replicas", 1)
        ready = current = 0
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            pod = store.view("Pod", ns, pod_name)
            if pod is not None and pod["metadata"]["labels"].get("controller-revision-hash") != f"{name}-{digest}":
                await self.kubelet.delete_pod(ns, pod_name)
                pod = None
            if pod is None:
                pod = self._create_pod(sts, digest, pod_name)
            wanted_pods.add((ns, pod_name))
            await self.kubelet.run(pod)
            current += 1
            if not pod_ready(store.view("Pod", ns, pod_name) or {}):
                break
            ready += 1
        store.set_status("StatefulSet", ns, name, {
            "observedGeneration": sts["metadata"].get("generation", 1), "replicas": current, "readyReplicas": ready,
            "currentReplicas": current, "updatedReplicas": current, "availableReplicas": ready,
            "currentRevision": f"{name}-{digest}", "updateRevision": f"{name}-{digest}"})

    def _create_pod(self, dep: dict, digest: str, pod_name: str | None = None, owner_set: dict | None = None) -> dict:
        """A pod of a StatefulSet (`pod_name`, its ordinal's) or of a Deployment's ReplicaSet `owner_set`."""
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        template = dep["spec"]["template"]
        spec = template["spec"]
        if owner_set is None:
            labels = {**template.get("metadata", {}).get("labels", {}), "controller-revision-hash": f"{name}-{digest}",
                      "statefulset.kubernetes.io/pod-name": pod_name}
            spec = {**spec, "hostname": pod_name, "subdomain": dep["spec"].get("serviceName", "")}
            owner = dep
        else:
            pod_name = f"{owner_set['metadata']['name']}-{secrets.token_hex(3)[:5]}"
            labels = {**template.get("metadata", {}).get("labels", {}), HASH_LABEL: digest}
            owner = owner_set
        ip = self.cluster.allocate_ip(self.cluster.spec["pod_subnet"], self.cluster.pod_ips(), skip=1)
        node = next(iter(self.cluster.store.views("Node")), None)  # a kind cluster's one node runs every pod
        if node is not None:
            spec = {**spec, "nodeName": node["metadata"]["name"]}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                         "annotations": dict(template.get("metadata", {}).get("annotations", {})),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                              "uid": owner["metadata"].get("uid", ""), "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": spec,
            "status": {"phase": "Pending", "podIP": ip, "podIPs": [{"ip": ip}], **host_ip(node)},
        }
        self.cluster.store.apply(pod)
        self.cluster.store.set_status("Pod", ns, pod_name, pod["status"])
        return self.cluster.store.get("Pod", ns, pod_name)


def _owned_sets(store, dep: dict) -> list[dict]:
    return [rs for rs in store.views("ReplicaSet", dep["metadata"]["namespace"])
            if _owner_name(rs, "Deployment") == dep["metadata"]["name"]]


def _owner_name(obj: dict, kind: str) -> str | None:
    """The name of the object's controller of `kind` (its controlling ownerReference)."""
    return next((o["name"] for o in obj["metadata"].get("ownerReferences") or [] if o.get("kind") == kind), None)


def _deployment_status(dep: dict, replicas: int, updated: int, old: int, ready: int, replica_set: str) -> dict:
    """What the deployment controller reports, in the fields `kubectl rollout status` and
    `kubectl wait --for=condition=available` read: observedGeneration, replicas (old pods included while
    they drain), updatedReplicas, availableReplicas and the Available and Progressing conditions."""
    max_unavailable = replicas // 4  # the default maxUnavailable of 25%, rounded down
    available = ready >= replicas - max_unavailable
    before = {c["type"]: c for c in dep.get("status", {}).get("conditions", [])}

    def condition(kind: str, status: bool, reason: str, message: str) -> dict:
        value = "True" if status else "False"
        previous = before.get(kind, {})
        since = previous.get("lastTransitionTime") if previous.get("status") == value else None
        since = since or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {"type": kind, "status": value, "reason": reason, "message": message,
                "lastTransitionTime": since, "lastUpdateTime": since}

    name = replica_set
    done = updated == replicas and old == 0 and ready >= replicas
    return {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": updated + old,
            "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
            **({"unavailableReplicas": replicas - ready} if ready < replicas else {}),
            "conditions": [
                condition("Available", available, "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                          "Deployment has minimum availability." if available else
                          "Deployment does not have minimum availability."),
                condition("Progressing", True, "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                          f'ReplicaSet "{name}" has successfully progressed.' if done else
                          f'ReplicaSet "{name}" is progressing.')]}
