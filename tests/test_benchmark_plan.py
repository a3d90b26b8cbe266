"""The benchmark plan (subset names, fits and their keys), splits and the backends' shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radfuse._utils.hashing import json_digest
from radfuse.benchmark import ConfigError
from radfuse.benchmark.backends import checked_backend, schedule, threads_per_fit
from radfuse.benchmark.data import BenchData
from radfuse.benchmark.parsing import parse_config
from radfuse.benchmark.plan import (
    parse_subset,
    plan_fits,
    resolve_subsets,
    subset_label,
    subset_name,
)
from radfuse.benchmark.splits import make_splits


def test_subset_names_round_trip():
    assert subset_name(("T1WI", "FLAIR")) == "T1WI+FLAIR"
    assert subset_name(["DWI"]) == "DWI"
    assert parse_subset("T1WI+FLAIR+DWI") == ("T1WI", "FLAIR", "DWI")
    assert parse_subset(subset_name(("A", "B"))) == ("A", "B")
    assert subset_label("T1WI+FLAIR") == "T1WI+\nFLAIR"


def _data(n=20) -> BenchData:
    rng = np.random.default_rng(0)
    cols = [f"{m}__f{i}" for m in ("A", "B", "C") for i in range(2)]
    X = pd.DataFrame(
        rng.normal(size=(n, 6)),
        columns=cols,
        index=pd.Index([f"P{i}" for i in range(n)], name="patient_id"),
    )
    return BenchData("d", X, np.array([0, 1] * (n // 2)), None, ["A", "B", "C"])


def _config(**over):
    cfg = {
        "name": "p",
        "datasets": [{"name": "d", "kind": "table", "path": "unused.csv"}],
        "models": [
            {"name": "LR", "class": "LogisticRegression"},
            {"name": "GME", "class": "GMENetClassifier"},
        ],
        "cv": {"n_splits": 2},
    }
    cfg.update(over)
    return parse_config(cfg)


def test_plan_fits_keys_and_digests():
    cfg, data = _config(), _data()
    subsets = resolve_subsets(cfg, data)
    assert [subset_name(s) for s in subsets] == ["A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"]
    splits = make_splits(data, cfg)
    fits = plan_fits(cfg, data, splits, subsets, fingerprint="f" * 16)
    # LR: one fit per subset and fold; GMENet (blank_at_test): one per fold
    assert len(fits) == 7 * 2 + 2
    keys = [f.key for f in fits]
    assert keys[0] == "d/LR/A__r0f0" and "d/LR/A+B+C__r0f1" in keys
    assert keys[-2:] == ["d/GME/all__r0f0", "d/GME/all__r0f1"]
    assert all(len(f.digest) == 16 and int(f.digest, 16) >= 0 for f in fits)
    assert len({f.digest for f in fits}) == len(fits)
    # the digest is the canonical-JSON SHA-256 of what the fit depends on
    d = cfg.to_dict()
    base = {
        "dataset": d["datasets"][0],
        "data": "f" * 16,
        "model": d["models"][0],
        "seed": 0,
        "device": None,
        "repeat": 0,
        "test": json_digest(splits[0].test.tolist(), 16),
        "shuffle": False,
    }
    assert fits[0].digest == json_digest({**base, "subsets": [("A",)]}, 16)
    # subsets given in another order take the dataset's block order
    cfg = _config(subsets=[["C", "A"], ["A", "C"], ["B"]])
    assert resolve_subsets(cfg, data) == [("A", "C"), ("B",)]
    with pytest.raises(ConfigError, match=r"names modality \['X'\]"):
        resolve_subsets(_config(subsets=[["X"]]), data)


def test_schedule_and_threads(monkeypatch):
    cfg, data = _config(), _data()
    fits = plan_fits(cfg, data, make_splits(data, cfg), resolve_subsets(cfg, data))
    ordered = schedule(fits, {m.name: m for m in cfg.models})
    # the networks' fits (each scored on 7 subsets) come first, then the baseline's, stably
    assert [f.model for f in ordered[:2]] == ["GME", "GME"]
    assert [f.key for f in ordered[2:]] == [f.key for f in fits if f.model == "LR"]
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert threads_per_fit(2, None, 10) == 4
    assert threads_per_fit(4, "loky", 1) == 8
    assert threads_per_fit(2, "sequential", 10) == 1
    assert threads_per_fit(2, "dask", 10) == 1
    assert threads_per_fit(2, None, 10, configured=3) == 3


def test_checked_backend():
    assert checked_backend(None) is None and checked_backend("threading") == "threading"
    with pytest.raises(ConfigError, match="'nosuch'"):
        checked_backend("nosuch")
