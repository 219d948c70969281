"""The package's imports point down the layers and form no cycle.

domain ← application ← adapters ← runtime (the typed services container) ← http, cli ← bootstrap.
Every ``import`` counts, at module level or inside a function, except under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sensorhub

PACKAGE = Path(sensorhub.__file__).parent

# Layer of each top-level name under ``sensorhub``; a module may import its own layer or lower ones.
LAYERS: dict[str, int] = {
    "domain": 0,
    "application": 1,
    **dict.fromkeys(
        (
            "eventstore",
            "projections",
            "timeseries",
            "ingest",
            "idempotency",
            "apikeys",
            "rate_limits",
            "migrations",
            "simulator",
            "db",
            "settings",
            "observability",
        ),
        2,
    ),
    "runtime": 3,
    "http": 4,
    "cli": 4,
    "bootstrap": 5,
}
NAMES = {0: "domain", 1: "application", 2: "adapters", 3: "runtime", 4: "http/cli", 5: "composition"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (``from a import b``: ``a.b`` when that is a module)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in modules() if m != "sensorhub" and layer(m) is None)
    assert not unplaced, f"add these to LAYERS in {__file__}: {unplaced}"


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = []
    for module, imported in graph().items():
        own = layer(module)
        for target in sorted(imported):
            theirs = layer(target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(f"{module} ({NAMES[own]}) imports {target} ({NAMES[theirs]})")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_see_a_known_edge() -> None:
    # guards against a walker that silently finds nothing
    assert "sensorhub.runtime" in graph()["sensorhub.bootstrap"]
