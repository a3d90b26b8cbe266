"""The layout of the package: small files, and no import cycle between radfuse modules.

Both checks read the source (``ast``), so they also see imports made inside functions: a lazy
import that closes a cycle only postpones the failure to whoever calls that function first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "radfuse"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """radfuse modules that ``module`` imports anywhere in its body (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from pkg import submodule`` imports the submodule; a name comes from pkg
                sub = f"{source}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif source in known:
                    found.add(source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    # importing a.b.c runs a/__init__ and a/b/__init__ first: a cycle through another package's
    # __init__ is as real as a direct one (a module's own ancestors are already importing)
    own = set(_ancestors(module)) | {module}
    for target in list(found):
        found.update(p for p in _ancestors(target) if p in known and p not in own)
    found.discard(module)
    return found


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def import_graph() -> dict[str, set[str]]:
    """``{module: radfuse modules it imports}`` over the whole package."""
    sources = _sources()
    known = set(sources)
    return {m: _imports(m, p, known) for m, p in sources.items()}


def test_no_file_over_the_line_limit():
    long = {
        str(p.relative_to(ROOT.parent)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines (split them by job): " + ", ".join(
        f"{k} ({v})" for k, v in sorted(long.items())
    )


def test_no_import_cycle_inside_radfuse():
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles between radfuse modules: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_the_graph_sees_real_imports():
    # guard against a checker that finds nothing: the package's real edges must be there
    graph = import_graph()
    users = {m for m, deps in graph.items() if "radfuse.modality" in deps}
    assert any(m.startswith("radfuse.estimators") for m in users)
    assert any(m.startswith("radfuse.selection") for m in users)
    assert sum(map(len, graph.values())) > 30


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycle_finder(graph, expected):
    assert _cycles(graph) == expected


def test_lazy_and_relative_imports_count(tmp_path):
    pkg = tmp_path / "radfuse"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from radfuse.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nfrom . import a\nif TYPE_CHECKING:\n    import radfuse\n"
    )
    global ROOT
    saved, ROOT = ROOT, pkg
    try:
        graph = import_graph()
    finally:
        ROOT = saved
    assert graph["radfuse.sub"] == {"radfuse.sub.a"}  # radfuse itself is an ancestor
    assert graph["radfuse.sub.a"] == {"radfuse.sub.b"}
    assert graph["radfuse.sub.b"] == {"radfuse.sub.a"}
    assert _cycles(graph) == [["radfuse.sub.a", "radfuse.sub.b"]]


def test_a_cycle_through_another_package_init_counts(tmp_path):
    # x.m imports y.n; y/__init__ imports y.p, which imports x.m: importing y.n runs y/__init__
    pkg = tmp_path / "radfuse"
    for sub in ("x", "y"):
        (pkg / sub).mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "x" / "__init__.py").write_text("")
    (pkg / "x" / "m.py").write_text("from radfuse.y.n import f\n")
    (pkg / "y" / "__init__.py").write_text("from radfuse.y.p import g\n")
    (pkg / "y" / "n.py").write_text("def f():\n    pass\n")
    (pkg / "y" / "p.py").write_text("from radfuse.x.m import f as g\n")
    global ROOT
    saved, ROOT = ROOT, pkg
    try:
        graph = import_graph()
    finally:
        ROOT = saved
    assert graph["radfuse.x.m"] == {"radfuse.y", "radfuse.y.n"}
    assert _cycles(graph) == [["radfuse.x.m", "radfuse.y", "radfuse.y.p"]]
