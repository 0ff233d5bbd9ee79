"""The Kubernetes API server of one simulated cluster, served by the lab process over HTTPS on loopback.

It speaks the subset real `kubectl` and the official Python client use on the lab's objects (the package's
docstring lists it). This module serves it: TLS with client certificates or bearer tokens, each request
authenticated (auth.py), discovery answered (discovery.py), any other path routed to a resource, a verb
and a subresource, authorized by RBAC, then answered by the REST verbs (rest.py), a watch (watch.py), or
a pod's log or exec. Errors are `Status` objects with the API server's codes and reasons (status.py).
"""
from __future__ import annotations

import json
import logging
import ssl
from typing import Awaitable, Callable, Mapping, NamedTuple, Protocol

from aiohttp import web

from .. import patches, rbac
from ..apicerts import ApiCerts
from ..apiresources import Catalog, Resource
from ..store import ObjectError, ObjectStore
from .. import execstream
from . import discovery
from .auth import (Asked, access_review, access_review_from_protobuf, authenticate, impersonated, info_forbidden,
                   may_read_info, self_review)
from ..execstream import ExecStreams
from .rest import PROTOBUF, Resources, Write, json_body
from .schemas import release
from .status import ApiError, no_route
from .tables import asked_table, table
from .watch import Watches

log = logging.getLogger("lab.sim.kubeapi")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# Every authenticated user may ask these about itself: the system:basic-user ClusterRole, bound to
# system:authenticated (bootstrappolicy), grants create on both.
REVIEWS_OF_ONESELF = ("SelfSubjectAccessReview", "SelfSubjectReview")
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")  # kubectl >= 1.30 speaks these over websockets


def _log_containers(spec: dict) -> list[str]:
    """Whose log a pod has: any of its containers (the pod log REST's check, registry/core/pod)."""
    return [c["name"] for field in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(field) or []]


def _exec_containers(spec: dict) -> list[str]:
    """What an exec may enter: the containers that run, sidecars (init containers that restart) included."""
    return [c["name"] for c in spec.get("containers", [])] + \
        [c["name"] for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]


class PodLogs(Protocol):
    def logs(self, container: str) -> list[str]: ...


class ServedCluster(Protocol):
    """What the API server reads of its cluster besides the objects: the running pods, by (namespace, name),
    for `kubectl logs` (lab.sim.world.cluster.SimCluster is one)."""

    store: ObjectStore
    pods: Mapping[tuple[str, str], PodLogs]


# exec(cluster, namespace, pod, container, argv, streams) -> exit code; raises execstream.ExecFailed when
# the command cannot start
Exec = Callable[[ServedCluster, str, str, str, list, ExecStreams], Awaitable[int]]


def request_verb(method: str, named: bool, watching: bool) -> str | None:
    """The authorizer's verb for a resource request (endpoints/request RequestInfoFactory)."""
    return {"GET": "watch" if watching else ("get" if named else "list"), "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete" if named else "deletecollection"}.get(method)


class ResourceURL(NamedTuple):
    group: str
    version: str
    namespace: str
    resource: str
    name: str
    sub: str
    extra: bool  # segments after the subresource: no route, though the authorizer reads the rest


