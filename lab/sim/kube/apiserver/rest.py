"""The REST verbs on a cluster's objects, as the API server's storage answers them: get and list (with
selectors and server-side Tables), create, update (optimistic concurrency), delete, JSON merge / strategic
merge / JSON patch, server-side apply as a strategic merge of the applied object, the `status` and `scale`
subresources, and the validation it refuses bad objects with (422). Watches are in watch.py.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

from .. import patches, protobodies
from ..apiresources import BUILT_IN, Resource
from ..objects import qos_class
from ..store import ObjectStore
from . import defaults, rules, schemas
from .selectors import field_matcher, label_matcher
from .status import ApiError, bad_body, compact, invalid, no_route, not_found
from .tables import asked_table, table

BUILT_IN_GROUPS = {r.group for r in BUILT_IN}  # strategic merge patch knows their lists; custom resources take merge patch
PROTOBUF = "application/vnd.kubernetes.protobuf"
# Registries with ReturnDeletedObject (pkg/registry/core/{pod,service,serviceaccount}/storage, v1.32) answer a
# DELETE with the object; the namespace registry answers with the namespace it is finalizing. The others
# answer a Status naming what went.
RETURNS_DELETED = {("", "Pod"), ("", "Service"), ("", "ServiceAccount"), ("", "Namespace")}


@dataclass
class Write:
    """How one write is to be taken: `?dryRun=All`, `?fieldValidation=` (Strict, Warn, or Ignore; Warn when
    not sent), and the warnings it collects for the response's `Warning` headers."""

    dry_run: bool = False
    field_validation: str = "Warn"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, query) -> "Write":
        asked = query.get("fieldValidation") or "Warn"
        if asked not in ("Strict", "Warn", "Ignore"):
            raise ApiError(400, "BadRequest", f'fieldValidation must be one of "Ignore", "Warn" or "Strict", got {asked}')
        return cls("All" in query.getall("dryRun", []), asked)

    def headers(self) -> dict:
        return {"Warning": ", ".join(f'299 - {json.dumps(w)}' for w in self.warnings)} if self.warnings else {}

    def respond(self, obj: dict, status: int = 200) -> web.Response:
        return web.json_response(obj, status=status, dumps=compact, headers=self.headers())


