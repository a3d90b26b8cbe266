"""Benchmark configuration schema: the dataclasses, the accepted values and :class:`ConfigError`.

A configuration names datasets, models, modality subsets and the cross-validation protocol::

    name: default
    seed: 0                        # splits: seed + repeat; models and SMOTE: seed + repeat
    n_jobs: 2                      # parallel fits (-1: every core)
    backend: null                  # loky | threading | sequential | dask | tcp://scheduler:8786
    threads_per_fit: null          # torch / BLAS threads per fit (default: cores / n_jobs)
    device: null                   # passed to models with a `device` parameter
    task: classification           # or survival (every dataset's default, see below)
    cache_dir: null                # phantom cohorts and extracted features
    datasets:
      - name: phantom
        kind: phantom              # phantom | manifest | table | breast_cancer_views |
        params: {n_patients: 279}  # multimodal | multicentre
        spec: mri_all_filters      # extraction spec (phantom, manifest)
        label: label               # label column (manifest, table)
        group: null                # centre column (group-aware CV, test_group)
        keep_modalities: null      # e.g. [T1WI, FLAIR]: keep these blocks, drop the rest
        missing: null              # e.g. {rate: 0.3}: blank blocks at random
    preprocessing: {k: 10}         # make_radiomics_pipeline arguments for every model
    models:
      - name: LR
        class: LogisticRegression  # a known short name or a dotted path "package.module.Class"
        params: {max_iter: 2000}
        subset_mode: columns       # columns | input_modalities | blank_at_test
        train_rows: all            # all | subset | complete
        preprocessing: inherit     # or a mapping, or none for the bare estimator
        tuning:                    # nested search in each outer training fold
          search_space: {C: {low: 1.0e-4, high: 100.0, log: true}}
    subsets: all                   # or a list such as [[T1WI], [T1WI, FLAIR]]
    cv: {n_splits: 5, n_repeats: 1, group_aware: false, test_group: null}
    comparison: {baseline: auto, n_bootstrap: 2000, alpha: 0.05}
    tuning: {n_trials: 20, inner_folds: 3}   # nested search, see radfuse.benchmark.tuning_config

A model's default ``subset_mode``, ``train_rows`` and ``baseline`` come from its class's
``_benchmark_defaults`` (a dict with optional keys ``"subset_mode"``, ``"train_rows"`` and
``"baseline"``), else ``"columns"``, ``"all"`` and "not a radfuse class".

A survival benchmark (``task: survival``, see :mod:`radfuse.benchmark.survival_config`) reads a
``time`` and an ``event`` column instead of a label, and its models are survival estimators with
scikit-survival's conventions (``predict`` = risk); one config holds one task.

:mod:`radfuse.benchmark.parsing` validates a mapping into these dataclasses,
:mod:`radfuse.benchmark.loading` finds and reads YAML files.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "DATASET_KINDS",
    "MODEL_ALIASES",
    "SUBSET_MODES",
    "TASKS",
    "TRAIN_ROWS",
    "TUNING_DEFAULTS",
    "BenchmarkConfig",
    "CVConfig",
    "ConfigError",
    "DatasetConfig",
    "ModelConfig",
    "TuningConfig",
    "import_object",
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
    "CoxnetSurvivalAnalysis": "sksurv.linear_model.CoxnetSurvivalAnalysis",
    "RandomSurvivalForest": "sksurv.ensemble.RandomSurvivalForest",
    "XGBCoxSurvival": "radfuse.benchmark.survival_models.XGBCoxSurvival",
    "SurMoESurvival": "radfuse.SurMoESurvival",
}

#: What a benchmark predicts: a class label, or a right-censored time to event.
TASKS = ("classification", "survival")

#: How a model meets a modality subset S.
#:
#: ``columns``           fitted and tested on S's columns only (one fit per subset);
#: ``input_modalities``  fitted on every column with ``input_modalities=S`` (the other blocks are
#:                       training-time targets, e.g. MMT's reconstruction), tested with only S;
#: ``blank_at_test``     fitted once per fold on every column, tested with the blocks outside S
#:                       blanked (NaN); one fit serves every subset.
SUBSET_MODES = ("columns", "input_modalities", "blank_at_test")

#: Which training rows a model is fitted on: ``all`` (every row with at least one block of the
#: fitted subset), ``subset`` (rows with every block of the fitted subset: for networks without a
#: missing-modality mechanism), ``complete`` (rows with every modality of the dataset: the
#: complete-case protocol).
TRAIN_ROWS = ("all", "subset", "complete")

#: The budget and search settings of a tuning section when it does not give them.
TUNING_DEFAULTS = {"n_trials": 20, "inner_folds": 3, "sampler": "tpe", "scoring": None}

DATASET_KINDS = (
    "phantom",
    "manifest",
    "table",
    "breast_cancer_views",
    "multimodal",
    "multicentre",
    "sksurv",
    "multimodal_survival",
)


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
    keep_modalities : list of str or None
        Keep only these modality blocks (in this order); the others are dropped before any fit.
    missing : dict or None
        ``simulate_missing_modalities`` keyword arguments applied to the whole table
        (``rate`` or ``patterns``); the random state defaults to the benchmark seed.
    extract_n_jobs : int or None
        Worker processes for extraction (default: the benchmark's ``n_jobs``).
    positive_label : object or None
        The class treated as positive for sensitivity, precision and F1 in binary problems
        (default: the greater label).
    task : str
        One of :data:`TASKS`.
    time, event : str
        Survival only: the follow-up time column (> 0) and the event column (1 = event,
        0 = censored) of a ``table`` or ``manifest``.
    """

    name: str
    kind: str
    params: dict = field(default_factory=dict)
    path: str | None = None
    label: str = "label"
    group: str | None = None
    spec: str = "mri_all_filters"
    keep_modalities: list | None = None
    missing: dict | None = None
    extract_n_jobs: int | None = None
    positive_label: Any = None
    task: str = "classification"
    time: str = "time"
    event: str = "event"


