"""The job controller (batch/v1 Job) and the replication manager (v1 ReplicationController): the pods each
one owns, made from its template and run by the kubelet (kubelet.py), and the status each writes.

A Job runs `parallelism` pods at a time until `completions` of them have succeeded (Complete) or more than
`backoffLimit` have failed (Failed), as pkg/controller/job/job_controller.go (v1.32) does with its defaults
(completions and parallelism 1, backoffLimit 6, NonIndexed): since v1.31 the terminal condition follows a
SuccessCriteriaMet or FailureTarget condition once no pod of the Job is left running. A pod deleted while it
ran counts as failed and is replaced. The API server's part of a Job is here too, on its first pass: the
generated selector `batch.kubernetes.io/controller-uid` and the template's job-name and controller-uid
labels (pkg/registry/batch/job/strategy.go, v1.32). A failed pod's replacement waits the controller's back-off.
Not played: indexed completion, pod failure and success policies, activeDeadlineSeconds,
ttlSecondsAfterFinished, restarts of OnFailure pods counted against backoffLimit.

A ReplicationController keeps `replicas` pods matching its selector (by default its template's labels).
"""
from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING

from ..kube.objects import pod_ready
from ..kube.store import matches
from .kubelet import Kubelet

if TYPE_CHECKING:
    from .cluster import SimCluster

UID_LABEL, NAME_LABEL = "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"
TRACKING = "batch.kubernetes.io/job-tracking"  # the finalizer a Job's pods carry until they are counted
TERMINAL = ("Succeeded", "Failed")
BACK_OFF, MAX_BACK_OFF = 10.0, 600.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _controlled_by(pod: dict, owner: dict) -> bool:
    return any(o.get("controller") and o.get("uid") == owner["metadata"].get("uid")
               for o in pod["metadata"].get("ownerReferences") or [])


