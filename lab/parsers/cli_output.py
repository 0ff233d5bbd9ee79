"""What the linkerd CLI prints, per version, as typed results: `check -o json` and `multicluster gateways`.

Both backends read the same text: the kind backend from the real CLI, the
simulation from the lab process, which renders each version's format. So a
parser that only understands the lab's own idea of the output fails on the
simulation too.

Sources, read at the pinned tags:
- check JSON: {"success", "categories": [{"categoryName", "checks": [{"description", "hint", "error",
  "result": success|warning|error}]}]}: stable-2.8.1 cli/cmd/check.go (checkOutput),
  edge-26.8.3 pkg/healthcheck/healthcheck_output.go (CheckOutput).
- gateways table: stable-2.8.1 cli/cmd/multicluster.go (CLUSTER NAMESPACE NAME ALIVE NUM_SVC LATENCY_P50
  LATENCY_P95 LATENCY_P99), edge-26.8.3 multicluster/cmd/gateways.go (CLUSTER ALIVE NUM_SVC LATENCY);
  latencies as "<n>ms", "-" when the gateway is not alive.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass


class OutputError(ValueError):
    """The CLI printed something that is not its documented format."""


@dataclass(frozen=True)
class CheckResult:
    category: str
    name: str
    result: str          # "success", "warning" or "error", as the CLI reports it
    error: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.result == "success"

    @property
    def failed(self) -> bool:
        """A failure that makes the command exit non-zero (warnings do not)."""
        return self.result == "error"

    def names_cluster(self, cluster: str) -> bool:
        """Whether the error text blames `cluster`: both versions write `[<cluster>]` or `* <cluster>`."""
        return f"[{cluster}]" in self.error or re.search(rf"\* {re.escape(cluster)}(:|$|\s)", self.error) is not None

    def to_dict(self) -> dict:
        return asdict(self)


def parse_check(stdout: str) -> list[CheckResult]:
    try:
        report = json.loads(stdout)
        return [CheckResult(cat["categoryName"], c["description"], c["result"], c.get("error", ""), c.get("hint", ""))
                for cat in report["categories"] for c in cat["checks"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise OutputError(f"not `linkerd check -o json` output ({exc}): {stdout.strip()[:200]!r}") from None


def render_check(results: list[CheckResult]) -> str:
    categories: list[dict] = []
    for r in results:
        if not categories or categories[-1]["categoryName"] != r.category:
            categories.append({"categoryName": r.category, "checks": []})
        entry = {"description": r.name, "result": r.result}
        if r.result != "success":
            entry.update({"error": r.error, "hint": r.hint})
        categories[-1]["checks"].append(entry)
    return json.dumps({"success": not any(r.failed for r in results), "categories": categories}, indent=2) + "\n"


def find_check(results: list[CheckResult], name: str) -> CheckResult | None:
    return next((r for r in results if r.name == name), None)


@dataclass(frozen=True)
class GatewayStatus:
    """One row of `linkerd multicluster gateways`; namespace and name only where the version prints them."""

    cluster: str
    alive: bool
    paired_services: int
    latency_ms: float | None
    namespace: str | None = None
    name: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _ms(cell: str) -> float | None:
    return None if cell == "-" else float(cell.removesuffix("ms"))


def parse_gateways(table: str) -> list[GatewayStatus]:
    """Read the table by its header, whichever version printed it."""
    lines = [line.split() for line in table.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    if header[:1] != ["CLUSTER"] or "ALIVE" not in header or "NUM_SVC" not in header:
        raise OutputError(f"not a `linkerd multicluster gateways` table: {table.strip()[:200]!r}")
    latency = next((h for h in ("LATENCY", "LATENCY_P50") if h in header), None)
    rows = []
    for cells in lines[1:]:
        if len(cells) != len(header):
            raise OutputError(f"gateways row {' '.join(cells)!r} does not match the header {' '.join(header)!r}")
        row = dict(zip(header, cells))
        rows.append(GatewayStatus(cluster=row["CLUSTER"], alive=row["ALIVE"] == "True",
                                  paired_services=int(row["NUM_SVC"]),
                                  latency_ms=_ms(row[latency]) if latency else None,
                                  namespace=row.get("NAMESPACE"), name=row.get("NAME")))
    return rows


def render_gateways(rows: list[GatewayStatus], columns: tuple[str, ...]) -> str:
    """The table as the version with `columns` prints it (left-aligned text, right-aligned numbers)."""
    def cells(g: GatewayStatus) -> dict[str, str]:
        ms = f"{int(g.latency_ms or 0)}ms" if g.alive else "-"
        return {"CLUSTER": g.cluster, "NAMESPACE": g.namespace or "", "NAME": g.name or "",
                "ALIVE": "True" if g.alive else "False", "NUM_SVC": str(g.paired_services),
                "LATENCY": ms, "LATENCY_P50": ms, "LATENCY_P95": ms, "LATENCY_P99": ms}

    table = [list(columns)] + [[cells(g)[c] for c in columns] for g in sorted(rows, key=lambda g: g.cluster)]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    right = {"NUM_SVC", "LATENCY", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"}
    return "".join("  ".join(v.rjust(w) if c in right else v.ljust(w) for v, w, c in zip(r, widths, columns)).rstrip() + "\n"
                   for r in table)
