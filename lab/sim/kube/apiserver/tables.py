"""Server-side Tables: the columns and rows kubectl prints for its human output (`get`, `get -o wide`,
`get -w`), as its printers (pkg/printers/internalversion/printers.go) and a CRD's printer columns make them."""
from __future__ import annotations

import calendar
import time

from ..apiresources import Resource
from .status import ApiError


def _age(obj: dict) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = max(0, int(time.time() - calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _service_row(o: dict) -> list:
    spec = o.get("spec", {})
    ingress = [i.get("ip") or i.get("hostname") for i in o.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
    external = ",".join(filter(None, ingress)) or ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    ports = ",".join(f"{p['port']}" + (f":{p['nodePort']}" if p.get("nodePort") else "") + f"/{p.get('protocol', 'TCP')}"
                     for p in spec.get("ports", [])) or "<none>"
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP") or "None", external, ports]


def _pod_row(o: dict) -> list:
    """printPod (pkg/printers/internalversion/printers.go, v1.32): the pod's reason, else the last container's
    waiting or terminated reason (ExitCode:N without one), "Running" for a completed container beside running
    ones, "NotReady" for a running pod that is not ready; restarts with how long ago the last one ended."""
    spec, status = o.get("spec", {}), o.get("status", {})
    sidecars = {c["name"] for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"}
    statuses = status.get("containerStatuses", []) + [c for c in status.get("initContainerStatuses", []) if c["name"] in sidecars]
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = status.get("reason") or status.get("phase", "Unknown")
    running = False
    for container in reversed(status.get("containerStatuses", [])):
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            ended = state["terminated"]
            reason = ended.get("reason") or (f"Signal:{ended['signal']}" if ended.get("signal") else f"ExitCode:{ended.get('exitCode', 0)}")
        elif "running" in state and container.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if reason == "Running" and not any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])):
        reason = "NotReady"
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    last = max((c.get("lastState", {}).get("terminated", {}).get("finishedAt", "") for c in statuses), default="")
    shown = f"{restarts} ({_age({'metadata': {'creationTimestamp': last}})} ago)" if restarts and last else restarts
    return [f"{ready}/{len(spec.get('containers', [])) + len(sidecars)}", o.get("metadata", {}).get("deletionTimestamp")
            and "Terminating" or reason, shown]


def _deployment_row(o: dict) -> list:
    status, replicas = o.get("status", {}), o.get("spec", {}).get("replicas", 1)
    return [f"{status.get('readyReplicas', 0)}/{replicas}", status.get("updatedReplicas", 0), status.get("availableReplicas", 0)]


def _job_row(o: dict) -> list:
    """printJob (v1.32): the last true terminal or interim condition (else Running), succeeded/completions,
    and how long it ran (to its completion, or until now)."""
    status, spec = o.get("status", {}), o.get("spec", {})
    true = [c["type"] for c in status.get("conditions", []) if c.get("status") == "True"]
    state = next((t for t in ("Failed", "Complete", "Suspended", "FailureTarget", "SuccessCriteriaMet") if t in true), "Running")
    completions = f"{status.get('succeeded', 0)}/{spec['completions']}" if spec.get("completions") is not None else \
        f"{status.get('succeeded', 0)}/1 of {spec.get('parallelism', 1)}"
    duration = ""
    if status.get("startTime"):
        end = calendar.timegm(time.strptime(status["completionTime"], "%Y-%m-%dT%H:%M:%SZ")) if status.get("completionTime") \
            else time.time()
        seconds = max(0, int(end - calendar.timegm(time.strptime(status["startTime"], "%Y-%m-%dT%H:%M:%SZ"))))
        duration = f"{seconds}s" if seconds < 120 else f"{seconds // 60}m{seconds % 60}s" if seconds < 600 else f"{seconds // 60}m"
    return [state, completions, duration]


def _node_row(o: dict) -> list:
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in o.get("status", {}).get("conditions", []))
    roles = sorted(k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {}) if k.startswith("node-role.kubernetes.io/"))
    return ["Ready" if ready else "NotReady", ",".join(roles) or "<none>", _age(o),
            o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")]


def _more(listed: list[str], count: int, empty: str) -> str:
    """kubectl's printers (pkg/printers/internalversion/printers.go): three entries, then "+ N more..."."""
    text = ",".join(listed[:3])
    return f"{text} + {count - 3} more..." if count > 3 else text or empty


def _endpoints_cell(o: dict) -> str:
    """formatEndpoints: ip:port for each ready address and port ("<none>" without subsets)."""
    if not o.get("subsets"):
        return "<none>"
    listed = []
    for subset in o["subsets"]:
        addresses = subset.get("addresses") or []
        for port in subset.get("ports") or [None]:
            listed += [a["ip"] if port is None else f"{a['ip']}:{port['port']}" for a in addresses]
    return _more(listed, len(listed), "")


def _slice_row(o: dict) -> list:
    """printEndpointSlice: the address type, ports and addresses ("<unset>" when there are none)."""
    ports = [str(p["port"]) if p.get("port") is not None else p.get("name") or "*" for p in o.get("ports") or []]
    addresses = [a for e in o.get("endpoints") or [] for a in e.get("addresses", [])]
    return [o.get("addressType", ""), _more(ports, len(ports), "<unset>"), _more(addresses, len(addresses), "<unset>")]


def _subjects(o: dict, kind: str) -> str:
    """rbac.SubjectsStrings: the users, groups or service accounts (`<namespace>/<name>`) a binding names."""
    subjects = [s for s in o.get("subjects") or [] if s.get("kind") == kind]
    return ", ".join(f"{s.get('namespace', '')}/{s['name']}" if kind == "ServiceAccount" else s["name"] for s in subjects)


def _role_ref(o: dict) -> list:
    ref = o.get("roleRef") or {}
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}"]


