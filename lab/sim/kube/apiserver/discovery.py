"""What the API server says about itself: `/version`, health, discovery (`/api`, `/apis`, each group
version, CRDs as they are applied; aggregated discovery to a client that asks for it) and OpenAPI v3 as
far as kubectl reads it. Every authenticated user may read these (the default `system:discovery` binding).

Discovery documents are written by the Catalog (..apiresources); this module chooses which one a request
gets and how it is sent."""
from __future__ import annotations

import hashlib
import json
from email.utils import formatdate
from time import time
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from ..apiresources import Catalog
from .schemas import release
from .status import ApiError, no_route

AGGREGATED_GROUP, AGGREGATED_KIND = "apidiscovery.k8s.io", "APIGroupDiscoveryList"

# What the legacy discovery handlers' serializer offers (apimachinery's codec factory, CBOR off in v1.32); the
# simulation writes every one of them as JSON, as it always has.
LEGACY_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
STREAMING = ("application/json", "application/vnd.kubernetes.protobuf")  # the types with a stream serializer


def aggregated_versions(server_version: str) -> tuple[str, ...]:
    """The aggregated discovery versions a server of this Kubernetes version answers with: none before 1.27
    (the AggregatedDiscoveryEndpoint gate was alpha and off in 1.26, beta and on in 1.27, GA in 1.30 and
    removed in 1.33: apiserver v0.32.0 pkg/features/kube_features.go), v2beta1 from 1.27, v2 beside it from
    1.30 (pkg/endpoints/discovery/aggregated/negotiation.go at v0.29.0 and v0.30.0; both still at v0.36.0)."""
    served = release(server_version)
    return ("v2", "v2beta1") if served >= (1, 30) else ("v2beta1",) if served >= (1, 27) else ()


def serves(path: str) -> bool:
    """A path answered here rather than by a resource."""
    if path.startswith(("/version", "/healthz", "/livez", "/readyz", "/openapi")):
        return True
    parts = path.strip("/").split("/")
    return parts[0] == "api" and len(parts) <= 2 or parts[0] == "apis" and len(parts) <= 3


def answer(path: str, catalog: Catalog, version: str, port: int, headers: MultiMapping[str],
           query: MultiMapping[str]) -> web.Response:
    """The document at a path `serves` accepts; `port` is the API server's own, for /api."""
    parts = path.strip("/").split("/")
    if path == "/version":
        minor = version.split(".")[1]
        return web.json_response({"major": "1", "minor": minor, "gitVersion": version, "gitTreeState": "clean",
                                  "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
                                  "buildDate": "2025-01-01T00:00:00Z", "gitCommit": "lab-simulation"})
    if parts[0] in ("healthz", "livez", "readyz"):
        return web.Response(text="ok")
    if parts[0] == "openapi":
        return openapi(parts[1:], catalog, version, headers, query)
    accept = headers.get("Accept", "")
    if parts in (["api"], ["apis"]):
        wanted = aggregated_version(accept, aggregated_versions(version))
        if wanted:
            return aggregated(catalog.aggregated(legacy=parts == ["api"]), wanted, headers)
    legacy_accepted(accept)
    if parts == ["api"]:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{port}"}]})
    if parts == ["apis"]:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": catalog.groups()})
    if parts[0] == "api" and len(parts) == 2:
        found = catalog.resource_list("", parts[1])
    elif parts[0] == "apis" and len(parts) == 2:
        group = next((g for g in catalog.groups() if g["name"] == parts[1]), None)
        if group:
            return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **group})
        found = None
    elif parts[0] == "apis" and len(parts) == 3:
        found = catalog.resource_list(parts[1], parts[2])
    else:
        found = None
    if found is None:
        raise no_route()
    return web.json_response(found)


# -- content negotiation (apiserver endpoints/handlers/negotiation/negotiate.go, discovery/aggregated) -------
def _clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    """An Accept header's media types with their parameters, in goautoneg.ParseAccept's order: by `q`, the
    highest first, the header's order kept among equals."""
    out = []
    for raw in accept.split(","):
        media, *params = [p.strip() for p in raw.split(";")]
        if "/" not in media:
            continue
        values = dict(p.split("=", 1) for p in params if "=" in p)
        try:
            q = float(values.pop("q", "1"))
        except ValueError:
            q = 1.0
        out.append((q, media.lower(), values))
    return [(media, values) for q, media, values in sorted(out, key=lambda c: -c[0])]


def _matches(media: str, offered: str) -> bool:
    kind, _, sub = media.partition("/")
    return media == offered or media == "*/*" or (sub == "*" and offered.startswith(kind + "/"))


def _allowed(media: str, params: dict[str, str], offered: str) -> bool:
    """acceptMediaTypeOptions: a `stream` other than watch, or one on a type without a stream serializer, or
    any `sv`, rules the clause out on these endpoints."""
    stream = params.get("stream", "")
    return _matches(media, offered) and not params.get("sv") and (not stream or (stream == "watch" and offered in STREAMING))


def aggregated_version(accept: str, served: tuple[str, ...]) -> str | None:
    """The aggregated discovery version a request asks for, if any (WrappedHandler in discovery/aggregated/
    wrapper.go): the first clause naming `g=apidiscovery.k8s.io;v=<one the server serves>;as=APIGroupDiscoveryList`,
    wherever it stands among plain ones. Only JSON is written here."""
    for media, params in _clauses(accept):
        if (params.get("g"), params.get("as")) == (AGGREGATED_GROUP, AGGREGATED_KIND) and \
                params.get("v") in served and _allowed(media, params, "application/json"):
            return params["v"]
    return None


