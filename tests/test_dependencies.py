"""What radfuse imports is what it declares: the main job runs after a plain ``pip install .``.

Reads every ``import`` under ``radfuse/`` (``ast``) and maps the modules to their distributions;
each must be a runtime dependency, or belong to the optional extra that names it. A package
used only through another (pandas' Parquet engine) is listed by hand.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: modules imported only on an optional path, and the extra that installs them
OPTIONAL = {"dask": "dask", "distributed": "dask", "sksurv": "survival"}
#: used without an import: the benchmark stores its feature tables as Parquet with pyarrow
INDIRECT = {"pyarrow"}


def _names(requirements) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in requirements}


def _imported() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / "radfuse").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top != "radfuse" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _names(project["dependencies"])
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    dists = packages_distributions()
    missing = {}
    for module, files in _imported().items():
        names = {d.lower() for d in dists.get(module, [module])}
        extra = OPTIONAL.get(module)
        declared = runtime | (extras.get(extra, set()) if extra else set())
        if not names & declared:
            missing[module] = sorted(files)[:3]
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert INDIRECT <= runtime


def test_the_scan_finds_the_main_dependencies():
    found = _imported()
    assert {"numpy", "pandas", "sklearn", "torch", "radiomics", "SimpleITK"} <= set(found)
