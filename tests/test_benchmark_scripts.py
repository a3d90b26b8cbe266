"""Every script in ``benchmarks/`` runs to the end at tiny sizes, in this process (shared imports).

The scripts measure the figures quoted in the README and the issues' notes; a script that no longer
runs (an API renamed under it) is caught here, not by the next person who needs the figure.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_script_has_a_smoke_test():
    tested = {name for name, _ in CASES}
    assert {p.stem for p in SCRIPTS.glob("*.py")} == tested


def _phantom_figures(tmp_path):
    return ["--out", str(tmp_path / "pf"), "--n-patients", "6", "--images", "1", "--difficulty"]


def _bench_scaling(tmp_path):
    config = {
        "name": "tiny",
        "seed": 0,
        "datasets": [{"name": "bc", "kind": "breast_cancer_views", "positive_label": 0}],
        "preprocessing": {"k": 2},
        "models": [{"name": "LR", "class": "LogisticRegression", "params": {"max_iter": 500}}],
        "subsets": [["MEAN"], ["MEAN", "SE"]],
        "cv": {"n_splits": 2},
        "comparison": {"n_bootstrap": 10},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return [str(path), "--jobs", "1", "--threads", "1"]


def _extraction_speed(tmp_path):
    return [
        "--skip-cases",
        "--skip-ct",
        "--n-patients",
        "2",
        "--spec",
        "mri_original",
        "--workdir",
        str(tmp_path / "x"),
    ]


CASES = [
    ("phantom_figures", (_phantom_figures, [r"write 6 x 3", r"lesion voxels over 6 patients"])),
    ("bench_scaling", (_bench_scaling, [r"n_jobs=1: 4 fits in [\d.]+ s"])),
    (
        "extraction_speed",
        (_extraction_speed, [r"throughput 2 workers vs 1", r"identical across the three runs"]),
    ),
    (
        "selection_counts",
        (lambda _: ["--folds", "2", "--k", "3"], [r"\| select \(k=3\) \|", r"ROC AUC 0\.9\d"]),
    ),
    (
        "train_speed",
        (
            lambda _: ["--epochs", "1", "--repeats", "1", "--models", "MFN-VAE"],
            [r"cpu\s+MFN-VAE\s+[\d.]+\s+[\d.]+"],
        ),
    ),
    (
        "surmoe_dev",
        (
            lambda _: ["--datasets", "whas500", "--folds", "2", "--params", '{"max_epochs": 1}'],
            [r"whas500\s+complete\s+SurMoE\s+0\.\d+", r"Coxnet\s+0\.[6-9]"],
        ),
    ),
    (
        "gmenet_breast_views",
        (
            lambda tmp: ["--folds", "2", "--epochs", "1", "--out", str(tmp)],
            [r"GMENet \(all rows\)", r"XGBoost FS"],
        ),
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "case"), CASES, ids=[c[0] for c in CASES])
def test_script_runs(name, case, tmp_path, capsys):
    argv, patterns = case
    _script(name).main(argv(tmp_path))
    out = capsys.readouterr().out
    for pattern in patterns:
        assert re.search(pattern, out), f"{name}: {pattern!r} not in output:\n{out}"
