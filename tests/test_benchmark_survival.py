"""The survival benchmark (``task: survival``): data, folds, metrics, report and the errors that
come before any fit; classification plans stay as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sksurv")

from sksurv.metrics import concordance_index_censored

from radfuse.benchmark import ConfigError, load_config, run_benchmark
from radfuse.benchmark.data import load_dataset
from radfuse.benchmark.plan import plan_fits, resolve_subsets
from radfuse.benchmark.splits import Split, make_splits
from radfuse.benchmark.survival_data import check_survival_splits
from radfuse.benchmark.survival_metrics import SURVIVAL_METRICS, compute_survival_metrics
from radfuse.datasets import make_multimodal_survival

ROOT = Path(__file__).resolve().parents[1]
SYNTH = {
    "name": "synth",
    "kind": "multimodal_survival",
    "params": {"n_samples": 120, "modalities": {"A": 6, "B": 6}, "effect_size": 2.0},
}
MODELS = [
    {"name": "Coxnet", "class": "CoxnetSurvivalAnalysis"},
    {
        "name": "SurMoE",
        "class": "SurMoESurvival",
        "subset_mode": "blank_at_test",
        "params": {"max_epochs": 2, "device": "cpu", "d_model": 8, "n_heads": 2},
    },
]


def _config(**over):
    cfg = {
        "name": "surv",
        "task": "survival",
        "n_jobs": 1,
        "datasets": [SYNTH],
        "models": MODELS,
        "cv": {"n_splits": 2},
        "comparison": {"n_bootstrap": 100},
    }
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("surv")
    res = run_benchmark(_config(), out_dir=out, backend="sequential", progress=False)
    return out, res


def test_results_have_real_survival_metrics(finished):
    _, res = finished
    r = res.results
    assert set(SURVIVAL_METRICS) <= set(r.columns)
    assert len(r) == 2 * 3 * 2  # models x subsets x folds
    assert np.isfinite(r[list(SURVIVAL_METRICS)].to_numpy(float)).all()
    cox = r[(r.model == "Coxnet") & (r.subset == "A+B")]
    assert cox.c_harrell.mean() > 0.6 and (cox.ibs < 0.25).all()


def test_harrell_c_is_sksurv_on_the_stored_risks(finished):
    out, res = finished
    risks = pd.read_csv(out / "oof_risks.csv")
    for _, row in res.results.iterrows():
        d = risks[(risks.model == row.model) & (risks.subset == row.subset)]
        d = d[(d.fold == row["fold"]) & (d["repeat"] == row["repeat"])]
        c = concordance_index_censored(d.event.astype(bool), d.time, d.risk)[0]
        assert c == pytest.approx(row.c_harrell, abs=1e-12)
        assert len(d) == row.n_test


def test_report_tables_and_km_plot(finished):
    out, _ = finished
    for name in (
        "summary.md",
        "survival_table_synth.md",
        "cindex_table_synth.md",
        "comparison.csv",
        "logrank.csv",
        "km_synth.png",
    ):
        assert (out / name).is_file(), name
    comp = pd.read_csv(out / "comparison.csv")
    assert set(comp.model) == {"SurMoE"} and set(comp.baseline) == {"Coxnet"}
    assert comp.ci_low.le(comp.boot_c_diff).all() and comp.boot_c_diff.le(comp.ci_high).all()
    lr = pd.read_csv(out / "logrank.csv")
    assert lr.logrank_p.between(0, 1).all()
    assert "C (Uno)" in (out / "survival_table_synth.md").read_text()
    assert json.loads((out / "plan.json").read_text())["task"] == "survival"


def _table(tmp_path, time, event):
    X, _ = make_multimodal_survival(40, {"A": 3, "B": 3}, random_state=0)
    df = X.assign(os_days=time, death=event)
    path = tmp_path / "t.csv"
    df.to_csv(path)
    return {"name": "t", "kind": "table", "path": str(path), "time": "os_days", "event": "death"}


@pytest.mark.parametrize(
    "time, event, match",
    [
        (-1.0, 1, "positive number"),
        (np.nan, 1, "positive number"),
        (5.0, 2, "0 \\(censored\\) or 1"),
        (5.0, 0, "no event"),
    ],
)
def test_bad_outcomes_fail_before_any_fit(tmp_path, time, event, match):
    times = np.linspace(1, 40, 40)
    events = np.tile([1, 0], 20)
    times[3], events[3] = time, event
    if event == 0:
        events[:] = 0
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=match):
        run_benchmark(
            _config(datasets=[_table(tmp_path, times, events)]), out_dir=out, progress=False
        )
    assert not (out / "tasks").exists()


@pytest.mark.parametrize(
    "over, match",
    [
        ({"datasets": [{"name": "b", "kind": "breast_cancer_views"}]}, "no survival outcome"),
        ({"datasets": [{**SYNTH, "label": "y"}]}, "has no 'label'"),
        (
            {"datasets": [{"name": "s", "kind": "sksurv", "params": {"name": "breast_cancer"}}]},
            "sksurv",
        ),
        ({"preprocessing": {"k": 5}}, "class label"),
        ({"task": "classification"}, "task: survival"),
        (
            {
                "models": [
                    {
                        **MODELS[0],
                        "tuning": {"search_space": {"l1_ratio": {"low": 0.1, "high": 1.0}}},
                    }
                ]
            },
            "tuning is not available",
        ),
    ],
)
def test_bad_survival_configs(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_config(**over))


def test_no_event_in_a_training_fold_and_horizon_outside_follow_up():
    y = np.zeros(6, dtype=[("event", "?"), ("time", "<f8")])
    y["time"] = [1, 2, 3, 4, 5, 6]
    y["event"] = [0, 0, 0, 1, 1, 1]
    split = Split(0, 0, np.arange(3), np.arange(3, 6))
    with pytest.raises(ConfigError, match="training set has no event"):
        check_survival_splits("d", y, [split])
    y["event"] = True
    with pytest.raises(ValueError, match="outside the test follow-up"):
        compute_survival_metrics(y[3:], y[:3], np.arange(3.0))


def test_sksurv_tables_come_in_named_blocks():
    cfg = load_config(
        _config(datasets=[{"name": "w", "kind": "sksurv", "params": {"name": "whas500"}}])
    )
    data = load_dataset(cfg.datasets[0], cache_dir=".", progress=False)
    assert data.modalities == ["CLIN", "VITAL"] and data.y.dtype.names == ("event", "time")
    assert data.info["event_counts"] == {"event": 215, "censored": 285}
    splits = make_splits(data, cfg)
    rates = [data.y["event"][s.test].mean() for s in splits]
    assert max(rates) - min(rates) < 0.01  # stratified on the event


def test_classification_plan_is_unchanged(tmp_path):
    # digest of every (fit key, digest) of breast_cancer_views.yaml before survival existed
    cfg = load_config(ROOT / "benchmarks" / "breast_cancer_views.yaml")
    assert all("task" not in d for d in cfg.to_dict()["datasets"])
    lines = []
    for d in cfg.datasets:
        data = load_dataset(d, cache_dir=tmp_path, seed=cfg.seed, progress=False)
        subsets = resolve_subsets(cfg, data)
        fits = plan_fits(cfg, data, make_splits(data, cfg), subsets, fingerprint=data.fingerprint())
        lines += [f"{f.key} {f.digest}" for f in fits]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert len(lines) == 300
    assert digest == "5bf2f0b633d11008b45054ad56d83c4f9591e4c3238673308f9cdcdcd7974886"