def _subject_cells(o: dict) -> list:
    return [_subjects(o, "User"), _subjects(o, "Group"), _subjects(o, "ServiceAccount")]


def _created_at(o: dict) -> list:
    return [o["metadata"].get("creationTimestamp", "")]


# Kinds without a printer of their own get the API server's default table (k8s.io/apiserver pkg/registry/rest/
# table.go): the name and the creation time in RFC 3339, no age
WITHOUT_AGE = {"Role", "ClusterRole"}
COLUMNS = {
    "Role": (["Created At"], _created_at),
    "ClusterRole": (["Created At"], _created_at),
    "RoleBinding": (["Role"], _role_ref),
    "ClusterRoleBinding": (["Role"], _role_ref),
    "Endpoints": (["Endpoints"], lambda o: [_endpoints_cell(o)]),
    "EndpointSlice": (["AddressType", "Ports", "Endpoints"], _slice_row),
    "Service": (["Type", "Cluster-IP", "External-IP", "Port(s)"], _service_row),
    "Pod": (["Ready", "Status", "Restarts"], _pod_row),
    "Deployment": (["Ready", "Up-to-date", "Available"], _deployment_row),
    "Lease": (["Holder"], lambda o: [o.get("spec", {}).get("holderIdentity", "")]),
    "Node": (["Status", "Roles", "Age", "Version"], _node_row),  # Age before Version, as kubectl prints nodes
    "ReplicaSet": (["Desired", "Current", "Ready"],
                   lambda o: [o.get("spec", {}).get("replicas", 1), o.get("status", {}).get("replicas", 0),
                              o.get("status", {}).get("readyReplicas", 0)]),
    "Namespace": (["Status"], lambda o: [o.get("status", {}).get("phase", "Active")]),
    # printSecret, printConfigMap, printServiceAccount, printStatefulSet, printDaemonSet
    "Secret": (["Type", "Data"], lambda o: [o.get("type", ""), len(o.get("data") or {})]),
    "ConfigMap": (["Data"], lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})]),
    "ServiceAccount": (["Secrets"], lambda o: [len(o.get("secrets") or [])]),
    "StatefulSet": (["Ready"], lambda o: [f"{o.get('status', {}).get('readyReplicas', 0)}/{o.get('spec', {}).get('replicas', 1)}"]),
    "DaemonSet": (["Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector"],
                  lambda o: [*(o.get("status", {}).get(f, 0) for f in ("desiredNumberScheduled", "currentNumberScheduled",
                                                                       "numberReady", "updatedNumberScheduled",
                                                                       "numberAvailable")),
                             ",".join(f"{k}={v}" for k, v in (o.get("spec", {}).get("template", {}).get("spec", {})
                                                              .get("nodeSelector") or {}).items()) or "<none>"]),
    "Job": (["Status", "Completions", "Duration"], _job_row),
    "ReplicationController": (["Desired", "Current", "Ready"],
                              lambda o: [o.get("spec", {}).get("replicas", 1), o.get("status", {}).get("replicas", 0),
                                         o.get("status", {}).get("readyReplicas", 0)]),
}