@dataclass
class TuningConfig:
    """The nested search of one model (see :mod:`radfuse.benchmark.tuning_config`).

    Attributes
    ----------
    search_space : dict
        Parameter -> distribution (the YAML forms of :mod:`radfuse.tuning.distributions`), by the
        names of the config: ``lr`` (the estimator's), ``recon_weight.T1WI`` (one entry of a
        mapping parameter), ``pipeline.select__k`` (a preprocessing step's).
    n_trials : int
        Trials of each search (one search per outer training fold).
    inner_folds : int
        Stratified inner folds scoring each trial.
    sampler : str
        ``"tpe"`` or ``"random"``.
    scoring : str or None
        A scikit-learn scorer name; None: ROC AUC (one-vs-rest macro for several classes), the
        benchmark's primary metric.
    """

    search_space: dict
    n_trials: int = TUNING_DEFAULTS["n_trials"]
    inner_folds: int = TUNING_DEFAULTS["inner_folds"]
    sampler: str = TUNING_DEFAULTS["sampler"]
    scoring: str | None = TUNING_DEFAULTS["scoring"]


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
    tuning : TuningConfig or None
        Its nested search, or None for the configured parameters as they are.
    """

    name: str
    cls: str
    params: dict = field(default_factory=dict)
    subset_mode: str = "columns"
    preprocessing: dict | None = field(default_factory=dict)
    train_rows: str = "all"
    baseline: bool = False
    datasets: list | None = None
    tuning: TuningConfig | None = None

    @property
    def class_name(self) -> str:
        """The estimator class's name without its module (``"MMTClassifier"``)."""
        return self.cls.rsplit(".", 1)[-1]

    def resolve_class(self) -> type:
        """Import the estimator class (raises :class:`ConfigError` with the reason)."""
        return import_object(f"model {self.name!r}", self.cls)


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
    """A validated benchmark configuration (see the module docstring for the YAML form).

    ``tuning`` holds the budget every tuned model shares (``n_trials``, ``inner_folds``,
    ``sampler``, ``scoring``), or None when the config has no ``tuning:`` section.
    """

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
    tuning: dict | None = None

    def to_dict(self) -> dict:
        """A plain, JSON-serialisable dict (callables are written by their import path).

        Without tuning the ``tuning`` keys are left out, so that an untuned config's dict (and
        every fit digest made from it) is the one it was before tuning existed.
        """
        out = _jsonable(asdict(self))
        # a classification dataset's entry (and so every digest) is the one it was before survival
        for d in out["datasets"]:
            if d["task"] == "classification":
                for k in ("task", "time", "event"):
                    del d[k]
        if out["tuning"] is None:
            del out["tuning"]
        for m in out["models"]:
            if m["tuning"] is None:
                del m["tuning"]
        return out

    @property
    def task(self) -> str:
        """The task of the benchmark (every dataset has the same one)."""
        return self.datasets[0].task

    def dataset(self, name: str) -> DatasetConfig:
        """The dataset entry called ``name``."""
        return next(d for d in self.datasets if d.name == name)


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


def import_object(where: str, path) -> Any:
    """The object a ``class:`` or ``factory:`` entry names (a short alias or a dotted path).

    A callable is returned as is.

    Raises
    ------
    ConfigError
        Naming ``where``, when the module cannot be imported or has no such attribute.
    """
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