class Resources:
    """The objects of one cluster's store as the API serves them, each read or written as one resource."""

    def __init__(self, store: ObjectStore, kubernetes_version: str = "v1.32.0"):
        self.store = store
        self.kubernetes_version = kubernetes_version
        self.schema_version = schemas.schema_version(kubernetes_version)

    # -- reads ----------------------------------------------------------------------------------
    def out(self, res: Resource, obj: dict) -> dict:
        return {**obj, "apiVersion": res.group_version, "kind": res.kind}

    def get(self, res: Resource, namespace: str, name: str) -> dict:
        obj = self.store.view(res.kind, namespace, name)
        if obj is None or not self.kind_group_matches(res, obj):
            raise not_found(res, name)
        return self.out(res, obj)

    def kind_group_matches(self, res: Resource, obj: dict) -> bool:
        api = obj.get("apiVersion", "v1")
        return (api.split("/")[0] if "/" in api else "") == res.group

    def select(self, res: Resource, namespace: str, query) -> list[dict]:
        labels, fields = label_matcher(query.get("labelSelector")), field_matcher(query.get("fieldSelector"))
        candidates = self.store.views(res.kind, namespace or None)
        objects = [o for o in candidates if (not namespace or o["metadata"].get("namespace") == namespace)
                   and self.kind_group_matches(res, o) and labels(o["metadata"].get("labels")) and fields(o)]
        return sorted(objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def list(self, request: web.Request, res: Resource, namespace: str) -> web.Response:
        objects = [self.out(res, o) for o in self.select(res, namespace, request.query)]
        include = asked_table(request)
        if include is not None:
            return web.json_response({**table(res, objects, include),
                                      "metadata": {"resourceVersion": str(self.store.last_version)}})
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.group_version,
                                  "metadata": {"resourceVersion": str(self.store.last_version)}, "items": objects},
                                 dumps=compact)

    def sent_object(self, request: web.Request, res: Resource, sub: str, body: bytes) -> dict:
        """The object a create or update sends. kubectl's typed clients send protobuf, and client-go does not
        retry a 415 for it as JSON (rest/client.go, v0.32.3), so a body the simulation cannot read says what to
        do instead: a real API server reads them all."""
        if request.content_type != PROTOBUF:
            return json_body(body)  # JSON, YAML (a JSON superset kubectl does not send) or no Content-Type
        try:
            if sub:
                raise protobodies.Unreadable(f"{res.kind} {sub} bodies")
            return protobodies.decode(body, res.group, res.version, res.kind)
        except protobodies.Unreadable as exc:
            raise ApiError(415, "UnsupportedMediaType", f"the simulated API cannot read {exc} in protobuf: "
                                                        "`kubectl apply -f` a manifest instead") from None

    def _prepare(self, res: Resource, namespace: str, obj: dict, write: Write, current: dict | None = None) -> dict:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                                                  "sent on the request")
            meta["namespace"] = namespace or meta.get("namespace") or "default"
            home = self.store.view("Namespace", "", meta["namespace"])
            if home is None:
                raise ApiError(404, "NotFound", f'namespaces "{meta["namespace"]}" not found',
                               {"name": meta["namespace"], "kind": "namespaces"})
            if current is None and home.get("status", {}).get("phase") == "Terminating":
                # the NamespaceLifecycle admission plugin (k8s.io/apiserver pkg/admission/plugin/namespace/lifecycle/
                # admission.go at v0.37.0-beta.0): no create into a namespace being deleted; updates and deletes go on
                plural = res.plural if not res.group else f"{res.plural}.{res.group}"
                raise ApiError(403, "Forbidden", f'{plural} "{meta.get("name", "")}" is forbidden: unable to create new '
                                                 f'content in namespace {meta["namespace"]} because it is being terminated',
                               {"name": meta.get("name", ""), "group": res.group, "kind": res.plural,
                                "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                            "message": f'namespace {meta["namespace"]} is being terminated'}]})
        else:
            meta.pop("namespace", None)
        if obj.get("kind", res.kind) != res.kind:
            raise ApiError(400, "BadRequest", f"the kind {obj.get('kind')} does not match the resource {res.plural}")
        obj["kind"], obj["apiVersion"] = res.kind, res.group_version
        _keep_deletion(res, meta, current)
        self.admit(res, obj, write, current)
        return obj

    def admit(self, res: Resource, obj: dict, write: Write, current: dict | None) -> None:
        """Decode, default and validate `obj` as the API server does a written body (schemas.py, defaults.py,
        rules.py): a body its kind cannot decode is 400, unknown fields are dropped or refused as
        `write.field_validation` says, and every field breaking a rule is a cause of one 422."""
        custom = res.group not in BUILT_IN_GROUPS
        if custom:
            found = schemas.check_custom(self.schema_version, self._crd_schema(res), obj)
        else:
            found = (schemas.check_builtin(self.schema_version, res.group, res.version, res.kind, obj)
                     if self.schema_version else None) or schemas.Findings()
            if res.kind == "Secret":
                rules.decode_secret_data(obj, found)
        if found.decode:
            raise bad_body(res, found.decode[0])
        if found.unknown:
            listed = [f'unknown field "{path}"' for path in found.unknown]
            if write.field_validation == "Strict":
                raise bad_body(res, "strict decoding error: " + ", ".join(listed))
            schemas.prune(obj, found.unknown)
            if write.field_validation == "Warn":
                write.warnings += listed
        if res.kind == "Service":
            taken = {p.get("nodePort") for s in self.store.views("Service") for p in s.get("spec", {}).get("ports") or []
                     if s is not current and isinstance(p, dict)}
        else:
            taken = set()
        defaults.apply(res.kind, obj, current, taken)
        plural_group = f'{(obj.get("spec") or {}).get("names", {}).get("plural")}.{(obj.get("spec") or {}).get("group")}'
        rules.check(res.kind, obj, found, custom, plural_group, self.kubernetes_version)
        if current is not None:
            rules.immutable(res.kind, obj, current, found)
        if found.causes:
            raise invalid(res, obj["metadata"].get("name", ""), found.causes)

    def _crd_schema(self, res: Resource) -> dict | None:
        crd = self.store.view("CustomResourceDefinition", "", f"{res.plural}.{res.group}")
        for version in (crd or {}).get("spec", {}).get("versions", []):
            if version.get("name") == res.version:
                return (version.get("schema") or {}).get("openAPIV3Schema")
        return None

    def create(self, res: Resource, namespace: str, obj: dict, write: Write) -> dict:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if not meta.get("name"):
            raise invalid(res, "", [{"reason": "FieldValueRequired", "field": "metadata.name",
                                     "message": "Required value: name or generateName is required"}])
        obj = self._prepare(res, namespace, obj, write)
        store = self.store
        if store.view(res.kind, obj["metadata"].get("namespace", ""), meta["name"]) is not None:
            qualified = f"{res.plural}.{res.group}" if res.group else res.plural
            raise ApiError(409, "AlreadyExists", f'{qualified} "{meta["name"]}" already exists',
                           {"name": meta["name"], "group": res.group, "kind": res.plural})
        for server_set in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            meta.pop(server_set, None)
        if write.dry_run:
            return obj
        if "status" not in obj and initial_status(res, obj) is not None:
            obj["status"] = initial_status(res, obj)
        store.apply(obj)
        if "status" in obj:
            store.set_status(res.kind, obj["metadata"].get("namespace", ""), meta["name"], obj["status"])
        return self.get(res, obj["metadata"].get("namespace", ""), meta["name"])

    def update(self, res: Resource, namespace: str, name: str, sub: str, obj: dict, write: Write) -> dict:
        current = self.get(res, namespace, name)
        if sub == "scale":
            return self._set_replicas(res, current, int(obj.get("spec", {}).get("replicas", 0)), write.dry_run)
        offered = obj.get("metadata", {}).get("resourceVersion")
        if offered and offered != current["metadata"]["resourceVersion"]:
            qualified = f"{res.plural}.{res.group}" if res.group else res.plural
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": the object has been '
                                            "modified; please apply your changes to the latest version and try again",
                           {"name": name, "group": res.group, "kind": res.plural})
        _check_name(obj.get("metadata", {}).get("name", name), name)
        obj = self._prepare(res, namespace, obj, write, self.store.view(res.kind, namespace, name))
        if write.dry_run:
            return obj
        if sub == "status":
            if res.kind == "Namespace":
                _check_namespace_phase(res, current, obj.get("status", {}))
            self.store.set_status(res.kind, namespace, name, obj.get("status", {}))
        else:
            self.store.apply(obj)
        written = self.store.view(res.kind, namespace, name)
        # a write that took the last finalizer of an object being deleted has deleted it: the answer is the
        # object as it was written (the generic registry's Update returns it so)
        return self.get(res, namespace, name) if written is not None else {**obj, "metadata": {**obj["metadata"], **{
            k: current["metadata"][k] for k in ("uid", "creationTimestamp", "resourceVersion") if k in current["metadata"]}}}

    def patch(self, request: web.Request, res: Resource, namespace: str, name: str, sub: str, body: bytes,
              write: Write) -> web.Response:
        kind = request.content_type
        if kind == "application/apply-patch+yaml":
            import yaml

            applied = yaml.safe_load(body) or {}
            try:
                current = self.get(res, namespace, name)
            except ApiError:
                applied.setdefault("metadata", {})["name"] = name
                return write.respond(self.create(res, namespace, applied, write), status=201)
            # Server-side apply without field managers: the applied fields win, as `--force-conflicts` would.
            result = (patches.strategic_merge_patch(current, applied) if res.group in BUILT_IN_GROUPS
                      else patches.merge_patch(current, applied))
        else:
            current = self.get(res, namespace, name)
            document = self.scale(res, current) if sub == "scale" else current
            patch = json.loads(body or b"{}")
            if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                patch = _patch_object(patch, merge=kind == "application/merge-patch+json")
            if kind == "application/merge-patch+json":
                result = patches.merge_patch(document, patch)
            elif kind == "application/strategic-merge-patch+json":
                if res.group not in BUILT_IN_GROUPS:
                    raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported for custom "
                                                                "resources; use --type=merge")
                result = patches.strategic_merge_patch(document, patch)
            elif kind == "application/json-patch+json":
                if patch is None:
                    patch = []  # null decodes to no operations
                if not isinstance(patch, list):  # the strict decode into []jsonPatchOp (handlers/patch.go)
                    raise ApiError(400, "BadRequest", f"error decoding patch: json: cannot unmarshal "
                                   f"{GO_JSON_TYPES.get(type(patch), 'object')} into Go value of type []handlers.jsonPatchOp")
                try:
                    result = patches.json_patch(document, patch)
                except patches.PatchError as exc:
                    raise ApiError(422, "Invalid", str(exc)) from None
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}")
            if sub == "scale":
                return write.respond(self._set_replicas(res, current, int(result.get("spec", {}).get("replicas", 0)),
                                                        write.dry_run))
        if not isinstance(result.get("metadata"), dict):
            result["metadata"] = {}
        _check_name(result["metadata"].get("name", ""), name)  # a patch may not rename (handlers/patch.go)
        result["metadata"]["resourceVersion"] = ""
        return write.respond(self.update(res, namespace, name, sub, result, write))

    def delete(self, res: Resource, namespace: str, name: str, dry_run: bool) -> dict:
        obj = self.get(res, namespace, name)
        if (res.group, res.kind) == ("", "Namespace") and name in IMMORTAL_NAMESPACES:  # admission: dry run too
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           {"name": name, "kind": "namespaces"})
        if (res.group, res.kind) == ("", "Namespace"):
            return self._terminate(res, obj, dry_run)
        if obj["metadata"].get("finalizers"):  # only marked (store.remove), and answered with
            if not dry_run:
                self.store.remove(res.kind, namespace, name)
            return self.get(res, namespace, name) if not dry_run else obj
        if not dry_run:
            self.store.remove(res.kind, namespace, name)
        if (res.group, res.kind) in RETURNS_DELETED:
            return obj
        details = {"name": name, "group": res.group, "kind": res.plural, "uid": obj["metadata"].get("uid")}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {k: v for k, v in details.items() if v}}

    def _terminate(self, res: Resource, namespace: dict, dry_run: bool) -> dict:
        """DELETE of a Namespace, as its registry does (pkg/registry/core/namespace/storage/storage.go in
        kubernetes/kubernetes): the first one marks it (deletionTimestamp, phase Terminating) and answers with it;
        the namespace controller then removes its content and it (lab/sim/world/controllers.py Namespaces); a
        DELETE while it still has finalizers is a 409."""
        meta, name = namespace["metadata"], namespace["metadata"]["name"]
        if meta.get("deletionTimestamp"):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on namespaces "{name}": The system is ensuring '
                                            "all content is removed from this namespace.  Upon completion, this namespace "
                                            "will automatically be purged by the system.", {"name": name, "kind": "namespaces"})
        marked = {**namespace, "metadata": {**meta, "deletionTimestamp": _now()},
                  "status": {**namespace.get("status", {}), "phase": "Terminating"}}
        if dry_run:
            return marked
        self.store.apply(marked)
        self.store.set_status("Namespace", "", name, marked["status"])
        return self.get(res, "", name)

    # -- scale ----------------------------------------------------------------------------------
    def scale(self, res: Resource, obj: dict) -> dict:
        if "scale" not in res.subresources:
            raise no_route()
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
            self.store.apply(obj)
        return self.scale(res, self.get(res, current["metadata"].get("namespace", ""), current["metadata"]["name"]))


