"""The benchmark runner on tiny configurations (few epochs, 2 folds, small tables)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from radfuse.benchmark import ConfigError, run_benchmark
from radfuse.benchmark.store import task_path

# a lean preprocessing for tests: the standard pipeline with few features per modality
PREP = {"k": 3}
MODS = {"T1WI": 6, "FLAIR": 6, "DWI": 6}


def tiny_config(**over) -> dict:
    cfg = {
        "name": "tiny",
        "seed": 0,
        "n_jobs": 1,
        # one thread per fit: these tiny fits only lose to threading overhead
        "threads_per_fit": 1,
        "datasets": [
            {
                "name": "mm",
                "kind": "multimodal",
                "params": {
                    "n_samples": 90,
                    "modalities": MODS,
                    "n_informative": 4,
                    "class_sep": 2.0,
                },
            }
        ],
        "preprocessing": PREP,
        "models": [
            {"name": "LR", "class": "LogisticRegression", "params": {"max_iter": 500}},
            {
                "name": "XGB",
                "class": "XGBClassifier",
                "params": {"n_estimators": 15, "max_depth": 2},
            },
        ],
        "subsets": "all",
        "cv": {"n_splits": 2},
        "comparison": {"n_bootstrap": 200},
    }
    cfg.update(over)
    return cfg


TORCH_MODELS = [
    {
        "name": "MMT",
        "class": "MMTClassifier",
        "params": {
            "max_epochs": 2,
            "d_model": 8,
            "head_dims": [8],
            "batch_size": 32,
            "device": "cpu",
        },
    },
    {
        "name": "MMT-any",
        "class": "MMTClassifier",
        "subset_mode": "blank_at_test",
        "params": {
            "max_epochs": 2,
            "d_model": 8,
            "head_dims": [8],
            "batch_size": 32,
            "device": "cpu",
        },
    },
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One run with two baselines and both MMT modes, shared by several tests."""
    out = tmp_path_factory.mktemp("tiny")
    cfg = tiny_config(models=tiny_config()["models"] + TORCH_MODELS)
    result = run_benchmark(cfg, out_dir=out, progress=False)
    return result, out


