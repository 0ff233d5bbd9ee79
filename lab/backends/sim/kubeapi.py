"""A Kubernetes API server for one simulated cluster, served by the lab process over HTTPS on loopback.

It speaks the subset real `kubectl` and the official Python client use on the lab's objects:
`/version`, discovery (`/api`, `/apis`, each group version, CRDs as they are applied), get, list
(label and field selectors, server-side Tables for kubectl's human output), watch (chunked events
from a resourceVersion, bookmarks when asked), create, update (optimistic concurrency), delete,
JSON merge / strategic merge / JSON patch, server-side apply as a strategic merge of the applied
object, the `status` and `scale` subresources, `pods/exec` over kubectl's websocket protocol, and
`pods/log`. Errors are `Status` objects with the API server's codes and reasons.

Authentication as a kind cluster's: the admin's client certificate (verified against the cluster's
CA), or a ServiceAccount token from the cluster's token Secrets. Authorization is RBAC over the
cluster's own Roles and bindings (rbac.py).
"""
from __future__ import annotations

import asyncio
import calendar
import json
import logging
import re
import secrets
import ssl
import time
from typing import TYPE_CHECKING, Awaitable, Callable

from aiohttp import WSMsgType, web

from . import patches, protobodies, protowire, rbac
from .apicerts import ApiCerts
from .apiresources import BUILT_IN, Catalog, Resource
from .store import Gone, ObjectError

if TYPE_CHECKING:
    from .cluster import SimCluster

log = logging.getLogger("lab.sim.kubeapi")
WATCH_BOOKMARK_SECONDS = 5.0
BUILT_IN_GROUPS = {r.group for r in BUILT_IN}  # strategic merge patch knows their lists; custom resources take merge patch
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")  # kubectl >= 1.30 speaks these over websockets
# exec(cluster, namespace, pod, container, argv) -> (exit code, stdout, stderr)
Exec = Callable[["SimCluster", str, str, str, list], Awaitable[tuple[int, bytes, bytes]]]


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}


def _no_route() -> ApiError:
    """The API server's answer to a path it does not serve."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _not_found(res: Resource, name: str) -> ApiError:
    qualified = f"{res.plural}.{res.group}" if res.group else res.plural
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


# -- selectors ---------------------------------------------------------------------------------------
_REQUIREMENT = re.compile(r"\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*")


def label_matcher(selector: str | None) -> Callable[[dict], bool]:
    """A label selector (equality and set-based, as `kubectl -l` sends) as a predicate on labels."""
    if not selector:
        return lambda labels: True
    tests = []
    for part in re.split(r",(?![^()]*\))", selector):
        m = _REQUIREMENT.fullmatch(part)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        negate, key, op, value, set_op, values = m.groups()
        if op in ("=", "=="):
            tests.append(lambda l, k=key, v=value: l.get(k) == v)
        elif op == "!=":
            tests.append(lambda l, k=key, v=value: l.get(k) != v)
        elif set_op:
            wanted = {v.strip() for v in values.split(",") if v.strip()}
            tests.append((lambda l, k=key, w=wanted: l.get(k) in w) if set_op == "in"
                         else (lambda l, k=key, w=wanted: l.get(k) not in w))
        else:
            tests.append((lambda l, k=key: k not in l) if negate else (lambda l, k=key: k in l))
    return lambda labels: all(t(labels or {}) for t in tests)


def field_matcher(selector: str | None) -> Callable[[dict], bool]:
    """Field selectors on the fields every kind supports (metadata.name, metadata.namespace) and the
    few the lab's kubectl commands use (status.phase, spec.nodeName, type)."""
    if not selector:
        return lambda obj: True
    tests = []
    for part in selector.split(","):
        m = re.fullmatch(r"\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not m or m.group(1) not in ("metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "type",
                                          "reason", "involvedObject.name", "involvedObject.kind",
                                          "involvedObject.namespace", "involvedObject.uid"):
            raise ApiError(400, "BadRequest", f'field label not supported: {part.split("=")[0].strip()}')
        path, op, value = m.groups()

        def read(obj, path=path):
            node = obj
            for p in path.split("."):
                node = node.get(p, {}) if isinstance(node, dict) else {}
            return node if isinstance(node, str) else ""

        tests.append((lambda o, r=read, v=value: r(o) == v) if op != "!=" else (lambda o, r=read, v=value: r(o) != v))
    return lambda obj: all(t(obj) for t in tests)


