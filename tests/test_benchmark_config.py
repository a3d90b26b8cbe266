"""Benchmark configuration: shipped configs, parsing, defaults declared by the estimators."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from sklearn.linear_model import LogisticRegression

from radfuse.benchmark import ConfigError, load_config
from radfuse.benchmark.loading import find_config
from radfuse.benchmark.parsing import parse_config


def minimal(**over) -> dict:
    cfg = {
        "name": "mini",
        "datasets": [{"name": "bc", "kind": "breast_cancer_views"}],
        "models": [{"name": "LR", "class": "LogisticRegression"}],
    }
    cfg.update(over)
    return cfg


SHIPPED = sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.yaml")
)


def test_the_papers_configs_are_shipped():
    assert {"default", "breast_cancer_views", "gmenet_protocol"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_validate(name):
    if name == "survival":
        pytest.importorskip("sksurv", reason="the survival config needs the 'survival' extra")
    cfg = load_config(name)
    assert cfg.name == name and cfg.models and cfg.datasets
    assert find_config(name).name == f"{name}.yaml"


def test_default_config_is_the_paper_design():
    cfg = load_config(None)
    d = cfg.datasets[0]
    assert d.kind == "phantom" and d.spec == "mri_all_filters"
    assert d.params["n_patients"] == 279 and list(d.params["weights"]) == [100, 179]
    assert list(d.params["modalities"]) == ["T1WI", "FLAIR", "DWI"]
    assert cfg.subsets == "all" and cfg.cv.n_splits == 5
    modes = {m.name: m.subset_mode for m in cfg.models}
    assert modes["MMT"] == "input_modalities" and modes["GMENet"] == "blank_at_test"
    assert {m.class_name for m in cfg.models} >= {
        "MMTClassifier",
        "MFNVAEClassifier",
        "GMENetClassifier",
        "XGBClassifier",
        "LogisticRegression",
    }


def test_unknown_shipped_config_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="not a shipped config") as err:
        find_config("nosuch")
    assert "'default'" in str(err.value) and "'gmenet_protocol'" in str(err.value)


def test_keep_modalities():
    cfg = parse_config(
        minimal(datasets=[{"name": "bc", "kind": "breast_cancer_views", "keep_modalities": ["SE"]}])
    )
    assert cfg.datasets[0].keep_modalities == ["SE"]
    assert cfg.to_dict()["datasets"][0]["keep_modalities"] == ["SE"]
    assert parse_config(minimal()).datasets[0].keep_modalities is None
    with pytest.raises(ConfigError, match=r"keep_modalities: expected a list of modality names"):
        parse_config(
            minimal(datasets=[{"name": "bc", "kind": "breast_cancer_views", "keep_modalities": 3}])
        )
    # the old key is gone (the generators' own `params.modalities` is another thing)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['modalities'\]"):
        parse_config(
            minimal(datasets=[{"name": "bc", "kind": "breast_cancer_views", "modalities": ["SE"]}])
        )


class AnySubsetClassifier(LogisticRegression):
    """A class declaring its benchmark defaults."""

    _benchmark_defaults: ClassVar[dict] = {"subset_mode": "blank_at_test", "train_rows": "complete"}


def test_estimators_declare_their_defaults():
    models = [
        {"name": "MMT", "class": "MMTClassifier"},
        {"name": "GMENet", "class": "GMENetClassifier"},
        {"name": "MFN", "class": "MFNVAEClassifier"},
        {"name": "LR", "class": "LogisticRegression"},
        {"name": "any", "class": AnySubsetClassifier},
        {"name": "given", "class": AnySubsetClassifier, "subset_mode": "columns"},
    ]
    cfg = parse_config(minimal(models=models))
    got = {m.name: (m.subset_mode, m.train_rows) for m in cfg.models}
    assert got == {
        "MMT": ("input_modalities", "all"),
        "GMENet": ("blank_at_test", "all"),
        "MFN": ("columns", "subset"),
        "LR": ("columns", "all"),
        "any": ("blank_at_test", "complete"),
        "given": ("columns", "complete"),
    }
    assert [m.baseline for m in cfg.models] == [False, False, False, True, True, True]


@pytest.mark.parametrize("backend", ["nosuch", "tcpx://host:1"])
def test_unknown_backend(backend):
    with pytest.raises(ConfigError, match=r"config.backend=.*expected one of 'loky'"):
        parse_config(minimal(backend=backend))
    assert parse_config(minimal(backend="threading")).backend == "threading"
