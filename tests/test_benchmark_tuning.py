"""Nested tuning in the benchmark: config checks, task records, report files, unchanged digests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from radfuse.benchmark import ConfigError, load_config, run_benchmark
from radfuse.benchmark.fit import _columns_of, choose_train_rows, make_estimator
from radfuse.benchmark.parsing import parse_config
from radfuse.benchmark.runner import prepare
from radfuse.modality import ModalityLayout
from radfuse.tuning import PopulationSearchCV

ROOT = Path(__file__).resolve().parents[1]
C_SPACE = {"C": {"low": 1.0e-3, "high": 10.0, "log": True}}
MMT_SPACE = {
    "clf_weight": {"low": 0.1, "high": 1.0},
    "recon_weight.MEAN": {"low": 0.1, "high": 1.0},
    "recon_weight.SE": {"low": 0.1, "high": 1.0},
    "recon_weight.WORST": {"low": 0.1, "high": 1.0},
}


def _config(tuned: bool = True) -> dict:
    cfg = {
        "name": "tuned_test",
        "n_jobs": 1,
        "backend": "sequential",
        "threads_per_fit": 1,
        "datasets": [{"name": "bc", "kind": "breast_cancer_views"}],
        "preprocessing": {"k": 3},
        "models": [
            {"name": "LR", "class": "LogisticRegression", "params": {"max_iter": 1000}},
            {
                "name": "MMT",
                "class": "MMTClassifier",
                "subset_mode": "input_modalities",
                "params": {"max_epochs": 2, "batch_size": 64},
            },
        ],
        "subsets": [["MEAN"], ["MEAN", "SE", "WORST"]],
        "cv": {"n_splits": 2},
        "comparison": {"n_bootstrap": 50},
    }
    if tuned:
        cfg["tuning"] = {"n_trials": 3, "inner_folds": 2}
        cfg["models"][0]["tuning"] = {"search_space": C_SPACE}
        cfg["models"][1]["tuning"] = {"search_space": MMT_SPACE}
    return cfg


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    with pytest.warns(UserWarning, match="importances"):  # full-fusion MMT: scores do not vary
        run_benchmark(_config(), out_dir=out, progress=False)
    return out


def _task(out: Path, key: str) -> dict:
    return json.loads((out / "tasks" / f"{key}.json").read_text())


def test_task_files_hold_the_search(tuned_run):
    for key in ("bc/LR/MEAN__r0f0", "bc/LR/MEAN+SE+WORST__r0f1", "bc/MMT/MEAN__r0f0"):
        tun = _task(tuned_run, key)["tuning"]
        assert tun["n_trials"] == 3 and tun["inner_folds"] == 2 and tun["scoring"] == "roc_auc"
        assert set(tun["params"]) == set(tun["search_space"]) == set(tun["importances"])
        assert 0.5 < tun["best_inner_score"] <= 1.0
        assert tun["best_inner_score"] == max(tun["trial_scores"])
    # MMT reading MEAN reconstructs SE and WORST: only their weights are searched
    mmt = _task(tuned_run, "bc/MMT/MEAN__r0f0")["tuning"]
    assert mmt["search_space"] == ["clf_weight", "recon_weight.SE", "recon_weight.WORST"]
    full = _task(tuned_run, "bc/MMT/MEAN+SE+WORST__r0f0")["tuning"]
    assert full["search_space"] == ["clf_weight"]


def test_report_files_name_the_searched_parameters(tuned_run):
    tuning_md = (tuned_run / "tuning.md").read_text()
    assert "3 trials x 2 stratified inner folds" in tuning_md
    assert "Optimism" in tuning_md and "| C |" in tuning_md and "recon_weight.SE" in tuning_md
    imp_md = (tuned_run / "param_importance.md").read_text()
    for name in ("C", "clf_weight", "recon_weight.SE", "recon_weight.WORST"):
        assert f" {name} |" in imp_md
    assert (tuned_run / "param_importance.png").stat().st_size > 0
    plan = json.loads((tuned_run / "plan.json").read_text())
    assert plan["tuning"]["n_trials"] == 3
    assert plan["models"][0]["tuning"]["search_space"] == C_SPACE


def test_chosen_c_is_a_standalone_search_on_the_outer_training_rows(tuned_run):
    cfg = parse_config(_config())
    datasets, fits, _ = prepare(
        cfg, tuned_run / "cache", n_jobs=1, shuffle_labels=False, progress=False
    )
    data = datasets["bc"]
    layout = ModalityLayout.from_feature_names(list(data.X.columns), require_blocks=True)
    present = layout.presence_mask(data.X.to_numpy())
    lr = cfg.models[0]
    chosen = []
    for fit in (f for f in fits if f.model == "LR"):
        tr = choose_train_rows(fit, lr, layout, present)
        seed = cfg.seed + fit.split.repeat
        est = make_estimator(fit, lr, layout, seed=cfg.seed, device=None, threads=1)
        search = PopulationSearchCV(
            est,
            {"estimator__C": C_SPACE["C"]},
            n_trials=3,
            cv=StratifiedKFold(2, shuffle=True, random_state=seed),
            scoring="roc_auc",
            random_state=seed,
            n_jobs=1,
        )
        X = data.X.iloc[tr, _columns_of(layout, fit.fit_subset)].astype(float)
        search.fit(X, data.y[tr])
        stored = _task(tuned_run, fit.key)["tuning"]
        assert stored["params"]["C"] == search.best_params_["estimator__C"]
        assert stored["best_inner_score"] == search.best_score_
        chosen.append(stored["params"]["C"])
    assert len(chosen) == 4 and all(1.0e-3 <= c <= 10.0 for c in chosen)


def test_untuned_plan_is_unchanged_and_tuned_digests_differ(tmp_path):
    plain = parse_config(_config(tuned=False))
    mixed_raw = _config(tuned=False)
    mixed_raw["tuning"] = {"n_trials": 3, "inner_folds": 2}
    mixed_raw["models"][0]["tuning"] = {"search_space": C_SPACE}
    mixed_raw["models"][1]["tuning"] = {"enabled": False}
    mixed = parse_config(mixed_raw)
    assert "tuning" not in plain.to_dict()
    assert all("tuning" not in m for m in plain.to_dict()["models"])

    def plan(cfg):
        _, fits, _ = prepare(cfg, tmp_path, n_jobs=1, shuffle_labels=False, progress=False)
        return {f.key: f.digest for f in fits}

    before, after = plan(plain), plan(mixed)
    assert list(before) == list(after)
    for key, digest in before.items():
        # the untuned MMT keeps its digests; the tuned LR's change (never mixed with untuned)
        assert (after[key] == digest) == key.startswith("bc/MMT/")


def test_tuned_yaml_parses():
    cfg = load_config(ROOT / "benchmarks" / "tuned.yaml")
    budgets = {(m.tuning.n_trials, m.tuning.inner_folds) for m in cfg.models}
    assert budgets == {(20, 3)}
    mmt = next(m for m in cfg.models if m.name == "MMT")
    assert {"clf_weight", "recon_weight.T1WI", "lr"} <= set(mmt.tuning.search_space)


def _bad(change) -> dict:
    cfg = _config()
    change(cfg)
    return cfg


def _set(path: str, value):
    def change(cfg):
        *head, last = path.split(".")
        node = cfg
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("tuning.n_trial", 3), r"config.tuning: unknown key\(s\) \['n_trial'\]"),
        (_set("tuning.search_space", C_SPACE), "a search space is per model"),
        (_set("tuning.n_trials", 0), r"config.tuning.n_trials: expected an integer >= 1"),
        (_set("tuning.inner_folds", 1), r"config.tuning.inner_folds: expected an integer >= 2"),
        (_set("tuning.sampler", "grid"), "config.tuning.sampler"),
        (_set("tuning.scoring", "auc"), "not a scikit-learn scorer"),
        (_set("models.0.tuning.inner_folds", 1), r"models\[0\].tuning.inner_folds"),
        (_set("models.0.tuning.trials", 3), r"models\[0\].tuning \(model 'LR'\): unknown key"),
        (_set("models.0.tuning", {}), "has no search_space"),
        (
            _set("models.0.tuning.search_space", {"C": {"low": 10.0, "high": 1.0}}),
            r"models\[0\].tuning.search_space.C: .*greater than",
        ),
        (
            _set("models.0.tuning.search_space", {"C": {"low": "1e-4", "high": 1.0}}),
            r"models\[0\].tuning.search_space.C: .*write 1.0e-4",
        ),
        (
            _set("models.1.tuning.search_space", {"lr": {"low": 1.0, "hi": 2.0}}),
            r"models\[1\].tuning.search_space.lr: .*unknown key",
        ),
        (
            _set("models.0.tuning.search_space", {"lr": {"low": 0.1, "high": 1.0}}),
            "LogisticRegression has no parameter 'lr'",
        ),
        (
            _set("models.0.tuning.search_space", {"C.MEAN": {"low": 0.1, "high": 1.0}}),
            "does not take a mapping",
        ),
        (
            _set("models.0.tuning.search_space", {"random_state": [0, 1]}),
            "cannot be searched",
        ),
        (
            _set("models.0.tuning.search_space", {"pipeline.select__kk": [2, 3]}),
            "pipeline has no parameter 'select__kk'",
        ),
        (_set("models.0.tuning.search_space", {}), "non-empty mapping"),
    ],
)
def test_bad_tuning_raises_before_any_fit(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        run_benchmark(_bad(change), out_dir=tmp_path, progress=False)
    assert not (tmp_path / "tasks").exists()


def test_unknown_entry_modality_raises_before_any_fit(tmp_path):
    cfg = _config()
    cfg["models"][1]["tuning"]["search_space"] = {"recon_weight.PET": {"low": 0.1, "high": 1.0}}
    with pytest.raises(ConfigError, match=r"dataset 'bc' has no modality 'PET'"):
        run_benchmark(cfg, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "tasks").exists()


def test_model_budget_override_is_reported(tmp_path):
    cfg = copy.deepcopy(_config())
    cfg["models"] = cfg["models"][:1]
    cfg["models"][0]["tuning"]["n_trials"] = 2
    cfg["subsets"] = [["MEAN"]]
    run_benchmark(cfg, out_dir=tmp_path, progress=False)
    text = (tmp_path / "tuning.md").read_text()
    assert "LR: **budget overridden** in its config: 2 trials x 2 inner folds" in text
    assert np.isfinite(_task(tmp_path, "bc/LR/MEAN__r0f0")["tuning"]["best_inner_score"])
