"""Where the lab's sample files live: fixtures/ beside the lab package.

workloads/ (what a cluster runs), topologies/ (example labs) and plans/ (the golden kind scripts).
"""
from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"  # lab/model/ -> the checkout
WORKLOADS = FIXTURES / "workloads"
