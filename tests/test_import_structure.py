"""The lab's modules import one another without a circle: a newcomer can read them bottom-up.

Imports inside functions count (they only defer a circle); imports under `if TYPE_CHECKING:` do not
(they never run)."""
import ast
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "lab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("lab"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("lab"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x` names a module
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in LAB.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


def test_no_module_imports_itself_through_others():
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# The map, bottom to top (the README's layout section draws it). A module imports only from its own
# layer or below; a new module must be placed here, so the map cannot silently go stale.
LAYERS = [
    ("foundation", {"lab", "lab.errors", "lab.names", "lab.profiles", "lab.cli_output", "lab.metrics", "lab.lock",
                    "lab.docker_probe", "lab.run", "lab.crds", "lab.kubeclient"}),
    ("model", {"lab.pki", "lab.gateways", "lab.config", "lab.tools"}),
    ("rendering", {"lab.manifests", "lab.helm", "lab.trust", "lab.doctor"}),
    # The simulated clusters (lab/sim), bottom to top; the sim backend above them starts them as a process.
    ("sim wire", {"lab.sim", "lab.sim.wire", "lab.sim.wire.*"}),
    ("sim kube", {"lab.sim.kube", "lab.sim.kube.*"}),
    ("sim mesh", {"lab.sim.mesh", "lab.sim.mesh.*"}),
    ("sim world", {"lab.sim.world", "lab.sim.world.*"}),
    ("sim process", {"lab.sim.process", "lab.sim.process.*"}),
    ("backends", {"lab.backends", "lab.backends.*"}),
    ("orchestration", {"lab.steps", "lab.status", "lab.diagnostics", "lab.script"}),
    ("lab object", {"lab.session"}),
    ("pytest plugin", {"lab.pytest_plugin"}),
]


def _layer(module: str) -> int:
    for index, (_, members) in enumerate(LAYERS):
        if module in members or any(m.endswith(".*") and module.startswith(m[:-1]) for m in members):
            return index
    raise AssertionError(f"{module} is on no layer: place it in LAYERS (tests/test_import_structure.py) and the README map")


def test_no_lower_module_imports_a_higher_one():
    upward = [f"{module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
              for module, targets in _graph().items() for target in targets if _layer(target) > _layer(module)]
    assert upward == []
