"""What the API server says about itself: `/version`, health, discovery (`/api`, `/apis`, each group
version, CRDs as they are applied) and OpenAPI v3 as far as kubectl reads it. Every authenticated user
may read these (the default `system:discovery` binding)."""
from __future__ import annotations

from aiohttp import web

from ..apiresources import Catalog
from .status import no_route


def serves(path: str) -> bool:
    """A path answered here rather than by a resource."""
    if path.startswith(("/version", "/healthz", "/livez", "/readyz", "/openapi")):
        return True
    parts = path.strip("/").split("/")
    return parts[0] == "api" and len(parts) <= 2 or parts[0] == "apis" and len(parts) <= 3


def answer(path: str, catalog: Catalog, version: str, port: int) -> web.Response:
    """The document at a path `serves` accepts; `port` is the API server's own, for /api."""
    parts = path.strip("/").split("/")
    if path == "/version":
        minor = version.split(".")[1]
        return web.json_response({"major": "1", "minor": minor, "gitVersion": version, "gitTreeState": "clean",
                                  "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
                                  "buildDate": "2025-01-01T00:00:00Z", "gitCommit": "lab-simulation"})
    if parts[0] in ("healthz", "livez", "readyz"):
        return web.Response(text="ok")
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
    elif parts[:2] == ["openapi", "v3"]:
        found = openapi_v3(catalog, version, parts[2:])
    else:
        found = None  # /openapi/v2: not served (kubectl asks for it only when v3 is missing)
    if found is None:
        raise no_route()
    return web.json_response(found)


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

