#!/usr/bin/env python3
"""Benchmark the simulation: `inv up` from nothing to gateway alive, and `inv down`.

Prints the median of several runs, and writes the figures to .lab/bench.json.
Each run uses a fresh state directory, so `up` starts from nothing: new
certificates, a new lab process, every step applied.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), *args], cwd=cwd,
                            capture_output=True, text=True, env={**os.environ})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench: `inv {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
    return elapsed


def gateway_alive(cwd: Path) -> bool:
    result = subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "status", "--json"], cwd=cwd,
                            capture_output=True, text=True)
    status = json.loads(result.stdout)
    return any(g["alive"] for g in status["gateways"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ups, downs = [], []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            cwd = Path(tmp)
            (cwd / "lab.yaml").write_text("name: bench\n")
            ups.append(timed(["up", "--backend", "sim"], cwd))
            if not gateway_alive(cwd):
                timed(["down"], cwd)
                sys.exit("bench: `inv up` returned but the gateway is not alive from west")
            downs.append(timed(["down"], cwd))
        print(f"run {n + 1}/{args.runs}: up {ups[-1]:.2f}s, down {downs[-1]:.2f}s", flush=True)
    figures = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "runs": args.runs,
        "sim_up_seconds_median": round(statistics.median(ups), 3),
        "sim_down_seconds_median": round(statistics.median(downs), 3),
        "sim_up_seconds_all": [round(x, 3) for x in ups],
        "sim_down_seconds_all": [round(x, 3) for x in downs],
    }
    print(f"sim up   (whole `inv up`, nothing -> gateway alive), median of {args.runs}: {figures['sim_up_seconds_median']:.2f}s")
    print(f"sim down (whole `inv down`),                       median of {args.runs}: {figures['sim_down_seconds_median']:.2f}s")
    out = REPO / ".lab" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
