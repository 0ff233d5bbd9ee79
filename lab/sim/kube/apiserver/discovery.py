"""What the API server says about itself: `/version`, health, discovery (`/api`, `/apis`, each group
version, CRDs as they are applied; aggregated discovery to a client that asks for it) and OpenAPI v3 as
far as kubectl reads it. Every authenticated user may read these (the default `system:discovery` binding).

Discovery documents are written by the Catalog (..apiresources); this module chooses which one a request
gets and how it is sent."""
from __future__ import annotations

import hashlib
import json

from aiohttp import web
from multidict import MultiMapping

from ..apiresources import Catalog
from .status import ApiError, no_route

AGGREGATED_GROUP, AGGREGATED_KIND = "apidiscovery.k8s.io", "APIGroupDiscoveryList"
AGGREGATED_VERSIONS = ("v2", "v2beta1")  # both still served by v1.32
# What the legacy discovery handlers' serializer offers (apimachinery's codec factory, CBOR off in v1.32); the
# simulation writes every one of them as JSON, as it always has.
LEGACY_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
STREAMING = ("application/json", "application/vnd.kubernetes.protobuf")  # the types with a stream serializer


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
    if parts[:2] == ["openapi", "v3"]:
        found = openapi_v3(catalog, version, parts[2:])
        if found is None:
            raise no_route()
        return web.json_response(found)
    if parts[0] == "openapi":
        raise no_route()  # /openapi/v2: not served (kubectl asks for it only when v3 is missing)
    accept = headers.get("Accept", "")
    if parts in (["api"], ["apis"]):
        wanted = aggregated_version(accept)
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


def aggregated_version(accept: str) -> str | None:
    """The aggregated discovery version a request asks for, if any (WrappedHandler in discovery/aggregated/
    wrapper.go): the first clause naming `g=apidiscovery.k8s.io;v=v2|v2beta1;as=APIGroupDiscoveryList`,
    wherever it stands among plain ones. Only JSON is written here."""
    for media, params in _clauses(accept):
        if (params.get("g"), params.get("as")) == (AGGREGATED_GROUP, AGGREGATED_KIND) and \
                params.get("v") in AGGREGATED_VERSIONS and _allowed(media, params, "application/json"):
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


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha512(body).hexdigest().upper() + '"'


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


def openapi_v3(catalog: Catalog, server_version: str, gv_path: list[str]) -> dict | None:
    """OpenAPI v3 as far as kubectl reads it: the index of group versions, and per group version the
    PATCH operations that take `fieldValidation`, from which kubectl learns that the server validates
    (k8s.io/cli-runtime resource.QueryParamVerifierV3). Schemas are not served: kubectl then computes
    strategic merge patches from its built-in types, as it does for any server without them."""
    served = {(r.group, r.version) for r in catalog.all()}
    if not gv_path:
        return {"paths": {(f"apis/{g}/{v}" if g else f"api/{v}"): {"serverRelativeURL": f"/openapi/v3/{'apis/' + g if g else 'api'}/{v}"}
                          for g, v in sorted(served)}}
    group, version = ("", gv_path[1]) if gv_path[0] == "api" and len(gv_path) == 2 else \
        (gv_path[1], gv_path[2]) if gv_path[0] == "apis" and len(gv_path) == 3 else (None, None)
    if (group, version) not in served:
        return None
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths = {}
    for r in catalog.served(group, version):
        item = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{prefix}/{r.plural}/{{name}}"
        paths[item] = {"patch": {"x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                                 "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                                 "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": server_version}, "paths": paths,
            "components": {"schemas": {}}}