def legacy_accepted(accept: str) -> None:
    """406 where no clause of the Accept header can be answered with a legacy discovery document: the
    clause must ask no conversion (`g`, `v`, `as`: DefaultEndpointRestrictions) and name a type the
    serializer offers. So a client that asks only for an aggregated version not served (v3) gets 406."""
    if not accept:
        return
    for media, params in _clauses(accept):
        if not {"g", "v", "as"} & params.keys() and any(_allowed(media, params, t) for t in LEGACY_TYPES):
            return
    raise ApiError(406, "NotAcceptable", f"only the following media types are accepted: {', '.join(LEGACY_TYPES)}")


def _digest(body: bytes) -> str:
    """A document's hash: its ETag's value, and the `?hash=` that names it in the OpenAPI index."""
    return hashlib.sha512(body).hexdigest().upper()


def _etag(body: bytes) -> str:
    return f'"{_digest(body)}"'


def _compact(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def aggregated(items: list[dict], wanted: str, headers: MultiMapping[str]) -> web.Response:
    """An APIGroupDiscoveryList in the version asked for, named in the Content-Type, with the ETag, Vary and
    Cache-Control of ServeHTTPWithETag (discovery/aggregated/etag.go): the hash of the v2 list whatever the
    version sent, and 304 with no body to an If-None-Match that names it."""
    etag = _etag(_compact({"metadata": {}, "items": items}))
    cache = {"ETag": etag, "Vary": "Accept", "Cache-Control": "public"}
    if headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=cache)
    body = _compact({"kind": AGGREGATED_KIND, "apiVersion": f"{AGGREGATED_GROUP}/{wanted}", "metadata": {},
                     "items": items})
    content_type = f"application/json;g={AGGREGATED_GROUP};v={wanted};as={AGGREGATED_KIND}"
    return web.Response(body=body, headers={**cache, "Content-Type": content_type})


# -- OpenAPI v3 (kube-openapi pkg/handler3/handler.go) --------------------------------------------------------
def openapi(parts: list[str], catalog: Catalog, server_version: str, headers: MultiMapping[str],
            query: MultiMapping[str]) -> web.Response:
    """/openapi/v3 and its group versions. Each group version's document is listed with `?hash=` its ETag,
    so a client may keep it for good: asked with the current hash, it comes with `Cache-Control: public,
    immutable` and an Expires a year on (what lets kubectl's HTTP cache answer it from disk, with no
    request); with a stale hash, a 301 to the current one. Either document answers 304 to an If-None-Match
    naming its ETag.

    /openapi/v2 is not served (404), though kubectl asks for it even where v3 is served: a client-side
    apply that changes an object asks v2 whenever the kind's v3 PATCH offers no strategic merge patch
    (kubectl v1.32 pkg/cmd/apply/patcher.go), so here for every kind, on a real server for custom kinds.
    After the 404 kubectl computes the patch from its built-in types (a merge patch for a custom kind),
    as it would from a v2 document without schemas; serving v2 would take the schemas v3 leaves out too."""
    if parts[:1] != ["v3"]:
        raise no_route()
    if len(parts) == 1:
        index = {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?{urlencode({'hash': _digest(body)})}"}
                           for gv, body in sorted(openapi_v3(catalog, server_version).items())}}
        body = _compact(index)
        return _conditional(body, {"ETag": _etag(body)}, headers)
    gv = "/".join(parts[1:])
    body = openapi_v3(catalog, server_version, only=gv).get(gv)  # that document alone, not every group version's
    if body is None:
        raise no_route()
    digest = _digest(body)
    cache = {"ETag": f'"{digest}"', "Vary": "Accept"}
    asked = query.get("hash")
    if asked:
        if asked != digest:
            location = f"/openapi/v3/{gv}?{urlencode({'hash': digest})}"
            return web.Response(status=301, headers={"Location": location, "Vary": "Accept"})
        cache.update({"Cache-Control": "public, immutable", "Expires": formatdate(time() + 365 * 86400, usegmt=True)})
    return _conditional(body, cache, headers)


def _conditional(body: bytes, cache: dict[str, str], headers: MultiMapping[str]) -> web.Response:
    """http.ServeContent's answer to If-None-Match: 304 where it names the ETag (or is `*`)."""
    asked = [tag.strip().removeprefix("W/") for tag in headers.get("If-None-Match", "").split(",")]
    if cache["ETag"] in asked or "*" in asked:
        return web.Response(status=304, headers=cache)
    return web.Response(body=body, headers={**cache, "Content-Type": "application/json"})


def openapi_v3(catalog: Catalog, server_version: str, only: str | None = None) -> dict[str, bytes]:
    """OpenAPI v3 as far as kubectl reads it, per group version (`api/v1`, `apis/<group>/<version>`; `only`
    that one): the PATCH operations that take `fieldValidation`, from which kubectl learns that the server
    validates (k8s.io/cli-runtime resource.QueryParamVerifierV3). Schemas are not served: kubectl then
    computes strategic merge patches from its built-in types, as it does for any server without them."""
    by_gv: dict[str, dict] = {}
    for r in catalog.all():
        prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
        if only is not None and prefix.lstrip("/") != only:
            continue
        item = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{prefix}/{r.plural}/{{name}}"
        by_gv.setdefault(prefix.lstrip("/"), {})[item] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}}}}
    return {gv: _compact({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": server_version},
                          "paths": paths, "components": {"schemas": {}}}) for gv, paths in by_gv.items()}
