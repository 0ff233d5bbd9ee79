"""Errors as the API server answers them: `Status` objects with its codes and reasons."""
from __future__ import annotations

from ..apiresources import Resource


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}


def no_route() -> ApiError:
    """The API server's answer to a path it does not serve."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def not_found(res: Resource, name: str) -> ApiError:
    qualified = f"{res.plural}.{res.group}" if res.group else res.plural
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})
