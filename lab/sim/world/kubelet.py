"""The scheduler and the kubelet of a simulated cluster's one node: every pod in the store, whoever made it
(a workload's controller, `kubectl run`, a client's create), is placed on the node, given an address, run
(a PodRuntime: its apps, its containers' programs and, when Linkerd's injector would mesh it, its proxy) and
given the status a kubelet writes: phase, conditions, addresses, container statuses, QoS class. A pod whose
containers end (programs.py) becomes Succeeded or Failed, or restarts them, as its restartPolicy says;
a pod deleted through the API stops. The node itself gets the status a kubelet reports for it.

As every controller here, `reconcile` reads the whole store and converges it; running it twice in a row
changes nothing. A program's next step (the end of a `sleep`, a crash-loop back-off) asks for a pass then.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
from typing import TYPE_CHECKING

from ... import names
from ..mesh import controlplane, policy
from ..mesh.proxy import ADMIN_PORT, INBOUND_PORT
from .pods import PodRuntime
from ..kube.objects import qos_class
from .images.programs import stamp

if TYPE_CHECKING:
    from .cluster import SimCluster

DRAIN_SECONDS = 5.0
TERMINAL = ("Succeeded", "Failed")
CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


class Kubelet:
    def __init__(self, cluster: "SimCluster"):
        self.cluster = cluster
        self._draining: set[asyncio.Task] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def reconcile(self) -> None:
        store = self.cluster.store
        complete_nodes(store)
        for pod in store.views("Pod"):
            meta = pod["metadata"]
            if (meta["namespace"], meta["name"]) not in self.cluster.pods and not meta.get("deletionTimestamp") \
                    and pod.get("status", {}).get("phase") not in TERMINAL:
                await self.run(pod)
        now = time.time()
        for (ns, name), runtime in list(self.cluster.pods.items()):
            if runtime.containers and runtime.advance(now):
                pod = store.view("Pod", ns, name)
                if pod is not None:
                    self._write(pod, runtime)
                    if not any(run.running for run in runtime.containers.values()):
                        await runtime.stop()  # nothing runs until a restart: its ports close
        # A pod deleted through the API (`kubectl delete pod`, its namespace deleted) stops running too: a
        # runtime left behind would keep its address, which the next new pod may be given.
        for key in [k for k in self.cluster.pods if store.view("Pod", *k) is None]:
            await self.delete_pod(*key)
        # One whose finalizers keep the object (a Job's tracking finalizer, say) is stopped and left Failed, its
        # containers killed, for whoever holds the finalizer to see it end (the kubelet's terminal phase for a
        # deleted pod, pkg/kubelet/kubelet_pods.go)
        for key in [k for k in self.cluster.pods if (store.view("Pod", *k) or {}).get("metadata", {}).get("deletionTimestamp")]:
            self._kill(store.view("Pod", *key), self.cluster.pods.pop(key))
        self._wake_when_due(now)

    def _wake_when_due(self, now: float) -> None:
        due = min((d for d in (r.due for r in self.cluster.pods.values()) if d is not None), default=None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due is not None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, due - now) + 0.01, self.cluster.wake)

    def _inject(self, pod: dict) -> bool:
        namespace, meta = pod["metadata"]["namespace"], pod["metadata"]
        ns = self.cluster.store.get("Namespace", "", namespace) or {}
        wanted = (meta.get("annotations") or {}).get(
            "linkerd.io/inject", ns.get("metadata", {}).get("annotations", {}).get("linkerd.io/inject"))
        # Linkerd's proxy injector is a webhook: it acts only once the control plane is there. The control
        # plane's own pods are rendered with their proxy by `linkerd install`.
        control_plane = names.CONTROL_PLANE_NS_LABEL in (meta.get("labels") or {})
        return (wanted == "enabled" or control_plane) and controlplane.mesh_ready(self.cluster.store)

    def _place(self, pod: dict) -> dict:
        """The scheduler's binding to the node and the network's address, for a pod that has neither yet."""
        store, meta = self.cluster.store, pod["metadata"]
        node = next(iter(store.views("Node")), None)  # a kind cluster's one node runs every pod
        if node is not None and not pod["spec"].get("nodeName"):
            store.apply({**pod, "spec": {**pod["spec"], "nodeName": node["metadata"]["name"]}})
            self.cluster.event("Pod", f"{meta['namespace']}/{meta['name']}", "Scheduled",
                               f"Successfully assigned {meta['namespace']}/{meta['name']} to {node['metadata']['name']}",
                               component="default-scheduler")
        status = dict(pod.get("status") or {})
        if not status.get("podIP"):
            ip = self.cluster.allocate_ip(self.cluster.spec["pod_subnet"], self.cluster.pod_ips(), skip=1)
            status.update({"phase": "Pending", "podIP": ip, "podIPs": [{"ip": ip}], **host_ip(node)})
            store.set_status("Pod", meta["namespace"], meta["name"], status)
        return store.view("Pod", meta["namespace"], meta["name"])

    async def run(self, pod: dict) -> None:
        """Start the pod's runtime once (a pod already running is left alone) and write its status."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if (ns, name) in self.cluster.pods:
            return
        pod = self._place(pod)
        runtime = PodRuntime(ns, name, pod["status"]["podIP"])
        identity = None
        if self._inject(pod):
            identity = self.cluster.issue_identity(pod["spec"].get("serviceAccountName", "default"), ns, name)
        annotations = pod["metadata"].get("annotations") or {}
        gateway_mode = annotations.get("config.linkerd.io/enable-gateway") == "true"
        required = annotations.get("config.linkerd.io/proxy-require-identity-inbound-ports", "").split(",")
        await runtime.start(self.cluster, pod, identity, gateway_mode, require_identity=str(INBOUND_PORT) in required)
        runtime.advance(time.time())
        self.cluster.pods[(ns, name)] = runtime
        if runtime.meshed:  # what the proxy injector's patch leaves in the pod spec
            pod = self._injected(pod)
        if runtime.error:
            self.cluster.event("Pod", f"{ns}/{name}", "Failed", runtime.error, "Warning")
        else:
            self.cluster.event("Pod", f"{ns}/{name}", "Started", f"Started pod {name}" + (" (meshed)" if runtime.meshed else ""))
        self._write(pod, runtime)

    def _write(self, pod: dict, runtime: PodRuntime) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.cluster.store.set_status("Pod", ns, name, self.status(pod, runtime))
        for run in runtime.containers.values():
            if run.back_off_until is not None:  # the kubelet's BackOff event (kuberuntime_manager.go)
                self.cluster.event("Pod", f"{ns}/{name}", "BackOff", f"Back-off restarting failed container "
                                   f"{run.name} in pod {name}_{ns}({pod['metadata'].get('uid', '')})", "Warning")

    def status(self, pod: dict, runtime: PodRuntime) -> dict:
        """The pod's status as the kubelet writes it (pkg/kubelet/kubelet_pods.go generateAPIPodStatus and
        pkg/kubelet/status/generate.go, v1.32)."""
        before = pod.get("status") or {}
        spec, now = pod["spec"], stamp(time.time())
        placed = {k: before[k] for k in ("hostIP", "hostIPs", "podIPs") if k in before}
        common = {**placed, "podIP": runtime.ip, "podIPs": [{"ip": runtime.ip}],
                  "startTime": before.get("startTime") or stamp(runtime.started), "qosClass": qos_class(spec)}
        uid = pod["metadata"].get("uid", "")
        statuses = [self._container_status(c, runtime, uid) for c in spec.get("containers", [])]
        if runtime.error:
            phase = "Failed"
            common.update({"reason": runtime.error_reason, "message": runtime.error})
        else:
            phase = _phase(runtime, spec.get("restartPolicy", "Always"), len(statuses))
        unready = [s["name"] for s in statuses if not s["ready"]]
        conditions = {"PodReadyToStartContainers": ("True" if phase not in TERMINAL else "False", None, None),
                      "Initialized": ("True", "PodCompleted" if phase == "Succeeded" else None, None),
                      "PodScheduled": ("True", None, None)}
        if phase in TERMINAL:  # generate.go's ...ConditionForTerminalPhase
            ready = ("False", "PodCompleted" if phase == "Succeeded" else "PodFailed", None)
        elif not unready:
            ready = ("True", None, None)
        else:
            ready = ("False", "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
        conditions["Ready"] = conditions["ContainersReady"] = ready
        previous = {c["type"]: c for c in before.get("conditions", [])}
        out = []
        for kind in CONDITIONS:
            value, reason, message = conditions[kind]
            since = previous.get(kind, {}).get("lastTransitionTime") if previous.get(kind, {}).get("status") == value else None
            out.append({"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": since or now,
                        **({"reason": reason} if reason else {}), **({"message": message} if message else {})})
        status = {"phase": phase, **common, "conditions": out, "containerStatuses": statuses}
        init = [self._container_status(c, runtime, uid, init=True) for c in spec.get("initContainers", [])]
        if init:
            status["initContainerStatuses"] = init
        return status

    def _container_status(self, container: dict, runtime: PodRuntime, uid: str, init: bool = False) -> dict:
        name = container["name"]
        run = runtime.containers.get(name)
        restarts = run.restarts if run is not None else 0
        container_id = "containerd://" + hashlib.sha256(f"{uid}/{name}/{restarts}".encode()).hexdigest()
        if runtime.error:
            state = {"waiting": {"reason": runtime.error_reason, "message": runtime.error}}
        elif run is not None:
            state = run.state(f"{runtime.name}_{runtime.namespace}({uid})")
        elif init and container.get("restartPolicy") != "Always":  # an init container (linkerd-init): done
            at = stamp(runtime.started)
            state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": at, "finishedAt": at}}
        else:
            state = {"running": {"startedAt": stamp(runtime.started)}}
        for value in state.values():
            if "exitCode" in value:
                value["containerID"] = container_id
        running = "running" in state
        image = full_image(container.get("image", ""))
        return {"name": name, "image": image,
                "imageID": image.rsplit(":", 1)[0] + "@sha256:" + hashlib.sha256(image.encode()).hexdigest(),
                **({"containerID": container_id} if not runtime.error else {}),
                "ready": running or (init and "terminated" in state), "started": running, "restartCount": restarts,
                "state": state, "lastState": {"terminated": {**run.last, "containerID": container_id}}
                if run is not None and run.last and not running else {}}

    def _injected(self, pod: dict) -> dict:
        """The pod as the injector leaves it: linkerd-init first among the init containers, and the proxy as a
        native sidecar (an init container that keeps running) or appended to the containers, by profile."""
        profile = self.cluster.profile
        image = f"{profile.registry}/proxy:{profile.linkerd}"
        proxy = {"name": "linkerd-proxy", "image": image,
                 "ports": [{"name": "linkerd-proxy", "containerPort": INBOUND_PORT},
                           {"name": "linkerd-admin", "containerPort": ADMIN_PORT}]}
        init = {"name": "linkerd-init", "image": f"{profile.registry}/proxy-init:{profile.linkerd}"}
        spec = dict(pod["spec"])
        if any(c["name"] == "linkerd-init" for c in spec.get("initContainers", [])):
            return pod
        if profile.native_sidecar:
            spec["initContainers"] = [init, {**proxy, "restartPolicy": "Always"}, *spec.get("initContainers", [])]
        else:
            spec["initContainers"] = [init, *spec.get("initContainers", [])]
            spec["containers"] = [*spec.get("containers", []), proxy]
        injected = {**pod, "spec": spec}
        # config annotations a pod lacks come from its namespace (pkg/inject/inject.go AppendNamespaceAnnotations,
        # edge-26.8.3): of those, the lab reads the default inbound policy (mesh/policy.py)
        ns = self.cluster.store.view("Namespace", "", pod["metadata"]["namespace"]) or {}
        inherited = (ns.get("metadata", {}).get("annotations") or {}).get(policy.DEFAULT_POLICY_ANNOTATION)
        annotations = pod["metadata"].get("annotations") or {}
        if inherited is not None and policy.DEFAULT_POLICY_ANNOTATION not in annotations:
            injected["metadata"] = {**pod["metadata"], "annotations": {**annotations, policy.DEFAULT_POLICY_ANNOTATION: inherited}}
        self.cluster.store.apply(injected)
        return self.cluster.store.view("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])

    def _kill(self, pod: dict, runtime: PodRuntime) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        self.cluster.event("Pod", f"{ns}/{name}", "Killing", f"Stopping pod {name}")
        status = dict(pod.get("status") or {})
        killed = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": stamp(time.time())}}
        status["containerStatuses"] = [{**c, "ready": False, "started": False, "state": killed}
                                       for c in status.get("containerStatuses") or []]
        self.cluster.store.set_status("Pod", ns, name, {**status, "phase": "Failed"})
        self._drain_later(runtime, ns, name)

    async def delete_pod(self, ns: str, name: str) -> None:
        """Out of the endpoints and the network at once; in-flight connections get DRAIN_SECONDS to finish,
        as a terminating pod's grace period gives them."""
        runtime = self.cluster.pods.pop((ns, name), None)
        if self.cluster.store.delete("Pod", ns, name):
            self.cluster.event("Pod", f"{ns}/{name}", "Killing", f"Stopping pod {name}")
        if runtime is not None:
            self._drain_later(runtime, ns, name)
        else:
            self.cluster.forget_identity(ns, name)

    def _drain_later(self, runtime: PodRuntime, ns: str, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drain(runtime, ns, name))
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _drain(self, runtime: PodRuntime, ns: str, name: str) -> None:
        await runtime.stop(grace=DRAIN_SECONDS)
        self.cluster.forget_identity(ns, name)


def _phase(runtime: PodRuntime, policy: str, containers: int) -> str:
    """getPhase (pkg/kubelet/kubelet_pods.go, v1.32): Running while any container runs or will restart;
    once every one has ended for good, Succeeded if all exited 0, else Failed."""
    runs = list(runtime.containers.values())
    if len(runs) < containers or any(r.terminated is None or r.back_off_until is not None for r in runs):
        return "Running"
    failed = any(r.terminated["exitCode"] != 0 for r in runs)
    return "Failed" if failed and policy == "Never" else "Running" if failed else "Succeeded"


def full_image(image: str) -> str:
    """The image as containerd reports it: docker.io/library/busybox:latest for `busybox`."""
    first, _, rest = image.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        image = "docker.io/" + (image if rest else f"library/{image}")
    return image if "@" in image or ":" in image.rsplit("/", 1)[-1] else image + ":latest"


def host_ip(node: dict | None) -> dict:
    address = next((a["address"] for a in (node or {}).get("status", {}).get("addresses", []) if a["type"] == "InternalIP"), None)
    return {"hostIP": address, "hostIPs": [{"ip": address}]} if address else {}


def _meminfo_kib() -> int:
    try:
        with open("/proc/meminfo") as info:
            return int(next(line for line in info if line.startswith("MemTotal:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 8 * 1024 * 1024


def complete_nodes(store) -> None:
    """What a kubelet reports about its node and the saved node lacks: every nodeInfo field (the official
    client requires them all), capacity and allocatable (a kind node's are the host's), the kubelet's port and
    the pressure conditions (pkg/kubelet/nodestatus/setters.go, v1.32). Only missing fields are filled."""
    for node in store.views("Node"):
        status, uid = node.get("status") or {}, node["metadata"].get("uid", "")
        ids = hashlib.sha256(uid.encode()).hexdigest()
        info = {"machineID": ids[:32], "systemUUID": f"{ids[32:40]}-{ids[40:44]}-{ids[44:48]}-{ids[48:52]}-{ids[52:64]}",
                "bootID": hashlib.sha256(ids.encode()).hexdigest()[:32], "kernelVersion": "(simulated)",
                "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://(simulated)",
                "kubeletVersion": "", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
                **(status.get("nodeInfo") or {})}
        capacity = {"cpu": str(os.cpu_count() or 1), "ephemeral-storage": "100Gi", "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0", "memory": f"{_meminfo_kib()}Ki", "pods": "110"}
        kinds = {c["type"] for c in status.get("conditions", [])}
        since = next((c.get("lastTransitionTime") for c in status.get("conditions", [])), None) or stamp(time.time())
        pressure = [{"type": kind, "status": "False", "reason": f"KubeletHasSufficient{what}" if kind != "DiskPressure"
                     else "KubeletHasNoDiskPressure", "message": message, "lastHeartbeatTime": since,
                     "lastTransitionTime": since}
                    for kind, what, message in (("MemoryPressure", "Memory", "kubelet has sufficient memory available"),
                                                ("DiskPressure", "Disk", "kubelet has no disk pressure"),
                                                ("PIDPressure", "PID", "kubelet has sufficient PID available"))
                    if kind not in kinds]
        wanted = {**status, "nodeInfo": info, "capacity": status.get("capacity") or capacity,
                  "allocatable": status.get("allocatable") or status.get("capacity") or capacity,
                  "daemonEndpoints": status.get("daemonEndpoints") or {"kubeletEndpoint": {"Port": 10250}},
                  "conditions": pressure + status.get("conditions", [])}
        if wanted != status:
            store.set_status("Node", "", node["metadata"]["name"], wanted)
