"""The house's rules, read from the source: imports point one way and no module imports itself round a circle.

Every ``import`` counts, including the ones inside functions: a lazy import still ties the two layers together.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lit_gen"

# (importing layer, layers it must never import)
FORBIDDEN = [
    ("models", ("callbacks", "data", "tracking", "config")),
    ("data", ("models", "config")),
    ("metrics", ("models", "callbacks", "tracking", "run")),
    ("tracking", ("data",)),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The lit_gen modules that a file imports (``from a.b import c`` counts as a.b.c when that is a module)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lit_gen"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lit_gen") and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_point_one_way():
    wrong = []
    for module, targets in _graph().items():
        for layer, never in FORBIDDEN:
            if _layer(module) == layer:
                wrong += [f"{module} -> {t}" for t in sorted(targets) if _layer(t) in never]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_circle():
    graph = _graph()
    # a package's __init__ is imported whenever one of its modules is: an edge to a.b.c also reaches a.b
    for module in list(graph):
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    circles = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("rule", FORBIDDEN, ids=[r[0] for r in FORBIDDEN])
def test_the_checker_sees_a_forbidden_import(rule, tmp_path):
    """The checker itself: a planted import of each forbidden layer is found."""
    layer, never = rule
    planted = tmp_path / "planted.py"
    planted.write_text(f"def f():\n    from lit_gen.{never[0]}.x import y\n")
    assert f"lit_gen.{never[0]}.x" in _imports(planted)
