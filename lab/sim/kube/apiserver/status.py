"""Errors as the API server answers them: `Status` objects with its codes and reasons, in compact JSON
with the empty fields left out (metav1.Status's `omitempty`), as apimachinery's responsewriters write them."""
from __future__ import annotations

import json

from aiohttp import web

from ..apiresources import Resource


def compact(data) -> str:
    return json.dumps(data, separators=(",", ":"))


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict:
        details = {k: v for k, v in self.details.items() if v not in ("", None, [])}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, **({"details": details} if details else {}), "code": self.code}

    def response(self, headers: dict | None = None) -> web.Response:
        return web.json_response(self.status(), status=self.code, dumps=compact, headers=headers)


def no_route() -> ApiError:
    """The API server's answer to a path it does not serve."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def not_found(res: Resource, name: str) -> ApiError:
    qualified = f"{res.plural}.{res.group}" if res.group else res.plural
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


def invalid(res: Resource, name: str, causes: list[dict]) -> ApiError:
    """errors.NewInvalid: `<Kind>[.<group>] "<name>" is invalid: <field>: <error>` (a list in brackets when
    there are several), each field error a cause."""
    qualified = f"{res.kind}.{res.group}" if res.group else res.kind
    listed = [f"{c['field']}: {c['message']}" for c in causes]
    text = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {text}',
                    {"name": name, "group": res.group, "kind": res.kind, "causes": causes})


def bad_body(res: Resource, problem: str) -> ApiError:
    """A body the API server cannot decode into its kind (a wrong type, a bad timestamp, a strict decoding
    error): 400 BadRequest, as runtime.NewStrictDecodingError / the codec's errors are reported."""
    return ApiError(400, "BadRequest", f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                                       f"{problem}")
