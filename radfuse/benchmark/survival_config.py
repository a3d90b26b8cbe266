"""The survival entries of a benchmark configuration (``task: survival``).

A survival dataset names its follow-up ``time`` and ``event`` columns (``table``, ``manifest``)
or is built with its outcome: ``kind: sksurv`` loads one of scikit-survival's tables
(``params: {name: whas500 | gbsg2 | veterans_lung_cancer | flchain}``, split into clinical
blocks, see :mod:`radfuse.benchmark.sources`) and ``kind: multimodal_survival`` draws
:func:`radfuse.datasets.make_multimodal_survival` (its ``params``)::

    task: survival
    datasets:
      - {name: synth, kind: multimodal_survival, params: {n_samples: 300}}
      - {name: cohort, kind: table, path: features.csv, time: os_months, event: death}
    models:
      - {name: Coxnet, class: CoxnetSurvivalAnalysis}      # fit_baseline_model: true added
      - {name: SurMoE, class: SurMoESurvival, params: {max_epochs: 50}}

Preprocessing of a survival model is :func:`radfuse.make_radiomics_pipeline` without its
label-driven steps (the relevance-ranked ``correlation`` filter, mRMR ``select`` and SMOTE need
class labels): check, scale, variance, impute. Tuning is not available for survival models.
"""

from __future__ import annotations

from collections.abc import Mapping

from radfuse.benchmark.schema import TASKS, ConfigError

__all__ = [
    "SKSURV_DATASETS",
    "SURVIVAL_KINDS",
    "check_survival_dataset",
    "survival_model_entry",
]

#: scikit-survival loaders accepted by ``kind: sksurv`` (``load_breast_cancer`` is left out on
#: purpose: it is kept as an independent check of SurMoE's defaults)
SKSURV_DATASETS = ("whas500", "gbsg2", "veterans_lung_cancer", "flchain")
#: dataset kinds that can carry a survival outcome
SURVIVAL_KINDS = ("table", "manifest", "sksurv", "multimodal_survival")
# make_radiomics_pipeline steps that rank or resample by the class label
_LABEL_STEPS = ("correlation", "selector", "sampler")
_LABEL_KEYS = ("k", "correlation_threshold")


def check_survival_dataset(where: str, raw: Mapping, task: str, params: Mapping) -> None:
    """Raise unless a dataset entry's task, kind and outcome columns fit together.

    Raises
    ------
    ConfigError
        An unknown task, a survival-only kind or key on a classification dataset, a kind that
        has no survival outcome, ``label`` on a survival dataset, or an unknown sksurv table.
    """
    kind = raw["kind"]
    if task not in TASKS:
        raise ConfigError(f"{where}.task: expected one of {list(TASKS)}, got {task!r}.")
    if task == "classification":
        found = [f"kind {kind!r}"] if kind in ("sksurv", "multimodal_survival") else []
        found += [f"key {k!r}" for k in ("time", "event") if k in raw]
        if found:
            raise ConfigError(
                f"{where}: {', '.join(found)} belong(s) to a survival dataset; set "
                "'task: survival' (on the dataset or the config)."
            )
        return
    if kind not in SURVIVAL_KINDS:
        raise ConfigError(
            f"{where}: kind {kind!r} has no survival outcome; with task 'survival' use one of "
            f"{list(SURVIVAL_KINDS)}."
        )
    if "label" in raw:
        raise ConfigError(
            f"{where}: a survival dataset has no 'label'; name its follow-up and event columns "
            "with 'time:' and 'event:'."
        )
    for key in ("time", "event"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise ConfigError(f"{where}.{key}: expected a column name, got {raw[key]!r}.")
    if kind == "sksurv":
        name = params.get("name")
        extra = sorted(set(params) - {"name"})
        if name not in SKSURV_DATASETS or extra:
            raise ConfigError(
                f"{where}.params: kind 'sksurv' takes only 'name', one of "
                f"{list(SKSURV_DATASETS)}; got {dict(params)!r}."
            )


def survival_model_entry(where: str, cls: type, params: dict, preprocessing, has_tuning: bool):
    """The parameters and preprocessing of a survival model entry.

    ``fit_baseline_model=True`` is added where the class has it (Coxnet: survival functions for
    the integrated Brier score) and the entry does not set it; the label-driven steps of the
    default pipeline are switched off.

    Returns
    -------
    params : dict
    preprocessing : dict or None

    Raises
    ------
    ConfigError
        A class without ``predict``, a tuning section, or preprocessing that asks for a
        label-driven step.
    """
    if not hasattr(cls, "predict"):
        raise ConfigError(f"{where}: {cls.__name__} has no predict (the risk score).")
    if has_tuning:
        raise ConfigError(f"{where}: tuning is not available for survival models; remove it.")
    params = dict(params)
    if "fit_baseline_model" in _accepted(cls) and "fit_baseline_model" not in params:
        params["fit_baseline_model"] = True
    if preprocessing is None or "factory" in preprocessing:
        return params, preprocessing
    asked = [k for k in _LABEL_STEPS if preprocessing.get(k) is not None]
    asked += [k for k in _LABEL_KEYS if k in preprocessing]
    if asked:
        raise ConfigError(
            f"{where}.preprocessing: {asked} rank or resample by a class label, which a "
            "survival outcome does not have; remove them (check, scale, variance and impute "
            "remain), or give a 'factory'."
        )
    return params, {**preprocessing, **{k: None for k in _LABEL_STEPS}}


def _accepted(cls) -> set:
    try:
        return set(cls().get_params(deep=False))
    except Exception:  # an estimator with required arguments: nothing to add
        return set()