def test_table_shape_and_files(tiny_run):
    result, out = tiny_run
    res = result.results
    # 4 models x 7 subsets x 2 folds, one row each
    assert len(res) == 4 * 7 * 2
    assert set(res.model) == {"LR", "XGB", "MMT", "MMT-any"}
    assert res.groupby(["model", "subset"]).size().eq(2).all()
    assert sorted(res.subset.unique(), key=len)[0] in {"T1WI", "DWI"}
    assert set(res.n_modalities) == {1, 2, 3}
    metrics = [
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
        "sensitivity",
        "specificity",
        "precision",
        "f1",
    ]
    assert res[metrics].notna().all().all()
    assert ((res[metrics] >= 0) & (res[metrics] <= 1)).all().all()
    # summary: one row per (model, subset) with mean and std
    s = result.summary
    assert len(s) == 28 and {"roc_auc_mean", "roc_auc_std", "n_folds"} <= set(s.columns)
    lr_full = res[(res.model == "LR") & (res.subset == "T1WI+FLAIR+DWI")]
    assert s.loc[(s.model == "LR") & (s.subset == "T1WI+FLAIR+DWI"), "roc_auc_mean"].item() == (
        pytest.approx(lr_full.roc_auc.mean())
    )
    # the baselines learn this well-separated table
    assert s.loc[s.model == "LR", "roc_auc_mean"].max() > 0.8
    for name in [
        "results.csv",
        "summary.csv",
        "summary.md",
        "paper_table.md",
        "paper_table_mm.csv",
        "comparison.csv",
        "run_info.json",
        "splits.json",
        "roc_mm.png",
        "confusion_mm.png",
        "auc_heatmap_mm.png",
        "modality_importance_mm.png",
        "auc_table_mm.md",
        "oof_predictions.csv",
        "modality_importance.csv",
    ]:
        assert (out / name).is_file(), name
    assert (out / "roc_mm.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(out / "results.csv")) == len(res)


def test_paper_table_marks_modalities(tiny_run):
    _, out = tiny_run
    pt = pd.read_csv(out / "paper_table_mm.csv", keep_default_na=False)
    assert list(pt.columns[:4]) == ["Model", "T1WI", "FLAIR", "DWI"]
    assert len(pt) == 28
    row = pt[(pt.Model == "MMT") & (pt.T1WI == "✓") & (pt.FLAIR == "") & (pt.DWI == "✓")]
    assert len(row) == 1
    assert " ± " in row.AUC.item()
    md = (out / "summary.md").read_text()
    assert "| Model | T1WI | FLAIR | DWI | AUC |" in md
    assert "Comparison with the best baseline" in md


def test_identical_splits_across_models(tiny_run):
    _, out = tiny_run
    splits = json.loads((out / "splits.json").read_text())["mm"]
    assert len(splits) == 2
    tests = [set(s["test"]) for s in splits]
    assert not tests[0] & tests[1] and len(tests[0] | tests[1]) == 90
    # every model and subset scored exactly the patients of the shared test fold
    for path in (out / "tasks" / "mm").rglob("*.json"):
        task = json.loads(path.read_text())
        fold = task["rows"][0]["fold"]
        for oof in task["oof"]:
            assert set(oof["patient_id"]) == tests[fold], path.name


def test_subset_modes(tiny_run):
    _, out = tiny_run
    tasks = out / "tasks" / "mm"
    # blank_at_test: one fit per fold serves all 7 subsets; others: one fit per subset and fold
    assert len(list((tasks / "MMT-any").glob("*.json"))) == 2
    assert len(list((tasks / "MMT").glob("*.json"))) == 14
    one = json.loads((tasks / "MMT-any" / "all__r0f0.json").read_text())
    assert len(one["rows"]) == 7
    assert len({r["fit_seconds"] for r in one["rows"]}) == 1  # one fit behind all rows
    imp = pd.read_csv(out / "modality_importance.csv")
    # blanking importance for the any-subset model (from its subset rows) and the column models
    assert {"MMT-any", "LR", "XGB"} <= set(imp.model)
    assert "MMT" not in set(imp.model)
    assert imp.groupby("model").size().ge(3).all()


def test_run_info_records_environment(tiny_run):
    _, out = tiny_run
    info = json.loads((out / "run_info.json").read_text())
    assert info["seed"] == 0 and info["n_fits"] == 3 * 14 + 2
    assert info["environment"]["packages"]["scikit-learn"]
    assert "cpu_count" in info["environment"]["device"]
    assert len(info["task_seconds_this_run"]) == info["n_fits"]
    assert all(v > 0 for v in info["task_seconds_this_run"].values())


# -- resume -------------------------------------------------------------------------------------
class FlakyClassifier(LogisticRegression):
    """Fails on DWI-only data while FAIL is set (an interruption in the middle of a run)."""

    FAIL: ClassVar[dict] = {"on": False}

    def fit(self, X, y):
        if self.FAIL["on"] and all(str(c).startswith("DWI__") for c in X.columns):
            raise KeyboardInterrupt("simulated interruption")
        return super().fit(X, y)


def test_resume_after_interruption_recomputes_nothing_finished(tmp_path):
    cfg = tiny_config(
        models=[{"name": "flaky", "class": FlakyClassifier, "params": {"max_iter": 500}}],
        subsets=[["T1WI"], ["DWI"], ["T1WI", "DWI"]],
    )
    FlakyClassifier.FAIL["on"] = True
    try:
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(cfg, out_dir=tmp_path, progress=False)
    finally:
        FlakyClassifier.FAIL["on"] = False
    done = sorted((tmp_path / "tasks").rglob("*.json"))
    assert 0 < len(done) < 6  # some fits finished before the interruption
    stamps = {p: p.stat().st_mtime_ns for p in done}
    result = run_benchmark(cfg, out_dir=tmp_path, progress=False)
    assert result.run_info["n_fits_reused"] == len(done)
    assert result.run_info["n_fits_run"] == 6 - len(done)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert len(result.results) == 6
    # a third run recomputes nothing; a changed model parameter recomputes that model only
    again = run_benchmark(cfg, out_dir=tmp_path, progress=False)
    assert again.run_info["n_fits_run"] == 0
    cfg["models"][0]["params"]["C"] = 0.5
    changed = run_benchmark(cfg, out_dir=tmp_path, progress=False)
    assert changed.run_info["n_fits_run"] == 6


def test_parallel_equals_sequential(tmp_path):
    cfg = tiny_config(subsets=[["T1WI"], ["T1WI", "DWI"]])
    cfg["models"] = cfg["models"][:1]
    seq = run_benchmark(cfg, out_dir=tmp_path / "seq", progress=False)
    par = run_benchmark(cfg, out_dir=tmp_path / "par", n_jobs=2, progress=False)
    cols = ["model", "subset", "fold", "roc_auc", "accuracy"]
    pd.testing.assert_frame_equal(seq.results[cols], par.results[cols])
    assert par.run_info["n_jobs"] == 2


# -- canary -------------------------------------------------------------------------------------
def test_shuffled_label_canary_near_half(tmp_path):
    cfg = {
        "name": "canary",
        "threads_per_fit": 1,
        "datasets": [{"name": "bc", "kind": "breast_cancer_views"}],
        "preprocessing": PREP,
        "models": [{"name": "LR", "class": "LogisticRegression", "params": {"max_iter": 1000}}],
        "subsets": [["MEAN", "SE", "WORST"], ["WORST"]],
        "cv": {"n_splits": 3},
        "comparison": {"n_bootstrap": 100},
    }
    real = run_benchmark(cfg, out_dir=tmp_path / "real", progress=False)
    fake = run_benchmark(cfg, out_dir=tmp_path / "fake", shuffle_labels=True, progress=False)
    assert real.summary.roc_auc_mean.min() > 0.95
    assert fake.summary.roc_auc_mean.between(0.4, 0.6).all(), fake.summary.roc_auc_mean
    assert "Canary run" in (tmp_path / "fake" / "summary.md").read_text()


# -- configuration errors, all before any training ----------------------------------------------
def _no_training(out: Path):
    assert not (out / "tasks").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subsets": [["T1WI", "PET"]]}, "names modality ['PET']"),
        ({"models": [{"name": "x", "class": "nosuchpkg.Model"}]}, "cannot import module"),
        ({"models": [{"name": "x", "class": "sklearn.linear_model.NoSuch"}]}, "no attribute"),
        (
            {"models": [{"name": "x", "class": "LogisticRegression", "params": {"cc": 1}}]},
            "no parameter(s) ['cc']",
        ),
        (
            {
                "models": [
                    {"name": "x", "class": "LogisticRegression", "subset_mode": "input_modalities"}
                ]
            },
            "input_modalities",
        ),
        ({"cv": {"n_splits": 2, "group_aware": True}}, "no group column"),
        ({"cv": {"n_splits": 50}}, "fewer than cv.n_splits=50"),
        ({"cv": {"n_split": 2}}, "unknown key(s) ['n_split']"),
        ({"datasets": [{"name": "d", "kind": "nosuchkind"}]}, "unknown kind"),
        ({"backend": "nosuch"}, "config.backend='nosuch': expected one of"),
        (
            {"datasets": [{**tiny_config()["datasets"][0], "keep_modalities": ["T1WI", "PET"]}]},
            "keep_modalities ['PET'] are not in the data",
        ),
    ],
)
def test_config_errors_are_clear(tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        run_benchmark(tiny_config(**change), out_dir=tmp_path, progress=False)
    assert message in str(err.value)
    _no_training(tmp_path)


def test_unknown_backend_argument(tmp_path):
    with pytest.raises(ConfigError, match="backend='nosuch'"):
        run_benchmark(tiny_config(), out_dir=tmp_path, backend="nosuch", progress=False)
    _no_training(tmp_path)


def test_keep_modalities_drops_the_other_blocks(tmp_path):
    cfg = tiny_config(
        datasets=[{**tiny_config()["datasets"][0], "keep_modalities": ["DWI", "T1WI"]}]
    )
    cfg["models"] = cfg["models"][:1]
    result = run_benchmark(cfg, out_dir=tmp_path, progress=False)
    # the blocks in the order given; the subsets of those blocks only
    assert result.run_info["datasets"]["mm"]["modalities"] == ["DWI", "T1WI"]
    assert list(dict.fromkeys(result.results.subset)) == ["DWI", "T1WI", "DWI+T1WI"]
    assert len(result.results) == 3 * 2


def test_table_without_label_column(tmp_path):
    X = pd.DataFrame(
        np.random.default_rng(0).normal(size=(20, 4)), columns=["A__x", "A__y", "B__x", "B__y"]
    )
    X.index.name = "patient_id"
    X["outcome"] = [0, 1] * 10
    path = tmp_path / "table.csv"
    X.to_csv(path)
    cfg = tiny_config(datasets=[{"name": "t", "kind": "table", "path": str(path)}])
    with pytest.raises(ConfigError, match="no label column 'label'"):
        run_benchmark(cfg, out_dir=tmp_path / "out", progress=False)
    _no_training(tmp_path / "out")
    # naming it works, and the group column must be there when asked for
    cfg["datasets"][0]["label"] = "outcome"
    cfg["datasets"][0]["group"] = "centre"
    with pytest.raises(ConfigError, match="no group column 'centre'"):
        run_benchmark(cfg, out_dir=tmp_path / "out", progress=False)
    _no_training(tmp_path / "out")


def _multicentre(**cv):
    return tiny_config(
        datasets=[
            {
                "name": "mc",
                "kind": "multicentre",
                "params": {"n_centres": 3, "n_per_centre": 40, "modalities": MODS},
                "group": "group",
            }
        ],
        cv=cv,
    )


def test_group_errors(tmp_path):
    one_group = _multicentre(n_splits=2, group_aware=True)
    one_group["datasets"][0]["params"]["n_centres"] = 1
    with pytest.raises(ConfigError, match="at least two groups"):
        run_benchmark(one_group, out_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="test_group 'C9' is not a group"):
        run_benchmark(_multicentre(test_group="C9"), out_dir=tmp_path, progress=False)
    _no_training(tmp_path)


def test_fold_without_a_class(tmp_path):
    X = pd.DataFrame(
        np.random.default_rng(0).normal(size=(30, 4)),
        columns=["A__x", "A__y", "B__x", "B__y"],
        index=pd.Index([f"P{i}" for i in range(30)], name="patient_id"),
    )
    X["label"] = [0] * 10 + [1] * 20
    X["centre"] = ["a"] * 10 + ["b"] * 20  # centre a holds every patient of class 0
    path = tmp_path / "t.csv"
    X.to_csv(path)
    cfg = tiny_config(
        datasets=[{"name": "t", "kind": "table", "path": str(path), "group": "centre"}],
        cv={"test_group": "a"},
    )
    with pytest.raises(ConfigError, match="has no patient of class"):
        run_benchmark(cfg, out_dir=tmp_path / "o", progress=False)
    _no_training(tmp_path / "o")


# -- protocols ----------------------------------------------------------------------------------
def test_independent_test_centre_and_complete_case_training(tmp_path):
    cfg = _multicentre(test_group="C3", n_repeats=2)
    cfg["datasets"][0]["params"]["missing_centres"] = {"C1": 0.5}
    cfg["models"] = [
        {
            "name": "XGB-mixed",
            "class": "XGBClassifier",
            "params": {"n_estimators": 15, "max_depth": 2},
        },
        {
            "name": "XGB-complete",
            "class": "XGBClassifier",
            "train_rows": "complete",
            "params": {"n_estimators": 15, "max_depth": 2},
        },
    ]
    cfg["subsets"] = [["T1WI", "FLAIR", "DWI"]]
    res = run_benchmark(cfg, out_dir=tmp_path, progress=False).results
    assert len(res) == 4 and set(res.repeat) == {0, 1}
    assert (res.n_test == 40).all()  # every patient of C3, and only them
    mixed = res[res.model == "XGB-mixed"].n_train.iloc[0]
    complete = res[res.model == "XGB-complete"].n_train.iloc[0]
    assert mixed == 80 and complete < mixed  # C1's incomplete patients are left out
    splits = json.loads((tmp_path / "splits.json").read_text())["mc"]
    assert all(len(s["test"]) == 40 for s in splits)


# -- the command line and extraction --------------------------------------------------------------
def test_cli_bench_and_report(tmp_path, capsys):
    import yaml

    from radfuse.cli import main

    cfg = tiny_config(subsets=[["T1WI", "FLAIR", "DWI"]])
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    assert main(["bench", str(path), "--out", str(out), "--no-progress"]) == 0
    assert "4 fits" in capsys.readouterr().out
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "summary.md").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tiny_config(subsets=[["XX"]])))
    assert main(["bench", str(bad), "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    assert "configuration error" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_phantom_dataset_is_extracted_once(tmp_path):
    cfg = {
        "name": "ph",
        "threads_per_fit": 1,
        "datasets": [
            {
                "name": "ph",
                "kind": "phantom",
                "params": {"n_patients": 8, "weights": [4, 4], "modalities": ["T1WI", "DWI"]},
                "spec": "mri_original",
            }
        ],
        "preprocessing": PREP,
        "models": [{"name": "LR", "class": "LogisticRegression"}],
        "subsets": [["T1WI", "DWI"]],
        "cv": {"n_splits": 2},
        "comparison": {"n_bootstrap": 50},
    }
    first = run_benchmark(cfg, out_dir=tmp_path, progress=False)
    info = first.run_info["datasets"]["ph"]
    assert info["n_patients"] == 8 and info["extraction_cached"] is False
    assert set(info["features_per_modality"]) == {"T1WI", "DWI"}
    assert info["features_per_modality"]["T1WI"] > 50
    again = run_benchmark(cfg, out_dir=tmp_path, progress=False)
    assert again.run_info["datasets"]["ph"]["extraction_cached"] is True
    assert again.run_info["n_fits_run"] == 0
    assert os.listdir(tmp_path / "cache")
    assert task_path(tmp_path, "ph/LR/T1WI+DWI__r0f0").is_file()


def test_phantom_subset_error_before_extraction(tmp_path):
    cfg = tiny_config(
        datasets=[{"name": "ph", "kind": "phantom", "params": {"n_patients": 8}}],
        subsets=[["T1WI", "PET"]],
    )
    with pytest.raises(ConfigError, match=r"names modality \['PET'\]"):
        run_benchmark(cfg, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "cache").exists()  # nothing generated or extracted


def test_incomplete_rows_per_model(tmp_path):
    """MFN-VAE (no missing-modality mechanism) trains on rows with every block of the subset;
    the imputing baseline on every row with one of them; both are scored on the same patients."""
    cfg = tiny_config(
        datasets=[{**tiny_config()["datasets"][0], "missing": {"rate": 0.3}}],
        subsets=[["T1WI", "DWI"]],
    )
    cfg["models"] = [
        cfg["models"][0],
        {
            "name": "MFN",
            "class": "MFNVAEClassifier",
            "params": {"max_epochs": 2, "encoder_dims": [8], "latent_dim": 4, "device": "cpu"},
        },
    ]
    res = run_benchmark(cfg, out_dir=tmp_path, progress=False).results
    lr, mfn = res[res.model == "LR"], res[res.model == "MFN"]
    assert (mfn.n_train.to_numpy() < lr.n_train.to_numpy()).all()
    assert (mfn.n_test.to_numpy() == lr.n_test.to_numpy()).all()
    assert lr.n_test.sum() < 90  # patients lacking T1WI or DWI are not scored on T1WI+DWI
