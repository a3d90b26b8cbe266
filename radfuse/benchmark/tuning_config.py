"""The ``tuning:`` sections of a benchmark config: nested hyper-parameter search, checked up front.

A top-level ``tuning:`` sets the budget every tuned model shares, and each model gives its own
search space (and may opt out)::

    tuning: {n_trials: 20, inner_folds: 3, sampler: tpe, scoring: null}
    models:
      - name: LR
        class: LogisticRegression
        tuning:
          search_space:
            C: {low: 1.0e-4, high: 100.0, log: true}
      - name: MMT
        class: MMTClassifier
        tuning:
          search_space:
            lr: {low: 1.0e-5, high: 1.0e-2, log: true}
            recon_weight.FLAIR: {low: 0.1, high: 1.0}    # one entry of a mapping parameter
            pipeline.select__k: {choices: [5, 10, 20]}  # a preprocessing step's parameter
      - name: Fixed
        class: SVC
        tuning: {enabled: false}

Keys: ``enabled`` (default true), ``n_trials`` (>= 1), ``inner_folds`` (>= 2, stratified,
shuffled with the fit's seed), ``sampler`` (``tpe`` or ``random``), ``scoring`` (a scikit-learn
scorer name; null: ROC AUC, the benchmark's primary metric) and, per model only,
``search_space``. A model's own ``n_trials`` / ``inner_folds`` override the shared budget; the
report then says so.

Search-space names are those of the model's estimator (``lr``, ``C``): the benchmark prefixes
them with the estimator's step of the preprocessing pipeline (``estimator__lr``). A name
``pipeline.<name>`` is a parameter of the whole pipeline by its ``get_params(deep=True)`` name
(``pipeline.select__k``). A name ``<param>.<modality>`` searches one entry of a mapping
parameter (``recon_weight.T1WI``); each fit assembles the entries into the mapping
(``recon_weight={"T1WI": ..., "DWI": ...}``) and searches only the entries of modalities the
fitted model has a use for (:mod:`radfuse.benchmark.tuning`).

With a top-level section every model must have a ``search_space`` or ``enabled: false``: a fair
comparison tunes every model, or says which it does not.
"""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.metrics import get_scorer_names

from radfuse.benchmark.build import build_estimator
from radfuse.benchmark.schema import TUNING_DEFAULTS, ConfigError, ModelConfig, TuningConfig
from radfuse.tuning import to_distribution

__all__ = [
    "PIPELINE_PREFIX",
    "check_entry_modalities",
    "parse_model_tuning",
    "parse_tuning_defaults",
]

#: Prefix of a search-space name that addresses the whole pipeline.
PIPELINE_PREFIX = "pipeline."
SAMPLERS = ("tpe", "random")
_BUDGET_KEYS = ("n_trials", "inner_folds", "sampler", "scoring")
_GLOBAL_KEYS = {"enabled", *_BUDGET_KEYS}
_MODEL_KEYS = {*_GLOBAL_KEYS, "search_space"}
# set by the benchmark for every fit: searching them would undo the protocol
_RESERVED = ("random_state", "input_modalities")


def _check_keys(where: str, raw, allowed: set[str]) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__} {raw!r}.")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        hint = (
            " (a search space is per model: give it under models[i].tuning.search_space)"
            if "search_space" in unknown
            else ""
        )
        raise ConfigError(
            f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(allowed)}{hint}."
        )


def _budget(where: str, raw: Mapping, base: Mapping) -> dict:
    out = {k: raw.get(k, base[k]) for k in _BUDGET_KEYS}
    for key, minimum in (("n_trials", 1), ("inner_folds", 2)):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}.")
    if out["sampler"] not in SAMPLERS:
        raise ConfigError(
            f"{where}.sampler: expected one of {list(SAMPLERS)}, got {out['sampler']!r}."
        )
    if out["scoring"] is not None and out["scoring"] not in get_scorer_names():
        raise ConfigError(
            f"{where}.scoring: {out['scoring']!r} is not a scikit-learn scorer name (such as "
            "'roc_auc', 'balanced_accuracy'); leave it out for ROC AUC."
        )
    return out