DELETION_FIELDS = ("deletionTimestamp", "deletionGracePeriodSeconds")


def _keep_deletion(res: Resource, meta: dict, current: dict | None) -> None:
    """Only a DELETE begins a deletion. A create loses the deletion fields it sends (rest/meta.go
    WipeObjectMetaSystemFields); an update keeps the stored ones, whatever it sends (rest/update.go BeforeUpdate),
    and may not add a finalizer to an object being deleted (apimachinery api/validation/objectmeta.go
    ValidateNoNewFinalizers, at v0.37.0-beta.0)."""
    stored = (current or {}).get("metadata", {})
    for field in DELETION_FIELDS:
        if field in stored:
            meta[field] = stored[field]
        else:
            meta.pop(field, None)
    if stored.get("deletionTimestamp"):
        new = [f for f in meta.get("finalizers") or [] if f not in (stored.get("finalizers") or [])]
        if new:
            listed = "[]string{" + ", ".join(f'"{f}"' for f in new) + "}"
            raise invalid(res, meta.get("name", ""), [{
                "reason": "FieldValueForbidden", "field": "metadata.finalizers",
                "message": f"Forbidden: no new finalizers can be added if the object is being deleted, found new "
                           f"finalizers {listed}"}])


def _check_namespace_phase(res: Resource, current: dict, status: dict) -> None:
    """ValidateNamespaceStatusUpdate (kubernetes/kubernetes pkg/apis/core/validation): Active while the namespace
    is not being deleted, Terminating once it is."""
    phase, deleting = status.get("phase", ""), bool(current["metadata"].get("deletionTimestamp"))
    why = ("may only be 'Terminating' if `deletionTimestamp` is not empty" if deleting and phase != "Terminating" else
           "may only be 'Active' if `deletionTimestamp` is empty" if not deleting and phase != "Active" else "")
    if why:
        raise invalid(res, current["metadata"]["name"], [{"reason": "FieldValueInvalid", "field": "status.phase",
                                                          "message": f'Invalid value: "{phase}": {why}'}])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def initial_status(res: Resource, obj: dict) -> dict | None:
    """The status a created object has before any controller writes one, as the registries'
    PrepareForCreate leave it (v1.32): a Pod Pending with its QoS class (pkg/registry/core/pod/strategy.go),
    an empty JobStatus or DeploymentStatus (`{}`), a ReplicationController's or ReplicaSet's zero replicas
    (a field JSON always carries). So a client reading `status.phase` or `status.succeeded` at once finds
    it. Other kinds are left without one until their controller writes it."""
    if res.kind == "Pod" and res.group == "":
        return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    if (res.group, res.kind) in (("batch", "Job"), ("apps", "Deployment")):
        return {}
    if (res.group, res.kind) in (("", "ReplicationController"), ("apps", "ReplicaSet")):
        return {"replicas": 0}
    return None