# -- tables (kubectl's human output) -----------------------------------------------------------------
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
    spec, status = o.get("spec", {}), o.get("status", {})
    sidecars = {c["name"] for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"}
    statuses = status.get("containerStatuses", []) + [c for c in status.get("initContainerStatuses", []) if c["name"] in sidecars]
    ready = sum(1 for c in statuses if c.get("ready"))
    return [f"{ready}/{len(spec.get('containers', [])) + len(sidecars)}",
            o.get("status", {}).get("reason") or o.get("status", {}).get("phase", "Unknown"), 0]


def _deployment_row(o: dict) -> list:
    status, replicas = o.get("status", {}), o.get("spec", {}).get("replicas", 1)
    return [f"{status.get('readyReplicas', 0)}/{replicas}", status.get("updatedReplicas", 0), status.get("availableReplicas", 0)]


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


COLUMNS = {
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
    "Pod": (["IP", "Node", "Nominated Node", "Readiness Gates"],
            lambda o: [o.get("status", {}).get("podIP", "<none>"), o.get("spec", {}).get("nodeName", "<none>"), "<none>", "<none>"]),
    "Node": (["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"], _node_wide),
    "Service": (["Selector"], lambda o: [",".join(f"{k}={v}" for k, v in (o.get("spec", {}).get("selector") or {}).items())
                                         or "<none>"]),
    "Deployment": (["Containers", "Images", "Selector"], _containers_wide),
    "ReplicaSet": (["Containers", "Images", "Selector"], _containers_wide),
}


def _jsonpath(obj: dict, path: str):
    node = obj
    for part in [p for p in path.strip(".").split(".") if p]:
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else node if isinstance(node, (int, float)) else str(node)


def _since(stamp: str | None) -> str:
    return _age({"metadata": {"creationTimestamp": stamp}})


def _event_table(objects: list[dict]) -> dict:
    """printEvent (pkg/printers/internalversion/printers.go): no Name column first and no Age last, but when
    it was last seen, its type, reason, object and message."""
    columns = [{"name": n, "type": "string", "format": "", "description": "", "priority": 0}
               for n in ("Last Seen", "Type", "Reason", "Object", "Message")]
    rows = [{"cells": [_since(o.get("lastTimestamp") or o["metadata"].get("creationTimestamp")), o.get("type", ""),
                       o.get("reason", ""), f"{o['involvedObject']['kind'].lower()}/{o['involvedObject']['name']}",
                       (o.get("message") or "").strip()],
             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}
            for o in objects]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}


