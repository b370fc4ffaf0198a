"""The layers of lbi, as its docstring lists them, hold in the code: no module imports from a higher layer, not
even lazily inside a function (or for type checking only), and no modules import each other in a circle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import lbi
from tests.conftest import ROOT

PACKAGE = ROOT / "lbi"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of lbi an imported name lives in (`lbi.envs.base.Task` -> `lbi.envs.base`), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    """Every module of lbi that `module` imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _resolve(name)
            if target and target != module and not module.startswith(target + "."):  # its own package: its face
                found.add(target)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layers() -> list[list[str]]:
    """The numbered list of lbi's docstring: one line per layer, bottom first, its packages and modules."""
    lines = re.findall(r"^(\d+)\. (.+)$", lbi.__doc__ or "", re.M)
    assert [int(n) for n, _ in lines] == list(range(1, len(lines) + 1)), "lbi's docstring: number the layers 1, 2, ..."
    return [[f"lbi.{name.strip()}" for name in names.split(",")] for _, names in lines]


LAYERS = _layers()


def _layer(module: str) -> int | None:
    if module == "lbi":
        return 0  # the package's face: a docstring and the version, below everything
    for level, names in enumerate(LAYERS, 1):
        if any(module == name or module.startswith(name + ".") for name in names):
            return level
    return None


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def test_the_graph_sees_every_kind_of_import() -> None:
    assert len(MODULES) > 100
    assert "lbi.envs.base" in GRAPH["lbi.envs.tasks"]  # at the top
    assert "lbi.use.evaluate_ray" in GRAPH["lbi.use.evaluate"]  # inside a function
    assert "lbi.envs.registry" in GRAPH["lbi.envs.web"]  # for type checking only
    assert "lbi.prompts.replies" in GRAPH["lbi.prompts.messages"]  # `from package.module import name`


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if _layer(m) is None)
    assert not unplaced, f"add these to a layer of lbi's docstring: {unplaced}"
    unknown = [name for names in LAYERS for name in names if name not in MODULES]
    assert not unknown, f"lbi's docstring lists layers of modules that do not exist: {unknown}"


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
        for m, targets in graph.items()
        for t in targets
        if (_layer(t) or 0) > (_layer(m) or 0)
    )


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = _upward(GRAPH)
    assert not upward, "lower layers never import higher ones; pass a function instead:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    assert _circles(GRAPH) == [], "modules that import each other (lazy imports included)"


def test_the_checks_find_an_upward_import_and_a_circle() -> None:
    graph = {module: set(targets) for module, targets in GRAPH.items()}
    graph["lbi.paths"].add("lbi.demos.trac")  # demos.trac imports paths
    assert _upward(graph) == ["lbi.paths (layer 1) imports lbi.demos.trac (layer 13)"]
    assert any({"lbi.demos.trac", "lbi.paths"} <= set(circle) for circle in _circles(graph))
