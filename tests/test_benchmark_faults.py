"""Bad benchmark inputs fail before any fit, naming what is wrong; a killed run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radfuse.benchmark import ConfigError, run_benchmark
from radfuse.benchmark.checks import check_models
from radfuse.benchmark.loading import load_config

LR = {"name": "LR", "class": "LogisticRegression", "params": {"max_iter": 300}}


def _config(path, **over) -> dict:
    cfg = {
        "name": "faults",
        "seed": 0,
        "n_jobs": 1,
        "threads_per_fit": 1,
        "datasets": [{"name": "t", "kind": "table", "path": str(path)}],
        "preprocessing": {"k": 2},
        "models": [LR],
        "subsets": [["A"]],
        "cv": {"n_splits": 2},
        "comparison": {"n_bootstrap": 50},
    }
    cfg.update(over)
    return cfg


def _table(tmp_path, ids=None) -> Path:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(20, 4)), columns=["A__x", "A__y", "B__x", "B__y"])
    X.insert(0, "patient_id", ids if ids is not None else [f"p{i}" for i in range(20)])
    X["label"] = [0, 1] * 10
    path = tmp_path / "table.csv"
    X.to_csv(path, index=False)
    return path


def _no_fit(out: Path):
    assert not (out / "tasks").exists()


def test_text_cell_in_table_names_file_patient_column_value(tmp_path):
    path = _table(tmp_path)
    lines = path.read_text().splitlines()
    cells = lines[4].split(",")  # the data row of patient p3
    cells[2] = "1.2.3"  # column A__y
    lines[4] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"table\.csv.*'A__y'.*'1\.2\.3'.*patient 'p3'"):
        run_benchmark(_config(path), out_dir=out, progress=False)
    _no_fit(out)


def test_patient_ids_are_read_as_text(tmp_path):
    ids = ["007", "NA", "1e3", *[f"0{i}" for i in range(17)]]
    path = _table(tmp_path, ids=ids)
    result = run_benchmark(_config(path), out_dir=tmp_path / "out", progress=False)
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())["t"]
    tested = sorted(p for s in splits for p in s["test"])
    assert tested == sorted(ids)
    assert len(result.results) == 2


def test_empty_and_repeated_ids(tmp_path):
    path = _table(tmp_path, ids=["p1", "p1", "", *[f"q{i}" for i in range(17)]])
    with pytest.raises(ConfigError, match=r"patient ids must be non-empty and unique.*'p1'"):
        run_benchmark(_config(path), out_dir=tmp_path / "out", progress=False)


@pytest.mark.parametrize("config", [[LR], 3, (1, 2)])
def test_config_of_the_wrong_type(config):
    with pytest.raises(ConfigError, match=r"the config must be a mapping \(or a YAML path"):
        run_benchmark(config, progress=False)


def test_model_without_probabilities_before_any_fit(tmp_path):
    path = _table(tmp_path)
    svc = {"name": "SVM", "class": "SVC"}
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"model 'SVM'.*no predict_proba.*probability: true"):
        run_benchmark(_config(path, models=[LR, svc]), out_dir=out, progress=False)
    _no_fit(out)
    with pytest.raises(ConfigError, match=r"model 'SVM'.*probability: true"):
        check_models(load_config(_config(path, models=[svc], preprocessing=None)))
    check_models(load_config(_config(path, models=[{**svc, "params": {"probability": True}}])))


def test_positive_label_not_a_class_before_any_fit(tmp_path):
    path = _table(tmp_path)
    cfg = _config(path)
    cfg["datasets"][0]["positive_label"] = 5
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"dataset .t.: positive_label 5 is not a class.*\[0, 1"):
        run_benchmark(cfg, out_dir=out, progress=False)
    _no_fit(out)
    cfg["datasets"][0]["positive_label"] = 1
    run_benchmark(cfg, out_dir=tmp_path / "ok", progress=False)


def test_unwritable_out_or_cache_folder_before_any_work(tmp_path):
    path = _table(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")  # a folder under a file cannot be made, even by root
    with pytest.raises(ConfigError, match=r"out_dir .*a_file/out.* cannot be written.*nothing"):
        run_benchmark(_config(path), out_dir=blocker / "out", progress=False)
    cfg = _config(path, cache_dir=str(blocker / "cache"))
    with pytest.raises(ConfigError, match=r"cache_dir .*a_file/cache.* cannot be written"):
        run_benchmark(cfg, out_dir=tmp_path / "out", progress=False)
    _no_fit(tmp_path / "out")


KILL_CONFIG = """\
name: killed
seed: 0
n_jobs: 1
threads_per_fit: 1
datasets:
  - {name: bc, kind: breast_cancer_views}
preprocessing: {k: 2}
models:
  - {name: LR, class: LogisticRegression, params: {max_iter: 300}}
  - {name: XGB, class: XGBClassifier, params: {n_estimators: 10, max_depth: 2}}
subsets: all
cv: {n_splits: 2}
comparison: {n_bootstrap: 50}
"""


def _bench(config: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "radfuse.cli", "bench", str(config), "--out", str(out)]
    env = {**os.environ, "RADFUSE_CACHE": str(out.parent / "cache")}
    return subprocess.Popen([*cmd, "--no-progress"], env=env, stdout=subprocess.DEVNULL)


@pytest.mark.slow
def test_kill_9_then_rerun_reuses_finished_fits(tmp_path):
    config = tmp_path / "killed.yaml"
    config.write_text(KILL_CONFIG)
    out = tmp_path / "out"
    proc = _bench(config, out)
    deadline = time.monotonic() + 120
    while len(list((out / "tasks").rglob("*.json"))) < 2:
        assert proc.poll() is None, "the benchmark ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in (out / "tasks").rglob("*.json")}
    for p in done:
        json.loads(p.read_text())  # every task file left is whole

    assert _bench(config, out).wait() == 0
    run_info = json.loads((out / "run_info.json").read_text())
    assert run_info["n_fits_reused"] >= len(done)
    assert run_info["n_fits_reused"] + run_info["n_fits_run"] == run_info["n_fits"]
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())

    clean = tmp_path / "clean"  # in this process: one interpreter start less
    run_benchmark(str(config), out_dir=clean, progress=False)
    keys = ["dataset", "model", "subset", "repeat", "fold"]
    a = pd.read_csv(out / "results.csv").sort_values(keys).reset_index(drop=True)
    b = pd.read_csv(clean / "results.csv").sort_values(keys).reset_index(drop=True)
    metrics = [c for c in a.columns if c in ("roc_auc", "accuracy", "balanced_accuracy", "brier")]
    assert metrics
    pd.testing.assert_frame_equal(a[keys + metrics], b[keys + metrics])