# The namespace lifecycle admission plugin refuses to delete these (k8s.io/apiserver v0.32.0
# pkg/admission/plugin/namespace/lifecycle/admission.go: NewLifecycle's immortal namespaces, `Admit`).
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
GO_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "bool"}


def _check_name(sent: str, name: str) -> None:
    """An update or a patch keeps the object's name (k8s.io/apiserver v0.32.0 handlers/rest.go `checkName`)."""
    if sent != name:
        raise ApiError(400, "BadRequest", f"the name of the object ({sent}) does not match the name on the URL ({name})")


def _patch_object(patch, merge: bool) -> dict:
    """A merge or strategic merge patch is decoded into a map first: anything but a JSON object is the
    decoder's 400 (k8s.io/apiserver v0.32.0 pkg/endpoints/handlers/patch.go: the merge patcher's strict
    decode, kubectl's default, says "error decoding patch: ..."; `strategicPatchObject` says the decoder's
    words alone). A JSON null decodes to an empty map: the strategic patch changes nothing, and
    jsonpatch.MergePatch refuses it as an invalid patch."""
    if isinstance(patch, dict):
        return patch
    if patch is None:
        if merge:
            raise ApiError(400, "BadRequest", "Invalid JSON Patch")
        return {}
    problem = f"json: cannot unmarshal {GO_JSON_TYPES.get(type(patch), 'value')} into Go value of type map[string]interface {{}}"
    raise ApiError(400, "BadRequest", f"error decoding patch: {problem}" if merge else problem)


def json_body(body: bytes) -> dict:
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ApiError(400, "BadRequest", "the body is not a JSON object")
    return data
