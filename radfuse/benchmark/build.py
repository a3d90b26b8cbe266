"""Building a benchmark model: the estimator of a model entry inside its preprocessing pipeline."""

from __future__ import annotations

from radfuse.benchmark.schema import ModelConfig, import_object

__all__ = ["build_estimator"]


def build_estimator(
    mcfg: ModelConfig, *, seed: int, device, threads: int, input_modalities=None, defaults=None
):
    """The model of an entry, wrapped in its preprocessing pipeline.

    ``random_state`` (the fit's seed), ``device`` and ``n_jobs`` (the fit's thread share) are set
    unless the entry gives them; ``defaults`` are further parameters set where the class accepts
    them and the entry does not give them.
    """
    cls = mcfg.resolve_class()
    params = dict(mcfg.params)
    accepted = set(cls().get_params(deep=False))
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    if device is not None and "device" in accepted and "device" not in params:
        params["device"] = device
    # scikit-learn's n_jobs=None is already one thread; others (XGBoost) take every core
    if (
        "n_jobs" in accepted
        and params.get("n_jobs") is None
        and not getattr(cls.__init__, "__module__", "").startswith("sklearn")
    ):
        params["n_jobs"] = threads
    if "nthread" in accepted and params.get("nthread") is None and "n_jobs" not in accepted:
        params["nthread"] = threads
    if input_modalities is not None:
        params["input_modalities"] = tuple(input_modalities)
    for k, v in (defaults or {}).items():
        if k in accepted and k not in params:
            params[k] = v
    est = cls(**params)
    if mcfg.preprocessing is None:
        return est
    prep = dict(mcfg.preprocessing)
    factory = prep.pop("factory", "radfuse.make_radiomics_pipeline")
    factory = import_object(f"model {mcfg.name!r} preprocessing.factory", factory)
    pipe = factory(est, **prep)
    # the preprocessing's own random states (SMOTE...) follow the fit's seed
    updates = {
        k: seed
        for k, v in pipe.get_params(deep=True).items()
        if k.endswith("random_state") and v is None
    }
    if updates:
        pipe.set_params(**updates)
    return pipe