def table(res: Resource, objects: list[dict]) -> dict:
    if res.kind == "Event":
        return _event_table(objects)
    names, row = COLUMNS.get(res.kind, ([], lambda o: []))
    extra = [c for c in res.printer_columns if c.get("priority", 0) == 0]
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    columns += [{"name": n, "type": "string", "format": "", "description": "", "priority": 0} for n in names]
    columns += [{"name": c["name"], "type": c.get("type", "string"), "format": "", "description": "", "priority": 0}
                for c in extra if c["name"] != "Age"]
    if "Age" not in names:  # last, unless the kind's printer puts it elsewhere (its row gives the cell then)
        columns.append({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0})
    wide_names, wide = WIDE.get(res.kind, ([], lambda o: []))
    columns += [{"name": n, "type": "string", "format": "", "description": "", "priority": 1} for n in wide_names]
    rows = []
    for o in objects:
        cells = [o["metadata"]["name"], *row(o)]
        cells += [_jsonpath(o, c["jsonPath"]) for c in extra if c["name"] != "Age"]
        rows.append({"cells": cells + ([] if "Age" in names else [_age(o)]) + wide(o),
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}


# -- the server ----------------------------------------------------------------------------------------
class KubeAPI:
    def __init__(self, cluster: "SimCluster", certs: ApiCerts, version: str, run_exec: Exec):
        self.cluster, self.certs, self.version, self.run_exec = cluster, certs, version, run_exec
        self.catalog = Catalog(cluster.store)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.requests = 0
        self._watches: set[asyncio.Task] = set()  # open watch streams, ended at stop

    async def start(self, port: int = 0) -> int:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.certs.server)
        context.load_verify_locations(self.certs.ca)
        context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate, or a bearer token
        site = web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """End every open watch (a watch is a request that lasts minutes: the server would otherwise wait
        for each before it stops), then the server."""
        for task in list(self._watches):
            task.cancel()
        if self.runner is not None:
            await self.runner.cleanup()

    # -- authentication -----------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> rbac.User | None:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        if peer:
            fields = [item for rdn in peer.get("subject", ()) for item in rdn]
            cn = next((v for k, v in fields if k == "commonName"), None)
            groups = tuple(v for k, v in fields if k == "organizationName")
            if cn:
                return rbac.User(cn, (*groups, "system:authenticated"))
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return self.cluster.authenticate(header.removeprefix("Bearer ").strip())
        return None

    # -- dispatch -----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        try:
            user = self.authenticate(request)
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            path = request.path.rstrip("/") or "/"
            if path.startswith(("/version", "/healthz", "/livez", "/readyz", "/openapi")) or self._is_discovery(path):
                return self.discovery(path)  # every authenticated user may read these (system:discovery)
            return await self.resource_request(request, user, path)
        except ApiError as exc:
            return web.json_response(exc.status(), status=exc.code)
        except (ObjectError, patches.PatchError) as exc:
            return web.json_response(ApiError(422, "Invalid", str(exc)).status(), status=422)
        except json.JSONDecodeError as exc:
            return web.json_response(ApiError(400, "BadRequest", f"the body is not JSON: {exc}").status(), status=400)

    def _is_discovery(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        return parts[0] == "api" and len(parts) <= 2 or parts[0] == "apis" and len(parts) <= 3

    def discovery(self, path: str) -> web.Response:
        parts = path.strip("/").split("/")
        if path == "/version":
            minor = self.version.split(".")[1]
            return web.json_response({"major": "1", "minor": minor, "gitVersion": self.version, "gitTreeState": "clean",
                                      "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
                                      "buildDate": "2025-01-01T00:00:00Z", "gitCommit": "lab-simulation"})
        if parts[0] in ("healthz", "livez", "readyz"):
            return web.Response(text="ok")
        if parts == ["api"]:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}]})
        if parts == ["apis"]:
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": self.catalog.groups()})
        if parts[0] == "api" and len(parts) == 2:
            found = self.catalog.resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            group = next((g for g in self.catalog.groups() if g["name"] == parts[1]), None)
            if group:
                return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **group})
            found = None
        elif parts[0] == "apis" and len(parts) == 3:
            found = self.catalog.resource_list(parts[1], parts[2])
        elif parts[:2] == ["openapi", "v3"]:
            found = self.openapi_v3(parts[2:])
        else:
            found = None  # /openapi/v2: not served (kubectl asks for it only when v3 is missing)
        if found is None:
            raise _no_route()
        return web.json_response(found)

    def openapi_v3(self, gv_path: list[str]) -> dict | None:
        """OpenAPI v3 as far as kubectl reads it: the index of group versions, and per group version the
        PATCH operations that take `fieldValidation`, from which kubectl learns that the server validates
        (k8s.io/cli-runtime resource.QueryParamVerifierV3). Schemas are not served: kubectl then computes
        strategic merge patches from its built-in types, as it does for any server without them."""
        served = {(r.group, r.version) for r in self.catalog.all()}
        if not gv_path:
            return {"paths": {(f"apis/{g}/{v}" if g else f"api/{v}"): {"serverRelativeURL": f"/openapi/v3/{'apis/' + g if g else 'api'}/{v}"}
                              for g, v in sorted(served)}}
        group, version = ("", gv_path[1]) if gv_path[0] == "api" and len(gv_path) == 2 else \
            (gv_path[1], gv_path[2]) if gv_path[0] == "apis" and len(gv_path) == 3 else (None, None)
        if (group, version) not in served:
            return None
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        paths = {}
        for r in self.catalog.served(group, version):
            item = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{prefix}/{r.plural}/{{name}}"
            paths[item] = {"patch": {"x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                                     "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                                     "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": self.version}, "paths": paths,
                "components": {"schemas": {}}}

    def _target(self, path: str) -> tuple[Resource, str, str, str]:
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _no_route()
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        res = self.catalog.find(group, version, rest[0])
        name, sub = (rest[1] if len(rest) > 1 else ""), (rest[2] if len(rest) > 2 else "")
        if res is None or len(rest) > 3 or (sub and sub not in res.subresources) or (namespace and not res.namespaced):
            raise _no_route()
        return res, namespace, name, sub

    async def resource_request(self, request: web.Request, user: rbac.User, path: str) -> web.StreamResponse:
        res, namespace, name, sub = self._target(path)
        if request.method in ("POST", "PUT") and request.content_type not in ("application/json", "application/yaml", "",
                                                                              PROTOBUF):
            # CBOR is not read here; client-go v0.32 retries it as JSON after a 415 (rest/client.go). Which
            # protobuf bodies are read, `_body` decides.
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                                                        "media types include: application/json, application/yaml")
        query = request.query
        method = request.method
        watching = query.get("watch") in ("1", "true")
        verb = {"GET": "watch" if watching else ("get" if name else "list"), "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}.get(method)
        if sub == "exec":
            verb = "create"  # websocket exec arrives as GET; RBAC asks for create on pods/exec
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")
        if res.kind == "SelfSubjectAccessReview":  # `kubectl auth can-i`: every user may ask about itself
            body = await request.read()
            review = _access_review_from_protobuf(body) if request.content_type == PROTOBUF else self._json(body)
            return web.json_response(self.access_review(user, review), status=201)
        resource = f"{res.plural}/{sub}" if sub else res.plural
        wanted = rbac.Request(verb, res.group, resource, namespace, name)
        if not rbac.allowed(self.cluster.store, user, wanted):
            raise ApiError(403, "Forbidden", rbac.forbidden_message(user, wanted),
                           {"name": name, "group": res.group, "kind": res.plural})
        if sub == "exec":
            return await self.exec(request, namespace, name)
        if sub == "log":
            return self.logs(namespace, name, query)
        if verb == "watch":
            return await self.watch(request, res, namespace, name)
        if verb == "list":
            return self.list(request, res, namespace)
        if verb == "get":
            obj = self._get(res, namespace, name)
            return web.json_response(self._scale(res, obj) if sub == "scale" else obj)
        body = await request.read()
        dry_run = "All" in query.getall("dryRun", [])
        if verb == "create":
            return web.json_response(self.create(res, namespace, self._body(request, res, sub, body), dry_run), status=201)
        if verb == "update":
            return web.json_response(self.update(res, namespace, name, sub, self._body(request, res, sub, body), dry_run))
        if verb == "patch":
            return self.patch(request, res, namespace, name, sub, body, dry_run)
        if verb == "delete":
            return web.json_response(self.delete(res, namespace, name, dry_run))
        deleted = [o["metadata"]["name"] for o in self._select(res, namespace, query)]
        if not dry_run:
            for n in deleted:
                self.cluster.store.delete(res.kind, namespace, n)
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.group_version, "metadata": {}, "items": []})

    def access_review(self, user: rbac.User, review: dict) -> dict:
        attrs = review.get("spec", {}).get("resourceAttributes") or {}
        resource = attrs.get("resource", "") + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
        asked = rbac.Request(attrs.get("verb", ""), attrs.get("group", ""), resource, attrs.get("namespace", ""),
                             attrs.get("name", ""))
        # A denial has no reason: the RBAC authorizer gives one only for errors resolving roles
        # (plugin/pkg/auth/authorizer/rbac/rbac.go Authorize), so `kubectl auth can-i` prints a bare "no".
        return {**review, "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "status": {"allowed": rbac.allowed(self.cluster.store, user, asked)}}

    # -- reads ----------------------------------------------------------------------------------
    def _out(self, res: Resource, obj: dict) -> dict:
        return {**obj, "apiVersion": res.group_version, "kind": res.kind}

    def _get(self, res: Resource, namespace: str, name: str) -> dict:
        obj = self.cluster.store.view(res.kind, namespace, name)
        if obj is None or not self._kind_group_matches(res, obj):
            raise _not_found(res, name)
        return self._out(res, obj)

    def _kind_group_matches(self, res: Resource, obj: dict) -> bool:
        api = obj.get("apiVersion", "v1")
        return (api.split("/")[0] if "/" in api else "") == res.group

    def _select(self, res: Resource, namespace: str, query) -> list[dict]:
        labels, fields = label_matcher(query.get("labelSelector")), field_matcher(query.get("fieldSelector"))
        candidates = self.cluster.store.views(res.kind, namespace or None)
        objects = [o for o in candidates if (not namespace or o["metadata"].get("namespace") == namespace)
                   and self._kind_group_matches(res, o) and labels(o["metadata"].get("labels")) and fields(o)]
        return sorted(objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def list(self, request: web.Request, res: Resource, namespace: str) -> web.Response:
        objects = [self._out(res, o) for o in self._select(res, namespace, request.query)]
        if "as=Table" in request.headers.get("Accept", ""):
            return web.json_response({**table(res, objects),
                                      "metadata": {"resourceVersion": str(self.cluster.store.last_version)}})
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.group_version,
                                  "metadata": {"resourceVersion": str(self.cluster.store.last_version)}, "items": objects})

    async def watch(self, request: web.Request, res: Resource, namespace: str, name: str) -> web.StreamResponse:
        query = request.query
        labels, fields = label_matcher(query.get("labelSelector")), field_matcher(query.get("fieldSelector"))
        named = (lambda o: o["metadata"]["name"] == name) if name else (lambda o: True)
        as_table, columns_sent = "as=Table" in request.headers.get("Accept", ""), []

        def shaped(obj: dict) -> dict:
            """The object, or for `kubectl get -w` its Table row; the columns come with the first only."""
            if not as_table:
                return self._out(res, obj)
            row = {**table(res, [self._out(res, obj)]), "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}}
            if columns_sent:
                row["columnDefinitions"] = []
            columns_sent.append(True)
            return row

        def wanted(obj: dict) -> bool:
            return (obj.get("kind") == res.kind and self._kind_group_matches(res, obj)
                    and (not namespace or obj["metadata"].get("namespace") == namespace)
                    and named(obj) and labels(obj["metadata"].get("labels")) and fields(obj))

        async def relay(kind: str, obj: dict, old: dict | None) -> None:
            """As the API server's watch filters a change: by the object before and after it, so one that
            leaves the selectors is DELETED for this watch and one that enters them ADDED."""
            was = old is not None and wanted(old)
            now = kind != "DELETED" and wanted(obj)
            if was or now:
                await self._event(response, "MODIFIED" if was and now else "ADDED" if now else "DELETED", shaped(obj))

        queue: asyncio.Queue = asyncio.Queue()
        unsubscribe = self.cluster.store.subscribe(queue.put_nowait)
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        task = asyncio.current_task()
        self._watches.add(task)
        try:
            await response.prepare(request)
            since = query.get("resourceVersion", "")
            initial = query.get("sendInitialEvents") == "true"
            if since in ("", "0") or initial:
                for obj in self._select(res, namespace, query):
                    if named(obj):
                        await self._event(response, "ADDED", shaped(obj))
                if initial:
                    await self._bookmark(response, res, {"k8s.io/initial-events-end": "true"})
            else:
                try:
                    missed = self.cluster.store.changes_since(int(since))
                except (Gone, ValueError) as exc:
                    await self._event(response, "ERROR", ApiError(410, "Expired", str(exc)).status())
                    return response
                for _, kind, obj, old in missed:
                    await relay(kind, obj, old)
            timeout = float(query.get("timeoutSeconds", "1800"))
            deadline = time.monotonic() + timeout
            bookmarks = query.get("allowWatchBookmarks") == "true"
            while time.monotonic() < deadline:
                wait = min(deadline - time.monotonic(), WATCH_BOOKMARK_SECONDS)
                try:
                    _, kind, obj, old = await asyncio.wait_for(queue.get(), max(wait, 0.01))
                except asyncio.TimeoutError:
                    if bookmarks:
                        await self._bookmark(response, res)
                    continue
                await relay(kind, obj, old)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            self._watches.discard(task)
        return response

    async def _event(self, response: web.StreamResponse, kind: str, obj: dict) -> None:
        await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    async def _bookmark(self, response: web.StreamResponse, res: Resource, annotations: dict | None = None) -> None:
        meta = {"resourceVersion": str(self.cluster.store.last_version), **({"annotations": annotations} if annotations else {})}
        await self._event(response, "BOOKMARK", {"kind": res.kind, "apiVersion": res.group_version, "metadata": meta})

    # -- writes ---------------------------------------------------------------------------------
    def _body(self, request: web.Request, res: Resource, sub: str, body: bytes) -> dict:
        """The object a create or update sends. kubectl's typed clients send protobuf, and client-go does not
        retry a 415 for it as JSON (rest/client.go, v0.32.3), so a body the simulation cannot read says what to
        do instead: a real API server reads them all."""
        if request.content_type != PROTOBUF:
            return self._json(body)
        try:
            if sub:
                raise protobodies.Unreadable(f"{res.kind} {sub} bodies")
            return protobodies.decode(body, res.group, res.version, res.kind)
        except protobodies.Unreadable as exc:
            raise ApiError(415, "UnsupportedMediaType", f"the simulated API cannot read {exc} in protobuf: "
                                                        "`kubectl apply -f` a manifest instead") from None

    @staticmethod
    def _json(body: bytes) -> dict:
        data = json.loads(body or b"{}")
        if not isinstance(data, dict):
            raise ApiError(400, "BadRequest", "the body is not a JSON object")
        return data

    def _prepare(self, res: Resource, namespace: str, obj: dict) -> dict:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                                                  "sent on the request")
            meta["namespace"] = namespace or meta.get("namespace") or "default"
            if self.cluster.store.view("Namespace", "", meta["namespace"]) is None:
                raise ApiError(404, "NotFound", f'namespaces "{meta["namespace"]}" not found',
                               {"name": meta["namespace"], "kind": "namespaces"})
        else:
            meta.pop("namespace", None)
        if obj.get("kind", res.kind) != res.kind:
            raise ApiError(400, "BadRequest", f"the kind {obj.get('kind')} does not match the resource {res.plural}")
        obj["kind"], obj["apiVersion"] = res.kind, res.group_version
        validate(res, obj)
        return obj

    def create(self, res: Resource, namespace: str, obj: dict, dry_run: bool) -> dict:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value: name or generateName is required")
        obj = self._prepare(res, namespace, obj)
        store = self.cluster.store
        if store.view(res.kind, obj["metadata"].get("namespace", ""), meta["name"]) is not None:
            qualified = f"{res.plural}.{res.group}" if res.group else res.plural
            raise ApiError(409, "AlreadyExists", f'{qualified} "{meta["name"]}" already exists',
                           {"name": meta["name"], "group": res.group, "kind": res.plural})
        for field in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            meta.pop(field, None)
        if dry_run:
            return obj
        store.apply(obj)
        if "status" in obj:
            store.set_status(res.kind, obj["metadata"].get("namespace", ""), meta["name"], obj["status"])
        return self._get(res, obj["metadata"].get("namespace", ""), meta["name"])

    def update(self, res: Resource, namespace: str, name: str, sub: str, obj: dict, dry_run: bool) -> dict:
        current = self._get(res, namespace, name)
        if sub == "scale":
            return self._set_replicas(res, current, int(obj.get("spec", {}).get("replicas", 0)), dry_run)
        offered = obj.get("metadata", {}).get("resourceVersion")
        if offered and offered != current["metadata"]["resourceVersion"]:
            qualified = f"{res.plural}.{res.group}" if res.group else res.plural
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": the object has been '
                                            "modified; please apply your changes to the latest version and try again",
                           {"name": name, "group": res.group, "kind": res.plural})
        if obj.get("metadata", {}).get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        obj = self._prepare(res, namespace, obj)
        if dry_run:
            return obj
        if sub == "status":
            self.cluster.store.set_status(res.kind, namespace, name, obj.get("status", {}))
        else:
            self.cluster.store.apply(obj)
        return self._get(res, namespace, name)

    def patch(self, request: web.Request, res: Resource, namespace: str, name: str, sub: str, body: bytes,
              dry_run: bool) -> web.Response:
        kind = request.content_type
        if kind == "application/apply-patch+yaml":
            import yaml

            applied = yaml.safe_load(body) or {}
            try:
                current = self._get(res, namespace, name)
            except ApiError:
                applied.setdefault("metadata", {})["name"] = name
                return web.json_response(self.create(res, namespace, applied, dry_run), status=201)
            # Server-side apply without field managers: the applied fields win, as `--force-conflicts` would.
            result = (patches.strategic_merge_patch(current, applied) if res.group in BUILT_IN_GROUPS
                      else patches.merge_patch(current, applied))
        else:
            current = self._get(res, namespace, name)
            document = self._scale(res, current) if sub == "scale" else current
            patch = json.loads(body or b"{}")
            if kind == "application/merge-patch+json":
                result = patches.merge_patch(document, patch)
            elif kind == "application/strategic-merge-patch+json":
                if res.group not in BUILT_IN_GROUPS:
                    raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom "
                                                                "resources; use --type=merge")
                result = patches.strategic_merge_patch(document, patch)
            elif kind == "application/json-patch+json":
                try:
                    result = patches.json_patch(document, patch)
                except patches.PatchError as exc:
                    raise ApiError(422, "Invalid", str(exc)) from None
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}")
            if sub == "scale":
                return web.json_response(self._set_replicas(res, current, int(result.get("spec", {}).get("replicas", 0)),
                                                             dry_run))
        result.setdefault("metadata", {})["name"] = name
        result["metadata"]["resourceVersion"] = ""
        return web.json_response(self.update(res, namespace, name, sub, result, dry_run))

    def delete(self, res: Resource, namespace: str, name: str, dry_run: bool) -> dict:
        obj = self._get(res, namespace, name)
        if not dry_run:
            self.cluster.store.delete(res.kind, namespace, name)
            if res.kind == "Namespace":  # its contents go with it (a real one is Terminating until they have)
                self.cluster.store.delete_namespaced(name)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": res.group, "kind": res.plural, "uid": obj["metadata"].get("uid")}}

    # -- scale ----------------------------------------------------------------------------------
    def _scale(self, res: Resource, obj: dict) -> dict:
        if "scale" not in res.subresources:
            raise _no_route()
        selector = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                             "resourceVersion": meta.get("resourceVersion"), "creationTimestamp": meta.get("creationTimestamp")},
                "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}}

    def _set_replicas(self, res: Resource, current: dict, replicas: int, dry_run: bool) -> dict:
        if replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{current["metadata"]["name"]}" is invalid: spec.replicas: '
                                           "Invalid value: must be greater than or equal to 0")
        obj = {**current, "spec": {**current.get("spec", {}), "replicas": replicas}}
        if not dry_run:
            self.cluster.store.apply(obj)
        return self._scale(res, self._get(res, current["metadata"].get("namespace", ""), current["metadata"]["name"]))

    # -- pods: logs and exec -------------------------------------------------------------------------
    def logs(self, namespace: str, name: str, query) -> web.Response:
        pod = self.cluster.store.view("Pod", namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        runtime = self.cluster.pods.get((namespace, name))
        container = query.get("container") or pod["spec"]["containers"][0]["name"]
        lines = runtime.logs(container) if runtime is not None else []
        tail = int(query.get("tailLines", "0") or 0)
        return web.Response(text="".join(f"{line}\n" for line in (lines[-tail:] if tail else lines)))

    async def exec(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        pod = self.cluster.store.view("Pod", namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        argv = request.query.getall("command", [])
        container = request.query.get("container") or pod["spec"]["containers"][0]["name"]
        running = [c["name"] for c in pod["spec"].get("containers", [])]
        running += [c["name"] for c in pod["spec"].get("initContainers", []) if c.get("restartPolicy") == "Always"]
        if container not in running:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS)
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "BadRequest", "exec needs a websocket upgrade (v4 or v5.channel.k8s.io); "
                                              "the simulation does not speak SPDY")
        await ws.prepare(request)
        try:
            code, out, err = await self.run_exec(self.cluster, namespace, name, container, argv)
            if out:
                await ws.send_bytes(b"\x01" + out)
            if err:
                await ws.send_bytes(b"\x02" + err)
            if code == 0:
                status = {"metadata": {}, "status": "Success"}
            else:
                status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                          "message": f"command terminated with non-zero exit code: error executing command "
                                     f"[{' '.join(argv)}], exit code {code}",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        finally:
            await ws.close()
        # Drain whatever the client still sends (stdin close frames) until it closes too.
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return ws


PROTOBUF = "application/vnd.kubernetes.protobuf"


def _access_review_from_protobuf(body: bytes) -> dict:
    """kubectl's typed clients send protobuf: the `k8s\\0` magic, a runtime.Unknown envelope whose raw
    bytes (field 2) are the SelfSubjectAccessReview (k8s.io/api/authorization/v1 generated.proto: spec = 2,
    resourceAttributes = 1, then namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7)."""
    if not body.startswith(b"k8s\x00"):
        raise ApiError(400, "BadRequest", "a protobuf body must start with the k8s magic")
    try:
        raw = dict(protowire.fields(body[4:])).get(2, b"")
        spec = dict(protowire.fields(dict(protowire.fields(raw)).get(2, b"")))
        attrs = dict(protowire.fields(spec.get(1, b"")))
    except protowire.ProtoError as exc:
        raise ApiError(400, "BadRequest", f"cannot read the SelfSubjectAccessReview: {exc}") from None
    keys = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"}
    return {"spec": {"resourceAttributes": {keys[n]: v.decode() for n, v in attrs.items() if n in keys}}}


# -- validation: what the API server refuses with 422 for the kinds the lab applies ----------------------
def validate(res: Resource, obj: dict) -> None:
    name = obj["metadata"].get("name", "")
    where = f'{res.kind}{"." + res.group if res.group else ""} "{name}" is invalid'
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) or len(name) > 253:
        raise ApiError(422, "Invalid", f"{where}: metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain "
                                       "must consist of lower case alphanumeric characters, '-' or '.'")
    spec = obj.get("spec") or {}
    if res.kind == "Deployment":
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            raise ApiError(422, "Invalid", f"{where}: spec.selector: Required value")
        if any(labels.get(k) != v for k, v in selector.items()):
            raise ApiError(422, "Invalid", f"{where}: spec.template.metadata.labels: Invalid value: {labels}: "
                                           "`selector` does not match template `labels`")
        if not (spec.get("template") or {}).get("spec", {}).get("containers"):
            raise ApiError(422, "Invalid", f"{where}: spec.template.spec.containers: Required value")
    if res.kind == "Service":
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port.get("port"), int) or not 0 < port["port"] < 65536:
                raise ApiError(422, "Invalid", f"{where}: spec.ports[{i}].port: Invalid value: {port.get('port')!r}: "
                                               "must be between 1 and 65535, inclusive")