def _enabled(where: str, raw: Mapping, default: bool) -> bool:
    value = raw.get("enabled", default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.enabled: expected true or false, got {value!r}.")
    return value


def parse_tuning_defaults(raw) -> dict | None:
    """The top-level ``tuning:`` section as the shared budget plus ``enabled``, or None.

    Raises
    ------
    ConfigError
        An unknown key, ``n_trials < 1``, ``inner_folds < 2``, an unknown sampler or scorer.
    """
    if raw is None:
        return None
    _check_keys("config.tuning", raw, _GLOBAL_KEYS)
    return {
        **_budget("config.tuning", raw, TUNING_DEFAULTS),
        "enabled": _enabled("config.tuning", raw, True),
    }


def _takes_mapping(cls, param: str) -> bool:
    """Whether a parameter's constraints accept a mapping (no constraints: trust the name)."""
    constraints = getattr(cls, "_parameter_constraints", {}).get(param)
    if constraints is None:
        return True
    return any(c in (dict, Mapping) for c in constraints)


def _check_name(where: str, name, cls, accepted: set, mcfg: ModelConfig) -> None:
    """A search-space name the model (or its pipeline) has; see the module docstring."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: parameter names must be non-empty strings, got {name!r}.")
    if name.startswith(PIPELINE_PREFIX):
        if mcfg.preprocessing is None:
            raise ConfigError(
                f"{where}: {name!r} names a pipeline parameter but the model has no "
                "preprocessing (preprocessing: none); search the estimator's own names."
            )
        known = build_estimator(mcfg, seed=0, device=None, threads=1).get_params(deep=True)
        inner = name.removeprefix(PIPELINE_PREFIX)
        if inner not in known:
            raise ConfigError(
                f"{where}: the preprocessing pipeline has no parameter {inner!r}; its "
                f"parameters are {sorted(known)}."
            )
        return
    param, dot, key = name.partition(".")
    if param in _RESERVED:
        raise ConfigError(
            f"{where}: {param!r} is set by the benchmark for every fit (seed, subset mode) and "
            "cannot be searched."
        )
    if param not in accepted:
        raise ConfigError(
            f"{where}: {cls.__name__} has no parameter {param!r}; it accepts {sorted(accepted)} "
            f"(or write '{PIPELINE_PREFIX}<step>__<param>' for a preprocessing parameter)."
        )
    if dot and not key:
        raise ConfigError(f"{where}: {name!r} needs a modality after the dot ('{param}.T1WI').")
    if dot and not _takes_mapping(cls, param):
        raise ConfigError(
            f"{where}: {name!r} searches one entry of a mapping, but {cls.__name__}.{param} "
            "does not take a mapping; search it whole by the name "
            f"{param!r}."
        )


def _search_space(where: str, raw, cls, accepted: set, mcfg: ModelConfig) -> dict:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"{where}: expected a non-empty mapping of parameter -> distribution (such as "
            f"{{C: {{low: 1.0e-4, high: 100.0, log: true}}}}), got {raw!r}."
        )
    for name, spec in raw.items():
        at = f"{where}.{name}"
        _check_name(at, name, cls, accepted, mcfg)
        try:
            to_distribution(name, spec)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{at}: {exc}") from None
    return dict(raw)


def parse_model_tuning(
    i: int, raw, defaults: dict | None, cls, accepted: set, mcfg: ModelConfig
) -> TuningConfig | None:
    """A model's ``tuning:`` entry merged with the shared budget; None when it is not tuned.

    ``accepted`` is the set of the estimator's parameter names, ``mcfg`` the model entry (for
    its preprocessing pipeline).

    Raises
    ------
    ConfigError
        Naming ``models[i].tuning...``: an unknown key, a bad budget, a bad distribution, a
        parameter the estimator (or pipeline) lacks, or no search space under a shared section.
    """
    where = f"models[{i}].tuning"
    if raw is None:
        raw = {}
    _check_keys(f"{where} (model {mcfg.name!r})", raw, _MODEL_KEYS)
    # without a shared section only the models that have a tuning entry are tuned
    shared = defaults if defaults is not None else {**TUNING_DEFAULTS, "enabled": bool(raw)}
    if not _enabled(where, raw, shared["enabled"]):
        return None
    if "search_space" not in raw:
        raise ConfigError(
            f"{where} (model {mcfg.name!r}): the config tunes every model (top-level tuning:) "
            "but this one has no search_space; give one, or 'tuning: {enabled: false}' to run "
            "it untuned."
        )
    budget = _budget(where, raw, shared)
    space = _search_space(f"{where}.search_space", raw["search_space"], cls, accepted, mcfg)
    return TuningConfig(search_space=space, **budget)


def check_entry_modalities(mcfg: ModelConfig, modalities, dataset: str) -> None:
    """Every ``<param>.<modality>`` of a tuned model names a modality of the dataset.

    Raises
    ------
    ConfigError
        Naming the model, the search-space entry and the dataset's modalities.
    """
    if mcfg.tuning is None:
        return
    for name in mcfg.tuning.search_space:
        if name.startswith(PIPELINE_PREFIX):
            continue
        _, dot, key = name.partition(".")
        if dot and key not in modalities:
            raise ConfigError(
                f"model {mcfg.name!r} tuning.search_space.{name}: dataset {dataset!r} has no "
                f"modality {key!r}; its modalities are {list(modalities)}."
            )
