"""Benchmark configuration: a YAML file or a dict, validated into dataclasses with clear messages.

A configuration names datasets, models, modality subsets and the cross-validation protocol::

    name: default
    seed: 0                        # splits: seed + repeat; models and SMOTE: seed + repeat
    n_jobs: 2                      # parallel fits (-1: every core)
    backend: null                  # loky | threading | sequential | dask | tcp://scheduler:8786
    threads_per_fit: null          # torch / BLAS threads per fit (default: cores / n_jobs)
    device: null                   # passed to models with a `device` parameter
    cache_dir: null                # phantom cohorts and extracted features
    datasets:
      - name: phantom
        kind: phantom              # phantom | manifest | table | breast_cancer_views |
        params: {n_patients: 279}  # multimodal | multicentre
        spec: mri_all_filters      # extraction spec (phantom, manifest)
        label: label               # label column (manifest, table)
        group: null                # centre column (group-aware CV, test_group)
        missing: null              # e.g. {rate: 0.3}: blank blocks at random
    preprocessing: {k: 10}         # make_radiomics_pipeline arguments for every model
    models:
      - name: LR
        class: LogisticRegression  # a known short name or a dotted path "package.module.Class"
        params: {max_iter: 2000}
        subset_mode: columns       # columns | input_modalities | blank_at_test
        train_rows: all            # all | subset | complete
        preprocessing: inherit     # or a mapping, or none for the bare estimator
    subsets: all                   # or a list such as [[T1WI], [T1WI, FLAIR]]
    cv: {n_splits: 5, n_repeats: 1, group_aware: false, test_group: null}
    comparison: {baseline: auto, n_bootstrap: 2000, alpha: 0.05}

Everything that can be checked without training is checked here (unknown keys, unknown dataset
kinds, models that cannot be imported, bad subset modes); the checks that need the data (modality
names, label column, groups, class presence in every fold) run in :mod:`radfuse.benchmark.runner`
before the first fit.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "DATASET_KINDS",
    "MODEL_ALIASES",
    "SUBSET_MODES",
    "TRAIN_ROWS",
    "BenchmarkConfig",
    "CVConfig",
    "ConfigError",
    "DatasetConfig",
    "ModelConfig",
    "default_config_path",
    "find_config",
    "load_config",
]


class ConfigError(ValueError):
    """A benchmark configuration is invalid; the message says where and what to write instead."""


#: Short class names accepted in ``class:`` (anything else must be a dotted import path).
MODEL_ALIASES = {
    "LogisticRegression": "sklearn.linear_model.LogisticRegression",
    "RandomForestClassifier": "sklearn.ensemble.RandomForestClassifier",
    "SVC": "sklearn.svm.SVC",
    "XGBClassifier": "xgboost.XGBClassifier",
    "MMTClassifier": "radfuse.MMTClassifier",
    "MFNVAEClassifier": "radfuse.MFNVAEClassifier",
    "GMENetClassifier": "radfuse.GMENetClassifier",
}

#: How a model meets a modality subset S.
#:
#: ``columns``           fitted and tested on S's columns only (one fit per subset);
#: ``input_modalities``  fitted on every column with ``input_modalities=S`` (the other blocks are
#:                       training-time targets, e.g. MMT's reconstruction), tested with only S;
#: ``blank_at_test``     fitted once per fold on every column, tested with the blocks outside S
#:                       blanked (NaN); one fit serves every subset.
SUBSET_MODES = ("columns", "input_modalities", "blank_at_test")

# Default subset mode per class name; any other class uses "columns".
_DEFAULT_SUBSET_MODE = {
    "MMTClassifier": "input_modalities",
    "GMENetClassifier": "blank_at_test",
}

#: Which training rows a model is fitted on: ``all`` (every row with at least one block of the
#: fitted subset), ``subset`` (rows with every block of the fitted subset: for networks without a
#: missing-modality mechanism), ``complete`` (rows with every modality of the dataset: the
#: complete-case protocol).
TRAIN_ROWS = ("all", "subset", "complete")

# MFN-VAE has no missing-modality mechanism: it needs every block it reads.
_DEFAULT_TRAIN_ROWS = {"MFNVAEClassifier": "subset"}

DATASET_KINDS = (
    "phantom",
    "manifest",
    "table",
    "breast_cancer_views",
    "multimodal",
    "multicentre",
)

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


@dataclass
class DatasetConfig:
    """One dataset of the benchmark.

    Attributes
    ----------
    name : str
        Name used in tables and file names.
    kind : str
        One of :data:`DATASET_KINDS`.
    params : dict
        Keyword arguments of the generator (``phantom``, ``multimodal``, ``multicentre``).
    path : str or None
        Manifest (``manifest``) or feature table (``table``: CSV or Parquet).
    label : str
        Label column (``table``, ``manifest``, ``phantom``).
    group : str or None
        Group (centre) column, needed for group-aware CV and an independent test group.
    spec : str
        Feature spec for extraction (``phantom``, ``manifest``).
    modalities : list of str or None
        Restrict the dataset to these modality blocks (in this order).
    missing : dict or None
        ``simulate_missing_modalities`` keyword arguments applied to the whole table
        (``rate`` or ``patterns``); the random state defaults to the benchmark seed.
    extract_n_jobs : int or None
        Worker processes for extraction (default: the benchmark's ``n_jobs``).
    positive_label : object or None
        The class treated as positive for sensitivity, precision and F1 in binary problems
        (default: the greater label).
    """

    name: str
    kind: str
    params: dict = field(default_factory=dict)
    path: str | None = None
    label: str = "label"
    group: str | None = None
    spec: str = "mri_all_filters"
    modalities: list | None = None
    missing: dict | None = None
    extract_n_jobs: int | None = None
    positive_label: Any = None


@dataclass
class ModelConfig:
    """One model entry.

    Attributes
    ----------
    name : str
        Name used in tables (``MMT``, ``LR``...).
    cls : str
        Import path of the estimator class (short names are expanded, see
        :data:`MODEL_ALIASES`).
    params : dict
        Constructor parameters.
    subset_mode : str
        One of :data:`SUBSET_MODES`.
    preprocessing : dict or None
        Keyword arguments of the preprocessing factory (``radfuse.make_radiomics_pipeline`` unless
        ``factory`` names another callable), or None for the bare estimator.
    train_rows : str
        One of :data:`TRAIN_ROWS`: ``"all"`` trains on every training row that has a block of the
        fitted subset; ``"subset"`` only on rows with every block of the fitted subset (default
        for MFN-VAE, which has no missing-modality mechanism); ``"complete"`` only on rows where
        every modality of the dataset is present (the complete-case protocol).
    baseline : bool
        Whether this model is a baseline that the others are compared with.
    datasets : list of str or None
        Run only on these datasets (default: all).
    """

    name: str
    cls: str
    params: dict = field(default_factory=dict)
    subset_mode: str = "columns"
    preprocessing: dict | None = field(default_factory=dict)
    train_rows: str = "all"
    baseline: bool = False
    datasets: list | None = None

    @property
    def class_name(self) -> str:
        return self.cls.rsplit(".", 1)[-1]

    def resolve_class(self) -> type:
        """Import the estimator class (raises :class:`ConfigError` with the reason)."""
        return _import_object(f"model {self.name!r}", self.cls)


@dataclass
class CVConfig:
    """Cross-validation protocol (identical splits for every model of a dataset).

    Attributes
    ----------
    n_splits : int
        Folds per repeat (stratified K-fold).
    n_repeats : int
        Repeats with different shuffles (and model seeds).
    group_aware : bool
        Keep each group (centre) in one fold (StratifiedGroupKFold on the dataset's group column).
    test_group : object or None
        An independent test group: train on every other group, test on this one (one split per
        repeat; repeats then differ only in the model seeds).
    """

    n_splits: int = 5
    n_repeats: int = 1
    group_aware: bool = False
    test_group: Any = None


@dataclass
class BenchmarkConfig:
    """A validated benchmark configuration (see the module docstring for the YAML form)."""

    name: str
    datasets: list[DatasetConfig]
    models: list[ModelConfig]
    subsets: Any = "all"
    cv: CVConfig = field(default_factory=CVConfig)
    seed: int = 0
    n_jobs: int = 1
    backend: str | None = None
    device: str | None = None
    comparison: dict = field(default_factory=dict)
    cache_dir: str | None = None
    threads_per_fit: int | None = None
    source: str | None = None

    def to_dict(self) -> dict:
        """A plain, JSON-serialisable dict (callables are written by their import path)."""
        out = asdict(self)
        return _jsonable(out)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if callable(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


def _import_object(where: str, path) -> Any:
    if callable(path) and not isinstance(path, str):
        return path
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}: expected a class name or dotted import path, got {path!r}.")
    full = MODEL_ALIASES.get(path, path)
    if "." not in full:
        raise ConfigError(
            f"{where}: {path!r} is not a known short name ({sorted(MODEL_ALIASES)}) nor a dotted "
            "import path such as 'sklearn.ensemble.RandomForestClassifier'."
        )
    module_name, attr = full.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import module {module_name!r} for {path!r} ({exc}); install the "
            "package or fix the name."
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"{where}: module {module_name!r} has no attribute {attr!r} (from {path!r}); fix the "
            "class name."
        ) from None


# -- parsing -----------------------------------------------------------------------------------
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
}
_DATASET_KEYS = {
    "name",
    "kind",
    "params",
    "path",
    "label",
    "group",
    "spec",
    "modalities",
    "missing",
    "extract_n_jobs",
    "positive_label",
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
            _import_object(f"{where}.factory", out["factory"])
        return out
    if value == "inherit":
        return copy.deepcopy(default)
    raise ConfigError(
        f"{where}: expected a mapping of make_radiomics_pipeline arguments (optionally with "
        f"'factory: package.module.function'), 'default', or none; got {value!r}."
    )


def _parse_dataset(i: int, raw) -> DatasetConfig:
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
    path = raw.get("path")
    if kind in ("manifest", "table") and not path:
        raise ConfigError(f"{where}: kind {kind!r} needs 'path' (the {kind} file).")
    mods = raw.get("modalities")
    if mods is not None and (
        not isinstance(mods, (list, tuple)) or not all(isinstance(m, str) for m in mods)
    ):
        raise ConfigError(f"{where}.modalities: expected a list of modality names, got {mods!r}.")
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
        modalities=None if mods is None else list(mods),
        missing=None if missing is None else dict(missing),
        extract_n_jobs=extract_n_jobs,
        positive_label=raw.get("positive_label"),
    )


def _parse_model(i: int, raw, default_prep, dataset_names) -> ModelConfig:
    where = f"models[{i}]"
    _keys(where, raw, _MODEL_KEYS, {"name", "class"})
    name = _name(f"{where}.name", raw["name"])
    where = f"model {name!r}"
    cls_path = raw["class"]
    cls = _import_object(where, cls_path)
    if not inspect.isclass(cls) or not hasattr(cls, "fit"):
        raise ConfigError(f"{where}: {cls_path!r} is not an estimator class (no fit method).")
    if not hasattr(cls, "predict_proba"):
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
    mode = raw.get("subset_mode", _DEFAULT_SUBSET_MODE.get(cls.__name__, "columns"))
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
    train_rows = raw.get("train_rows", _DEFAULT_TRAIN_ROWS.get(cls.__name__, "all"))
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
        baseline = not cls.__module__.startswith("radfuse")
    return ModelConfig(
        name=name,
        cls=cls_path if isinstance(cls_path, str) else f"{cls.__module__}.{cls.__qualname__}",
        params=dict(params),
        subset_mode=mode,
        preprocessing=_parse_preprocessing(
            f"{where}.preprocessing", raw.get("preprocessing", "inherit"), default_prep
        ),
        train_rows=train_rows,
        baseline=bool(baseline),
        datasets=None if datasets is None else list(datasets),
    )


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
    datasets = [_parse_dataset(i, d) for i, d in enumerate(datasets_raw)]
    dnames = [d.name for d in datasets]
    if len(set(dnames)) != len(dnames):
        raise ConfigError(f"config.datasets: dataset names must be unique, got {dnames}.")
    default_prep = _parse_preprocessing("config.preprocessing", raw.get("preprocessing", {}), {})
    models_raw = raw["models"]
    if not isinstance(models_raw, (list, tuple)) or not models_raw:
        raise ConfigError("config.models: expected a non-empty list of model entries.")
    models = [_parse_model(i, m, default_prep, dnames) for i, m in enumerate(models_raw)]
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
    )


# -- finding and loading -----------------------------------------------------------------------
def _packaged_dir():
    """``radfuse/_data/benchmarks`` in an installed wheel, or None."""
    try:
        base = resources.files("radfuse") / "_data" / "benchmarks"
        if base.is_dir():
            return base
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    return None


def _repo_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "benchmarks"


def find_config(name: str) -> Path:
    """Path of a shipped benchmark config (``"default"``, ``"breast_cancer_views"``...).

    Looks in the wheel's ``radfuse/_data/benchmarks`` first, then in the repository's
    ``benchmarks/`` folder.
    """
    fname = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    packaged = _packaged_dir()
    if packaged is not None and (packaged / fname).is_file():
        return Path(str(packaged / fname))
    candidate = _repo_dir() / fname
    if candidate.is_file():
        return candidate
    shipped = sorted(p.stem for p in _repo_dir().glob("*.yaml")) if _repo_dir().is_dir() else []
    raise ConfigError(
        f"No benchmark config {name!r}: not a file, and not a shipped config ({shipped})."
    )


def default_config_path() -> Path:
    """Path of the built-in default benchmark (``benchmarks/default.yaml``)."""
    return find_config("default")


def load_config(config: str | Path | Mapping | BenchmarkConfig | None) -> BenchmarkConfig:
    """Load and validate a benchmark configuration.

    Parameters
    ----------
    config : path, str, dict, BenchmarkConfig or None
        A YAML file, the name of a shipped config (``"default"``), a mapping in the YAML's form,
        or None for the built-in default.

    Returns
    -------
    BenchmarkConfig

    Raises
    ------
    ConfigError
        If the file is missing or the content is invalid (the message names the key).
    """
    if isinstance(config, BenchmarkConfig):
        return config
    if config is None:
        config = default_config_path()
    if isinstance(config, Mapping):
        return parse_config(config)
    path = Path(config)
    if not path.is_file():
        path = find_config(str(config))
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level.")
    try:
        cfg = parse_config(raw, source=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    # relative data paths are relative to the config file
    for d in cfg.datasets:
        if d.path and not Path(d.path).is_absolute():
            d.path = str((path.parent / d.path).resolve())
    return cfg