def new_pod(owner: dict, api_version: str, labels: dict, finalizers: list[str] | None = None) -> dict:
    """A pod of `owner`'s template, `<owner>-<5 random>` as generateName makes it, controlled by `owner`."""
    meta, template = owner["metadata"], owner["spec"].get("template") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{meta['name']}-{secrets.token_hex(3)[:5]}", "generateName": f"{meta['name']}-",
                         "namespace": meta["namespace"], "labels": labels,
                         "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                         **({"finalizers": finalizers} if finalizers else {}),
                         "ownerReferences": [{"apiVersion": api_version, "kind": owner["kind"], "name": meta["name"],
                                              "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}]},
            "spec": dict(template.get("spec") or {})}


class Jobs:
    def __init__(self, cluster: "SimCluster", kubelet: Kubelet):
        self.cluster, self.kubelet = cluster, kubelet
        self._active: dict[str, set[str]] = {}  # job uid -> names of its pods that were running last pass
        self._failed_at: dict[str, float] = {}  # job uid -> when its last failure was counted

    async def reconcile(self) -> None:
        store = self.cluster.store
        seen = set()
        for job in store.views("Job"):
            job = self._with_selector(job)
            seen.add(job["metadata"]["uid"])
            await self._sync(job)
        for uid in set(self._active) - seen:
            del self._active[uid]
            self._failed_at.pop(uid, None)
        for pod in list(store.views("Pod")):  # the garbage collector: pods of a deleted Job go with it
            owner = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("kind") == "Job"), None)
            if owner is not None and store.view("Job", pod["metadata"]["namespace"], owner["name"]) is None:
                await self.kubelet.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _with_selector(self, job: dict) -> dict:
        spec, uid, name = job["spec"], job["metadata"]["uid"], job["metadata"]["name"]
        if spec.get("selector") or spec.get("manualSelector"):
            return job
        template = spec.get("template") or {}
        labels = {**((template.get("metadata") or {}).get("labels") or {}),
                  UID_LABEL: uid, NAME_LABEL: name, "controller-uid": uid, "job-name": name}
        changed = {**job, "spec": {**spec, "selector": {"matchLabels": {UID_LABEL: uid}},
                                   "template": {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}}}
        changed["spec"].setdefault("backoffLimit", 6)
        changed["spec"].setdefault("completions", 1)
        changed["spec"].setdefault("parallelism", 1)
        changed["spec"].setdefault("completionMode", "NonIndexed")
        changed["spec"].setdefault("suspend", False)
        self.cluster.store.apply(changed)
        return self.cluster.store.view("Job", job["metadata"]["namespace"], name)

    async def _sync(self, job: dict) -> None:
        store, ns, name, uid = self.cluster.store, job["metadata"]["namespace"], job["metadata"]["name"], job["metadata"]["uid"]
        spec, status = job["spec"], dict(job.get("status") or {})
        conditions = list(status.get("conditions") or [])
        finished = any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)
        pods = [p for p in store.views("Pod", ns) if _controlled_by(p, job)]
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in TERMINAL]
        succeeded, failed = status.get("succeeded", 0), status.get("failed", 0)
        for pod in pods:  # count each ended pod once, as the tracking finalizer's removal records it
            phase = (pod.get("status") or {}).get("phase")
            if phase in TERMINAL and TRACKING in (pod["metadata"].get("finalizers") or []):
                succeeded, failed = succeeded + (phase == "Succeeded"), failed + (phase == "Failed")
                store.apply({**pod, "metadata": {**pod["metadata"],
                                                 "finalizers": [f for f in pod["metadata"]["finalizers"] if f != TRACKING]}})
        names = {p["metadata"]["name"] for p in pods}
        failed += len(self._active.get(uid, set()) - names)  # deleted while running: failed (and replaced)
        if failed > status.get("failed", 0):
            self._failed_at[uid] = time.time()
        completions, backoff = spec.get("completions", 1), spec.get("backoffLimit", 6)
        target = None
        if not finished and completions is not None and succeeded >= completions:
            target = ("SuccessCriteriaMet", "Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        elif not finished and failed > backoff:
            target = ("FailureTarget", "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if target is not None or finished:
            for pod in active:  # what is still running of a finished Job is stopped
                await self.kubelet.delete_pod(ns, pod["metadata"]["name"])
            active = []
        elif not spec.get("suspend"):
            wanted = min(spec.get("parallelism", 1), (completions or 1) - succeeded)
            # after a failure, a new pod waits 10 s doubled per failure up to 10 min (DefaultJobPodFailureBackOff,
            # MaxJobPodFailureBackOff, job_controller.go v1.32)
            wait = self._failed_at.get(uid, 0.0) + min(BACK_OFF * 2 ** (failed - 1), MAX_BACK_OFF) - time.time() if failed else 0
            if wait > 0 and len(active) < wanted:
                asyncio.get_running_loop().call_later(wait + 0.01, self.cluster.wake)
                wanted = len(active)
            template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            while len(active) < wanted:
                pod = new_pod(job, "batch/v1", dict(template_labels), [TRACKING])
                store.apply(pod)
                active.append(store.view("Pod", ns, pod["metadata"]["name"]))
                self.cluster.event("Job", f"{ns}/{name}", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                                   component="job-controller")
            for pod in active:
                await self.kubelet.run(pod)
        self._active[uid] = {p["metadata"]["name"] for p in active}
        if target is not None:
            interim, final, reason, message = target
            now = _now()
            conditions += [{"type": kind, "status": "True", "reason": reason, "message": message,
                            "lastProbeTime": now, "lastTransitionTime": now} for kind in (interim, final)]
            if final == "Complete":
                status["completionTime"] = now
            self.cluster.event("Job", f"{ns}/{name}", "Completed" if final == "Complete" else "BackoffLimitExceeded",
                               "Job completed" if final == "Complete" else message,
                               "Normal" if final == "Complete" else "Warning", component="job-controller")
        ready = sum(1 for p in active if pod_ready(store.view("Pod", ns, p["metadata"]["name"]) or {}))
        status.update({"startTime": status.get("startTime") or _now(), "ready": ready, "terminating": 0,
                       "uncountedTerminatedPods": {}})
        for field, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        if conditions:
            status["conditions"] = conditions
        store.set_status("Job", ns, name, status)


class ReplicationControllers:
    def __init__(self, cluster: "SimCluster", kubelet: Kubelet):
        self.cluster, self.kubelet = cluster, kubelet

    async def reconcile(self) -> None:
        store = self.cluster.store
        for rc in store.views("ReplicationController"):
            ns, name = rc["metadata"]["namespace"], rc["metadata"]["name"]
            labels = ((rc["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
            selector = rc["spec"].get("selector") or labels
            replicas = rc["spec"].get("replicas", 1)
            pods = [p for p in store.views("Pod", ns) if _controlled_by(p, rc)
                    and (p.get("status") or {}).get("phase") not in TERMINAL]
            for pod in pods[replicas:]:
                await self.kubelet.delete_pod(ns, pod["metadata"]["name"])
            pods = pods[:replicas]
            while len(pods) < replicas:
                pod = new_pod(rc, "v1", dict(labels))
                store.apply(pod)
                pods.append(store.view("Pod", ns, pod["metadata"]["name"]))
                self.cluster.event("ReplicationController", f"{ns}/{name}", "SuccessfulCreate",
                                   f"Created pod: {pod['metadata']['name']}", component="replication-controller")
            for pod in pods:
                await self.kubelet.run(pod)
            ready = sum(1 for p in pods if pod_ready(store.view("Pod", ns, p["metadata"]["name"]) or {}))
            labelled = sum(1 for p in pods if matches(p["metadata"].get("labels"), selector))
            counts = {"fullyLabeledReplicas": labelled, "readyReplicas": ready, "availableReplicas": ready}
            store.set_status("ReplicationController", ns, name, {  # zero counts are left out (omitempty)
                "replicas": len(pods), **{k: v for k, v in counts.items() if v},
                "observedGeneration": rc["metadata"].get("generation", 1)})
        for pod in list(store.views("Pod")):  # the garbage collector: pods of a deleted ReplicationController
            owner = next((o for o in pod["metadata"].get("ownerReferences") or []
                          if o.get("kind") == "ReplicationController"), None)
            if owner is not None and store.view("ReplicationController", pod["metadata"]["namespace"], owner["name"]) is None:
                await self.kubelet.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
