"""The plan of a benchmark: modality subsets, their names and the fits that cover them.

The grid is cut into *fits*: one fit is one (dataset, model, fold) for models that serve every
subset from one fitted model (``subset_mode: blank_at_test``), and one (dataset, model, subset,
fold) otherwise. Each fit yields one result row per subset it is evaluated on (so every
(dataset, model, subset, fold) has its row). A fit is keyed by a digest of everything it depends
on, so a changed configuration recomputes only what changed.

This module is the only owner of subset names (``"T1WI+FLAIR"``): :func:`subset_name` joins a
subset, :func:`parse_subset` splits a name.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from radfuse._utils.hashing import json_digest
from radfuse.benchmark.data import BenchData
from radfuse.benchmark.schema import (
    TUNING_DEFAULTS,
    BenchmarkConfig,
    ConfigError,
    DatasetConfig,
)
from radfuse.benchmark.sources import SKSURV_BLOCKS
from radfuse.benchmark.splits import Split
from radfuse.benchmark.tuning_config import check_entry_modalities

__all__ = [
    "Fit",
    "check_before_loading",
    "parse_subset",
    "plan_document",
    "plan_fits",
    "resolve_subsets",
    "result_row",
    "subset_label",
    "subset_name",
]

_SEP = "+"
# length of fit digests (kept: stored fits of earlier runs stay valid)
_DIGEST_LENGTH = 16


def subset_name(subset) -> str:
    """Name of a modality subset in tables and file names (``"T1WI+FLAIR"``)."""
    return _SEP.join(subset)


def parse_subset(name: str) -> tuple[str, ...]:
    """The modalities of a subset name (``"T1WI+FLAIR"`` -> ``("T1WI", "FLAIR")``)."""
    return tuple(name.split(_SEP))


def subset_label(name: str) -> str:
    """A subset name broken after each separator, for narrow plot ticks."""
    return f"{_SEP}\n".join(parse_subset(name))


@dataclass
class Fit:
    """One unit of work: fit a model once, evaluate it on one or more subsets.

    Attributes
    ----------
    key : str
        ``<dataset>/<model>/<subset name or "all">__r<repeat>f<fold>``; names the task file.
    dataset, model : str
    subsets : list of tuple of str
        The subsets the fitted model is scored on.
    fit_subset : tuple of str or None
        The subset it is fitted on (None: every block, ``blank_at_test``).
    split : Split
    digest : str
        Digest of everything the fit depends on; a stored fit with another digest is stale.
    """

    key: str
    dataset: str
    model: str
    subsets: list[tuple[str, ...]]
    fit_subset: tuple[str, ...] | None
    split: Split
    digest: str


def _expected_modalities(dcfg: DatasetConfig) -> list | None:
    """Modalities a dataset will have, when known without loading it."""
    if dcfg.keep_modalities is not None:
        return list(dcfg.keep_modalities)
    if dcfg.kind == "phantom":
        return list(dcfg.params.get("modalities", ("T1WI", "FLAIR", "DWI")))
    if dcfg.kind in ("multimodal", "multicentre"):
        return list(dcfg.params.get("modalities") or ("T1WI", "FLAIR", "DWI"))
    if dcfg.kind == "breast_cancer_views":
        return ["MEAN", "SE", "WORST"]
    if dcfg.kind == "multimodal_survival":
        return list(dcfg.params.get("modalities") or ("T1WI", "FLAIR", "DWI"))
    if dcfg.kind == "sksurv":
        return list(SKSURV_BLOCKS[dcfg.params["name"]])
    return None


def check_before_loading(cfg: BenchmarkConfig) -> None:
    """The checks that need no data: model classes, subsets' modalities, group columns.

    Raises
    ------
    ConfigError
        A model class that cannot be imported, a subset naming a modality that a dataset will
        not have, or group CV on a dataset without a group column.
    """
    # import every model class first: a typo must not wait for an extraction
    for m in cfg.models:
        m.resolve_class()
    for dcfg in cfg.datasets:
        expected = _expected_modalities(dcfg)
        if expected is not None and isinstance(cfg.subsets, list):
            for sub in cfg.subsets:
                unknown = [m for m in sub if m not in expected]
                if unknown:
                    raise ConfigError(
                        f"subsets: {list(sub)} names modality {unknown} that dataset "
                        f"{dcfg.name!r} does not have; its modalities are {list(expected)}."
                    )
        needs_groups = cfg.cv.group_aware or cfg.cv.test_group is not None
        if needs_groups and dcfg.group is None and dcfg.kind != "multicentre":
            raise ConfigError(
                f"dataset {dcfg.name!r}: cv asks for groups (group_aware or test_group) but the "
                "dataset has no group column; set 'group:' on the dataset."
            )


def resolve_subsets(cfg: BenchmarkConfig, data: BenchData) -> list[tuple[str, ...]]:
    """The modality subsets of a dataset, each in the dataset's block order.

    Raises
    ------
    ConfigError
        A configured subset names a modality the dataset does not have.
    """
    mods = data.modalities
    if cfg.subsets == "all":
        return [c for k in range(1, len(mods) + 1) for c in itertools.combinations(mods, k)]
    if cfg.subsets == "single":
        return [(m,) for m in mods] + [tuple(mods)]
    out = []
    for s in cfg.subsets:
        unknown = [m for m in s if m not in mods]
        if unknown:
            raise ConfigError(
                f"subsets: {list(s)} names modality {unknown} that dataset {data.name!r} does not "
                f"have; its modalities are {mods}."
            )
        # keep the dataset's block order so names are canonical
        out.append(tuple(m for m in mods if m in s))
    return list(dict.fromkeys(out))


def plan_fits(
    cfg: BenchmarkConfig,
    data: BenchData,
    splits: list[Split],
    subsets: list[tuple[str, ...]],
    *,
    shuffle_labels: bool = False,
    fingerprint: str = "",
) -> list[Fit]:
    """The fits of one dataset (see the module docstring).

    A tuned model's digests cover its tuning settings (they are part of its config entry), so
    tuned and untuned fits never pass for one another; an untuned entry's digest is unchanged.

    Raises
    ------
    ConfigError
        A tuned model searches an entry ``<param>.<modality>`` of a modality the dataset lacks.
    """
    fits = []
    cfg_dict = cfg.to_dict()
    for m in cfg.models:
        if m.datasets is not None and data.name not in m.datasets:
            continue
        check_entry_modalities(m, data.modalities, data.name)
        mdict = next(d for d in cfg_dict["models"] if d["name"] == m.name)
        for s in splits:
            base = {
                "dataset": next(d for d in cfg_dict["datasets"] if d["name"] == data.name),
                "data": fingerprint,
                "model": mdict,
                "seed": cfg.seed,
                "device": cfg.device,
                "repeat": s.repeat,
                "test": json_digest(s.test.tolist(), _DIGEST_LENGTH),
                "shuffle": shuffle_labels,
            }
            tag = f"r{s.repeat}f{s.fold}"
            if m.subset_mode == "blank_at_test":
                digest = json_digest({**base, "subsets": subsets}, _DIGEST_LENGTH)
                key = f"{data.name}/{m.name}/all__{tag}"
                fits.append(Fit(key, data.name, m.name, list(subsets), None, s, digest))
                continue
            for sub in subsets:
                digest = json_digest({**base, "subsets": [sub]}, _DIGEST_LENGTH)
                key = f"{data.name}/{m.name}/{subset_name(sub)}__{tag}"
                fits.append(Fit(key, data.name, m.name, [sub], sub, s, digest))
    return fits


def plan_document(
    cfg: BenchmarkConfig, fits: list[Fit], dataset_info: dict, *, shuffle_labels: bool
) -> dict:
    """The content of ``plan.json``: what the report needs to read the finished fits.

    ``dataset_info`` maps each dataset name to a dict with ``modalities`` and ``subsets``. With
    tuning, ``tuning`` holds the shared budget and each tuned model its own settings (an untuned
    config's document is unchanged).
    """
    doc = {
        "name": cfg.name,
        "shuffle_labels": shuffle_labels,
        "fits": [{"key": f.key, "digest": f.digest} for f in fits],
        "models": [
            {
                "name": m.name,
                "class": m.cls,
                "subset_mode": m.subset_mode,
                "baseline": m.baseline,
                "train_rows": m.train_rows,
            }
            for m in cfg.models
        ],
        "datasets": {
            k: {
                "modalities": v["modalities"],
                "subsets": v["subsets"],
                "positive_label": cfg.dataset(k).positive_label,
            }
            for k, v in dataset_info.items()
        },
        "comparison": cfg.comparison,
        "seed": cfg.seed,
    }
    if cfg.task == "survival":  # a classification plan stays as it was
        doc["task"] = "survival"
    tuned = {m.name: m.tuning for m in cfg.models if m.tuning is not None}
    if tuned:
        doc["tuning"] = dict(cfg.tuning or TUNING_DEFAULTS)
        for entry in doc["models"]:
            t = tuned.get(entry["name"])
            entry["tuning"] = None if t is None else asdict(t)
    return doc


def result_row(fit: Fit, subset, *, n_train: int, n_test: int, **values) -> dict:
    """One row of ``results.csv``: the fit's identity on ``subset``, then ``values`` (metrics)."""
    return {
        "dataset": fit.dataset,
        "model": fit.model,
        "subset": subset_name(subset),
        "n_modalities": len(subset),
        "repeat": fit.split.repeat,
        "fold": fit.split.fold,
        "n_train": n_train,
        "n_test": n_test,
        **values,
    }
