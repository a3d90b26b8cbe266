"""Benchmark configuration parsing: a mapping validated into :class:`BenchmarkConfig`.

Everything that can be checked without training is checked here (unknown keys, unknown dataset
kinds, models that cannot be imported, bad subset modes, unknown backends); the checks that need
the data (modality names, label column, groups, class presence in every fold) run before the first
fit (:mod:`radfuse.benchmark.runner`, :mod:`radfuse.benchmark.splits`).
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Mapping

from radfuse._utils.parallel import check_backend
from radfuse.benchmark.schema import (
    DATASET_KINDS,
    SUBSET_MODES,
    TRAIN_ROWS,
    BenchmarkConfig,
    ConfigError,
    CVConfig,
    DatasetConfig,
    ModelConfig,
    import_object,
)
from radfuse.benchmark.survival_config import check_survival_dataset, survival_model_entry
from radfuse.benchmark.tuning_config import parse_model_tuning, parse_tuning_defaults

__all__ = ["parse_config"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _keys(where: str, mapping: Mapping, allowed: set[str], required: set[str] = frozenset()):
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping (key: value), got {type(mapping).__name__}."
        )
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(allowed)}.")
    missing = sorted(required - set(mapping))
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}.")


def _name(where: str, value) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConfigError(
            f"{where}: name {value!r} must be a non-empty string of letters, digits, '_', '-' or "
            "'.' (it names files in the output folder)."
        )
    return value


def _int(where: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}.")
    return value


_TOP_KEYS = {
    "name",
    "description",
    "seed",
    "n_jobs",
    "backend",
    "device",
    "datasets",
    "models",
    "subsets",
    "cv",
    "preprocessing",
    "comparison",
    "cache_dir",
    "threads_per_fit",
    "tuning",
    "task",
}
_DATASET_KEYS = {
    "name",
    "kind",
    "params",
    "path",
    "label",
    "group",
    "spec",
    "keep_modalities",
    "missing",
    "extract_n_jobs",
    "positive_label",
    "task",
    "time",
    "event",
}
_MODEL_KEYS = {
    "name",
    "class",
    "params",
    "subset_mode",
    "preprocessing",
    "train_rows",
    "baseline",
    "datasets",
    "tuning",
}
_CV_KEYS = {"n_splits", "n_repeats", "group_aware", "test_group"}
_COMPARISON_KEYS = {"baseline", "n_bootstrap", "alpha"}


def _parse_preprocessing(where: str, value, default):
    if value is None or value is False or value == "none":
        return None
    if value is True or value == "default":
        return {}
    if isinstance(value, Mapping):
        out = dict(value)
        if "factory" in out:
            import_object(f"{where}.factory", out["factory"])
        return out
    if value == "inherit":
        return copy.deepcopy(default)
    raise ConfigError(
        f"{where}: expected a mapping of make_radiomics_pipeline arguments (optionally with "
        f"'factory: package.module.function'), 'default', or none; got {value!r}."
    )


def _parse_dataset(i: int, raw, default_task: str) -> DatasetConfig:
    where = f"datasets[{i}]"
    _keys(where, raw, _DATASET_KEYS, {"name", "kind"})
    name = _name(f"{where}.name", raw["name"])
    where = f"dataset {name!r}"
    kind = raw["kind"]
    if kind not in DATASET_KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}; expected one of {list(DATASET_KINDS)}.")
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.params: expected a mapping, got {params!r}.")
    task = raw.get("task", default_task)
    check_survival_dataset(where, raw, task, params)
    path = raw.get("path")
    if kind in ("manifest", "table") and not path:
        raise ConfigError(f"{where}: kind {kind!r} needs 'path' (the {kind} file).")
    keep = raw.get("keep_modalities")
    if keep is not None and (
        not isinstance(keep, (list, tuple)) or not all(isinstance(m, str) for m in keep)
    ):
        raise ConfigError(
            f"{where}.keep_modalities: expected a list of modality names, got {keep!r}."
        )
    missing = raw.get("missing")
    if missing is not None and not isinstance(missing, Mapping):
        raise ConfigError(
            f"{where}.missing: expected a mapping such as {{rate: 0.3}}, got {missing!r}."
        )
    extract_n_jobs = raw.get("extract_n_jobs")
    if extract_n_jobs is not None:
        _int(f"{where}.extract_n_jobs", extract_n_jobs, 1)
    return DatasetConfig(
        name=name,
        kind=kind,
        params=dict(params),
        path=None if path is None else str(path),
        label=str(raw.get("label", "label")),
        group=raw.get("group"),
        spec=str(raw.get("spec", "mri_all_filters")),
        keep_modalities=None if keep is None else list(keep),
        missing=None if missing is None else dict(missing),
        extract_n_jobs=extract_n_jobs,
        positive_label=raw.get("positive_label"),
        task=task,
        time=str(raw.get("time", "time")),
        event=str(raw.get("event", "event")),
    )


def _parse_model(i: int, raw, default_prep, dataset_names, tuning, task) -> ModelConfig:
    where = f"models[{i}]"
    _keys(where, raw, _MODEL_KEYS, {"name", "class"})
    name = _name(f"{where}.name", raw["name"])
    where = f"model {name!r}"
    cls_path = raw["class"]
    cls = import_object(where, cls_path)
    if not inspect.isclass(cls) or not hasattr(cls, "fit"):
        raise ConfigError(f"{where}: {cls_path!r} is not an estimator class (no fit method).")
    if task == "classification" and not hasattr(cls, "predict_proba"):
        raise ConfigError(
            f"{where}: {cls_path!r} has no predict_proba; the benchmark needs class probabilities "
            "for ROC AUC."
        )
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.params: expected a mapping, got {params!r}.")
    try:
        accepted = set(cls().get_params(deep=False))
    except Exception:  # an estimator with required arguments: trust inspect
        accepted = set(inspect.signature(cls).parameters)
    bad = sorted(set(params) - accepted)
    if bad:
        raise ConfigError(
            f"{where}: {cls.__name__} has no parameter(s) {bad}; it accepts {sorted(accepted)}."
        )
    # an estimator declares how the benchmark meets it; anything else gets the plain defaults
    defaults = getattr(cls, "_benchmark_defaults", {})
    mode = raw.get("subset_mode", defaults.get("subset_mode", "columns"))
    if mode not in SUBSET_MODES:
        raise ConfigError(f"{where}.subset_mode: {mode!r} is not one of {list(SUBSET_MODES)}.")
    if mode == "input_modalities":
        if "input_modalities" not in accepted:
            raise ConfigError(
                f"{where}: subset_mode 'input_modalities' needs an estimator with an "
                f"'input_modalities' parameter; {cls.__name__} has none (use 'columns' or "
                "'blank_at_test')."
            )
        if params.get("input_modalities") is not None:
            raise ConfigError(
                f"{where}: subset_mode 'input_modalities' sets input_modalities per subset; remove "
                "it from params (or use subset_mode 'blank_at_test' for an any-subset model)."
            )
    train_rows = raw.get("train_rows", defaults.get("train_rows", "all"))
    if train_rows not in TRAIN_ROWS:
        raise ConfigError(
            f"{where}.train_rows: expected one of {list(TRAIN_ROWS)}, got {train_rows!r}."
        )
    datasets = raw.get("datasets")
    if datasets is not None:
        unknown = sorted(set(datasets) - set(dataset_names))
        if unknown:
            raise ConfigError(
                f"{where}.datasets: unknown dataset(s) {unknown}; the config defines "
                f"{sorted(dataset_names)}."
            )
    baseline = raw.get("baseline")
    if baseline is None:
        baseline = defaults.get("baseline", not cls.__module__.startswith("radfuse"))
    prep = _parse_preprocessing(
        f"{where}.preprocessing", raw.get("preprocessing", "inherit"), default_prep
    )
    params = dict(params)
    if task == "survival":
        params, prep = survival_model_entry(where, cls, params, prep, raw.get("tuning") is not None)
    mcfg = ModelConfig(
        name=name,
        cls=cls_path if isinstance(cls_path, str) else f"{cls.__module__}.{cls.__qualname__}",
        params=params,
        subset_mode=mode,
        preprocessing=prep,
        train_rows=train_rows,
        baseline=bool(baseline),
        datasets=None if datasets is None else list(datasets),
    )
    mcfg.tuning = parse_model_tuning(i, raw.get("tuning"), tuning, cls, accepted, mcfg)
    return mcfg


def _parse_subsets(raw):
    if raw is None or raw == "all":
        return "all"
    if raw in ("single", "singles"):
        return "single"
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ConfigError(
            f"subsets: expected 'all' or a non-empty list of modality lists, got {raw!r}."
        )
    out = []
    for k, s in enumerate(raw):
        if isinstance(s, str):
            s = [s]
        if not isinstance(s, (list, tuple)) or not s or not all(isinstance(m, str) for m in s):
            raise ConfigError(
                f"subsets[{k}]: expected a non-empty list of modality names, got {s!r}."
            )
        if len(set(s)) != len(s):
            raise ConfigError(f"subsets[{k}]: {list(s)} names a modality twice.")
        out.append(list(s))
    return out


def parse_config(raw: Mapping, *, source: str | None = None) -> BenchmarkConfig:
    """Validate a configuration mapping and return a :class:`BenchmarkConfig`.

    Raises
    ------
    ConfigError
        Naming the entry and key at fault and what is expected.
    """
    _keys("config", raw, _TOP_KEYS, {"datasets", "models"})
    name = _name("config.name", raw.get("name", "benchmark"))
    seed = _int("config.seed", raw.get("seed", 0), 0)
    n_jobs = raw.get("n_jobs", 1)
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0
    ):
        raise ConfigError(
            f"config.n_jobs: expected a non-zero integer (-1 = all cores), got {n_jobs!r}."
        )
    datasets_raw = raw["datasets"]
    if not isinstance(datasets_raw, (list, tuple)) or not datasets_raw:
        raise ConfigError("config.datasets: expected a non-empty list of dataset entries.")
    datasets = [
        _parse_dataset(i, d, raw.get("task", "classification")) for i, d in enumerate(datasets_raw)
    ]
    tasks = sorted({d.task for d in datasets})
    if len(tasks) > 1:
        raise ConfigError(
            f"config.datasets: one config holds one task, got {tasks} "
            f"({ {d.name: d.task for d in datasets} }); split it into two configs."
        )
    dnames = [d.name for d in datasets]
    if len(set(dnames)) != len(dnames):
        raise ConfigError(f"config.datasets: dataset names must be unique, got {dnames}.")
    default_prep = _parse_preprocessing("config.preprocessing", raw.get("preprocessing", {}), {})
    models_raw = raw["models"]
    if not isinstance(models_raw, (list, tuple)) or not models_raw:
        raise ConfigError("config.models: expected a non-empty list of model entries.")
    tuning = parse_tuning_defaults(raw.get("tuning"))
    models = [
        _parse_model(i, m, default_prep, dnames, tuning, tasks[0]) for i, m in enumerate(models_raw)
    ]
    mnames = [m.name for m in models]
    if len(set(mnames)) != len(mnames):
        raise ConfigError(f"config.models: model names must be unique, got {mnames}.")
    cv_raw = raw.get("cv") or {}
    _keys("config.cv", cv_raw, _CV_KEYS)
    cv = CVConfig(
        n_splits=_int("config.cv.n_splits", cv_raw.get("n_splits", 5), 2),
        n_repeats=_int("config.cv.n_repeats", cv_raw.get("n_repeats", 1), 1),
        group_aware=bool(cv_raw.get("group_aware", False)),
        test_group=cv_raw.get("test_group"),
    )
    comparison = dict(raw.get("comparison") or {})
    _keys("config.comparison", comparison, _COMPARISON_KEYS)
    comparison.setdefault("baseline", "auto")
    comparison.setdefault("n_bootstrap", 2000)
    comparison.setdefault("alpha", 0.05)
    if comparison["baseline"] != "auto" and comparison["baseline"] not in mnames:
        raise ConfigError(
            f"config.comparison.baseline: {comparison['baseline']!r} is not a model name "
            f"({mnames}) nor 'auto' (the best model marked baseline)."
        )
    backend = raw.get("backend")
    if backend is not None and not isinstance(backend, str):
        raise ConfigError(f"config.backend: expected a string, got {backend!r}.")
    try:
        check_backend(backend, "config.backend")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return BenchmarkConfig(
        name=name,
        datasets=datasets,
        models=models,
        subsets=_parse_subsets(raw.get("subsets", "all")),
        cv=cv,
        seed=seed,
        n_jobs=n_jobs if n_jobs is not None else 1,
        backend=backend,
        device=raw.get("device"),
        comparison=comparison,
        cache_dir=raw.get("cache_dir"),
        threads_per_fit=None
        if raw.get("threads_per_fit") is None
        else _int("config.threads_per_fit", raw["threads_per_fit"], 1),
        source=source,
        tuning=None if tuning is None else {k: v for k, v in tuning.items() if k != "enabled"},
    )