def _node_wide(o: dict) -> list:
    status = o.get("status", {})
    address = {a["type"]: a["address"] for a in status.get("addresses", [])}
    info = status.get("nodeInfo", {})
    return [address.get("InternalIP", "<none>"), address.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _containers_wide(o: dict) -> list:
    """Containers, images and selector, as -o wide shows them for Deployments and ReplicaSets."""
    containers = o.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    selector = (o.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return [",".join(c["name"] for c in containers), ",".join(c.get("image", "") for c in containers),
            ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>"]


# The -o wide columns (priority 1 in the Table, after Age), as kubectl 1.32's printers add them
WIDE = {
    "RoleBinding": (["Users", "Groups", "ServiceAccounts"], _subject_cells),
    "ClusterRoleBinding": (["Users", "Groups", "ServiceAccounts"], _subject_cells),
    "Pod": (["IP", "Node", "Nominated Node", "Readiness Gates"],
            lambda o: [o.get("status", {}).get("podIP", "<none>"), o.get("spec", {}).get("nodeName", "<none>"), "<none>", "<none>"]),
    "Node": (["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"], _node_wide),
    "Service": (["Selector"], lambda o: [",".join(f"{k}={v}" for k, v in (o.get("spec", {}).get("selector") or {}).items())
                                         or "<none>"]),
    "Deployment": (["Containers", "Images", "Selector"], _containers_wide),
    "ReplicaSet": (["Containers", "Images", "Selector"], _containers_wide),
    "StatefulSet": (["Containers", "Images"], lambda o: _containers_wide(o)[:2]),
    "DaemonSet": (["Containers", "Images", "Selector"], _containers_wide),
}


def _jsonpath(obj: dict, path: str):
    node = obj
    for part in [p for p in path.strip(".").split(".") if p]:
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else node if isinstance(node, (int, float)) else str(node)


def _since(stamp: str | None) -> str:
    return _age({"metadata": {"creationTimestamp": stamp}})


INCLUDE_OBJECT = ("Metadata", "Object", "None")  # metav1.IncludeObjectPolicy; "" is Metadata


def asked_table(request) -> str | None:
    """For a request that asks for a Table (`Accept: ...;as=Table`, kubectl's get), the `includeObject` policy
    for its rows; None for a request that asks for the objects themselves. kubectl asks for Object where it
    reads the rows' objects (`--sort-by`, `-o custom-columns` with `--server-print`); anything else is a 400
    (k8s.io/apiserver v0.32.0 pkg/endpoints/handlers/response.go, transformTable)."""
    if "as=Table" not in request.headers.get("Accept", ""):
        return None
    asked = request.query.get("includeObject", "") or "Metadata"
    if asked not in INCLUDE_OBJECT:
        raise ApiError(400, "BadRequest", f'unrecognized includeObject value: "{asked}"')
    return asked


def _row_object(obj: dict, include: str) -> dict | None:
    """Each row's object: its metadata as a PartialObjectMetadata (the default), the whole object, or none."""
    if include == "Object":
        return obj
    if include == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def _event_table(objects: list[dict], include: str) -> dict:
    """printEvent (pkg/printers/internalversion/printers.go): no Name column first and no Age last, but when
    it was last seen, its type, reason, object and message."""
    columns = [{"name": n, "type": "string", "format": "", "description": "", "priority": 0}
               for n in ("Last Seen", "Type", "Reason", "Object", "Message")]
    rows = [{"cells": [_since(o.get("lastTimestamp") or o["metadata"].get("creationTimestamp")), o.get("type", ""),
                       o.get("reason", ""), f"{o['involvedObject']['kind'].lower()}/{o['involvedObject']['name']}",
                       (o.get("message") or "").strip()],
             "object": _row_object(o, include)}
            for o in objects]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}


def table(res: Resource, objects: list[dict], include: str = "Metadata") -> dict:
    """`objects` as the Table kubectl asks for (`Accept: ...;as=Table`), each row's object as `include` says."""
    if res.kind == "Event":
        return _event_table(objects, include)
    names, row = COLUMNS.get(res.kind, ([], lambda o: []))
    extra = [c for c in res.printer_columns if c.get("priority", 0) == 0]
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    columns += [{"name": n, "type": "string", "format": "", "description": "", "priority": 0} for n in names]
    columns += [{"name": c["name"], "type": c.get("type", "string"), "format": "", "description": "", "priority": 0}
                for c in extra if c["name"] != "Age"]
    aged = "Age" not in names and res.kind not in WITHOUT_AGE
    if aged:  # last, unless the kind's printer puts it elsewhere (its row gives the cell then) or has none
        columns.append({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0})
    wide_names, wide = WIDE.get(res.kind, ([], lambda o: []))
    columns += [{"name": n, "type": "string", "format": "", "description": "", "priority": 1} for n in wide_names]
    rows = []
    for o in objects:
        cells = [o["metadata"]["name"], *row(o)]
        cells += [_jsonpath(o, c["jsonPath"]) for c in extra if c["name"] != "Age"]
        rows.append({"cells": cells + ([_age(o)] if aged else []) + wide(o), "object": _row_object(o, include)})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}
