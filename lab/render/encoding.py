"""Text as Kubernetes Secrets carry it in `data`: base64, and back."""
from __future__ import annotations

import base64


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def b64decode(value: str | bytes) -> str:
    return base64.b64decode(value).decode()