def url_parts(path: str) -> ResourceURL | None:
    """A resource URL's parts, as RequestInfoFactory reads them (k8s.io/apiserver
    pkg/endpoints/request/requestinfo.go): /api/v1/... or /apis/<group>/<version>/..., with `namespaces/<ns>/`
    before a namespaced resource (but `namespaces/<name>/status|finalize` is the namespace's own subresource).
    None for a path that is no resource."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    return ResourceURL(group, version, namespace, rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "",
                       len(rest) > 3)


class KubeAPI:
    def __init__(self, cluster: ServedCluster, certs: ApiCerts, version: str, run_exec: Exec):
        self.cluster, self.certs, self.version, self.run_exec = cluster, certs, version, run_exec
        self.impersonation_modes: dict[str, str] = {}  # requestor -> the impersonation mode that last worked for it
        self.store = cluster.store
        self.catalog = Catalog(cluster.store)
        self.resources = Resources(cluster.store, version)
        self.watches = Watches(cluster.store, self.resources)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.requests = 0

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
        self.watches.stop()
        if self.runner is not None:
            await self.runner.cleanup()

    # -- dispatch -----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        try:
            return await self._answer(request)
        finally:
            if request.method in WRITES:  # a write is answered once it is on disk, as etcd commits before
                await self.store.committed()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        try:
            # 401 for a bad token; no credentials: system:anonymous
            user = authenticate(request, self.store, credential_ids=release(self.version) >= (1, 32))
            path = request.path.rstrip("/") or "/"
            # `kubectl --as`: from here on, the user acted as (1.36+ asks about the request itself too)
            user = impersonated(request, self.store, user, self._asked(request, path), self.constrained_impersonation,
                                self.impersonation_modes)
            if discovery.serves(path):
                if not may_read_info(user, request.path):
                    raise info_forbidden(user, request.path)
                return discovery.answer(path, self.catalog, self.version, self.port, request.headers, request.query)
            return await self.resource_request(request, user, path)
        except ApiError as exc:
            return exc.response()
        except (ObjectError, patches.PatchError) as exc:
            return ApiError(422, "Invalid", str(exc)).response()
        except json.JSONDecodeError as exc:
            return ApiError(400, "BadRequest", f"the body is not JSON: {exc}").response()

    @property
    def constrained_impersonation(self) -> bool:
        """The ConstrainedImpersonation gate: beta and on from 1.36 (k8s.io/apiserver pkg/features/kube_features.go)."""
        return release(self.version) >= (1, 36)

    def _asked(self, request: web.Request, path: str) -> Asked:
        """What the request asks, as the authorizer sees it before any handler: a resource (RequestInfoFactory
        reads group, resource, namespace, name and subresource from the URL, whether or not it is served; a
        list or watch by `metadata.name` field selector names it), or a path."""
        parts = url_parts(path)
        if parts is None:
            return Asked(None, request.path, request.method.lower())
        group, _, namespace, resource, name, sub, _ = parts
        verb = request_verb(request.method, bool(name), request.query.get("watch") in ("1", "true"))
        if verb in ("list", "watch") and not name:
            name = dict(p.split("=", 1) for p in request.query.get("fieldSelector", "").split(",") if "=" in p).get("metadata.name", "")
        return Asked(rbac.Request(verb or request.method.lower(), group, f"{resource}/{sub}" if sub else resource,
                                  namespace, name))

    def _target(self, path: str) -> tuple[Resource, str, str, str]:
        parts = url_parts(path)
        if parts is None:
            raise no_route()
        res = self.catalog.find(parts.group, parts.version, parts.resource)
        if res is None or parts.extra or (parts.sub and parts.sub not in res.subresources) or \
                (parts.namespace and not res.namespaced):
            raise no_route()
        return res, parts.namespace, parts.name, parts.sub

    async def resource_request(self, request: web.Request, user: rbac.User, path: str) -> web.StreamResponse:
        res, namespace, name, sub = self._target(path)
        # No Content-Type is JSON, the serializer's first media type (the official Python client sends none).
        # exec has no body to read: kubectl's SPDY fallback POST (after a refused websocket upgrade) must get
        # the same 403 as the upgrade, as the API server authorizes before any handler reads a body.
        sent = request.content_type if "Content-Type" in request.headers else "application/json"
        if sub != "exec" and request.method in ("POST", "PUT") and sent not in ("application/json", "application/yaml",
                                                                                "", PROTOBUF):
            # CBOR is not read here; client-go v0.32 retries it as JSON after a 415 (rest/client.go). Which
            # protobuf bodies are read, `Resources.sent_object` decides.
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                                                        "media types include: application/json, application/yaml")
        query = request.query
        method = request.method
        watching = query.get("watch") in ("1", "true")
        verb = request_verb(method, bool(name), watching)
        if sub == "exec":
            verb = "create"  # websocket exec arrives as GET; RBAC asks for create on pods/exec
        if verb is None or (not sub and verb not in res.verbs):  # a review is only created
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        resource = f"{res.plural}/{sub}" if sub else res.plural
        wanted = rbac.Request(verb, res.group, resource, namespace, name)
        # `kubectl auth can-i`: every authenticated user may ask about itself (system:basic-user); anonymous may
        # only where a binding says so
        asks_itself = res.kind in REVIEWS_OF_ONESELF and "system:authenticated" in user.groups
        if not asks_itself and not rbac.allowed(self.store, user, wanted):
            raise ApiError(403, "Forbidden", rbac.forbidden_message(user, wanted),
                           {"name": name, "group": res.group, "kind": res.plural})
        if res.kind == "SelfSubjectAccessReview":
            body = await request.read()
            review = access_review_from_protobuf(body) if request.content_type == PROTOBUF else json_body(body)
            return web.json_response(access_review(self.store, user, review), status=201)
        if res.kind == "SelfSubjectReview":  # `kubectl auth whoami`: who the request was made as
            await request.read()
            return web.json_response(self_review(user), status=201)
        if sub == "exec":
            return await self.exec(request, namespace, name)
        if sub == "log":
            return self.logs(namespace, name, query)
        if verb == "watch":
            return await self.watches.serve(request, res, namespace, name)
        if verb == "list":
            return self.resources.list(request, res, namespace)
        if verb == "get":
            obj = self.resources.get(res, namespace, name)
            if sub == "scale":
                return web.json_response(self.resources.scale(res, obj))
            include = asked_table(request)
            if include is not None:  # `kubectl get svc NAME`: one row
                return web.json_response({**table(res, [obj], include), "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}})
            return web.json_response(obj)
        body = await request.read()
        write = Write.of(query)
        if verb == "create":
            obj = self.resources.sent_object(request, res, sub, body)
            return write.respond(self.resources.create(res, namespace, obj, write), status=201)
        if verb == "update":
            obj = self.resources.sent_object(request, res, sub, body)
            return write.respond(self.resources.update(res, namespace, name, sub, obj, write))
        if verb == "patch":
            return self.resources.patch(request, res, namespace, name, sub, body, write)
        if verb == "delete":
            return write.respond(self.resources.delete(res, namespace, name, write.dry_run))
        deleted = [o["metadata"]["name"] for o in self.resources.select(res, namespace, query)]
        if not write.dry_run:
            for n in deleted:
                self.store.delete(res.kind, namespace, n)
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.group_version, "metadata": {}, "items": []})

    # -- pods: logs and exec -------------------------------------------------------------------------
    def _pod_container(self, namespace: str, name: str, query, valid) -> tuple[dict, str]:
        """The pod and the container a logs or exec request names (the pod's first container by default): 404
        for a pod that does not exist, 400 for a container not among `valid(pod spec)`."""
        pod = self.store.view("Pod", namespace, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
        container = query.get("container") or pod["spec"]["containers"][0]["name"]
        if container not in valid(pod["spec"]):
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        return pod, container

    def logs(self, namespace: str, name: str, query) -> web.Response:
        pod, container = self._pod_container(namespace, name, query, _log_containers)
        runtime = self.cluster.pods.get((namespace, name))
        if query.get("previous") in ("true", "1"):
            # The kubelet has a previous run's log only for a container whose status holds its last
            # termination (pkg/kubelet/kubelet_pods.go, validateContainerLogStatus: `lastState.Terminated`
            # with a container ID). What that run said is not kept here, so its log is the current one.
            statuses = [s for field in ("initContainerStatuses", "containerStatuses")
                        for s in (pod.get("status") or {}).get(field) or [] if s.get("name") == container]
            last = ((statuses[0].get("lastState") or {}).get("terminated") or {}) if statuses else {}
            if not last.get("containerID"):
                raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
        lines = runtime.logs(container) if runtime is not None else []
        tail = int(query.get("tailLines", "0") or 0)
        return web.Response(text="".join(f"{line}\n" for line in (lines[-tail:] if tail else lines)))

    async def exec(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        _, container = self._pod_container(namespace, name, request.query, _exec_containers)
        argv = request.query.getall("command", [])
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS)
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "BadRequest", "exec needs a websocket upgrade (v4 or v5.channel.k8s.io); "
                                              "the simulation does not speak SPDY")
        await ws.prepare(request)
        query = request.query
        streams = ExecStreams(ws, stdin=query.get("stdin") in ("1", "true"), tty=query.get("tty") in ("1", "true"))
        await execstream.serve(ws, streams, lambda s: self.run_exec(self.cluster, namespace, name, container, argv, s),
                               argv)
        return ws
