"""How `inv test` runs test files in parallel workers: how many workers, and the longest files first.

pytest-xdist's `--dist loadfile` gives each worker that becomes free the next whole file of its queue. Left to
itself it queues the files with the most tests first, which puts the long files of few tests last (the workshop's
one test takes a worker for ~40 s, the lab lifecycle files for ~20 s each): the other workers then idle while one
finishes them. Queued longest first, the short files fill in at the end instead (LPT scheduling).

How long a file takes is what it took in the last run that ran it whole on this machine (.lab/test-durations.json,
written by that run); on a fresh clone, what fixtures/test-durations.json says (a run on the 2-core machines CI
uses; copy the local file over it when the suite has changed shape). A file neither knows counts as the median.
"""
from __future__ import annotations

import fnmatch
import json
import os
import statistics
import tempfile
from pathlib import Path

LOCAL = Path(".lab") / "test-durations.json"
SHIPPED = Path("fixtures") / "test-durations.json"


def _read(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(k, str) and isinstance(v, (int, float))}


def durations(root: Path) -> dict[str, float]:
    """Seconds per test file (its path from `root`): the shipped table, updated by this machine's own runs."""
    return {**_read(root / SHIPPED), **_read(root / LOCAL)}


def longest_first(files: list[str], seconds: dict[str, float]) -> list[str]:
    """`files` (each once) ordered by their duration, longest first; unknown files count as the median, and
    equal ones keep their order."""
    known = [seconds[f] for f in files if f in seconds]
    default = statistics.median(known) if known else 0.0
    return sorted(dict.fromkeys(files), key=lambda f: -seconds.get(f, default))


def record(root: Path, measured: dict[str, float]) -> None:
    """Merge a run's per-file durations into this machine's table, replacing it whole at once (a run reading it
    meanwhile sees the old table or the new, never half of one)."""
    path = root / LOCAL
    table = {**_read(path), **{f: round(s, 2) for f, s in measured.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".test-durations.")
    with os.fdopen(fd, "w") as out:
        json.dump(dict(sorted(table.items())), out, indent=1)
        out.write("\n")
    os.replace(tmp, path)


def test_files(paths: list[Path], patterns: list[str]) -> set[Path]:
    """The test files `paths` name: each file itself, each folder's files named as `patterns` (pytest's
    python_files) at any depth; resolved, so a file named twice counts once."""
    files: set[Path] = set()
    for path in paths:
        if path.is_dir():
            files |= {f.resolve() for f in path.rglob("*.py") if any(fnmatch.fnmatch(f.name, p) for p in patterns)}
        elif path.is_file():
            files.add(path.resolve())
    return files


def workers(files: set[Path] | None, most: int) -> int:
    """How many workers a run of `files` starts (None: the whole suite): `most`, or one per file when there are
    fewer. A file stays whole on one worker (`--dist loadfile`), so a worker beyond the files would only start
    and idle, taking the CPU the working one needs; a single file runs in pytest's own process (0 workers),
    which is what makes `./labctl test --args tests/test_x.py` quick."""
    if files is None or len(files) >= most:
        return most
    return len(files) if len(files) > 1 else 0
