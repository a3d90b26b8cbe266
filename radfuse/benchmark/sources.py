"""Generated sources of a benchmark's tables: the multi-centre table and scikit-survival's
clinical tables split into named blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from radfuse.datasets.survival import SURVIVAL_DTYPE

__all__ = ["SKSURV_BLOCKS", "load_sksurv", "make_multicentre_table"]

#: Block of each column of scikit-survival's tables (categoricals are one-hot encoded within
#: their block). WHAS500 and GBSG2 as in ``benchmarks/surmoe_dev.py``; FLCHAIN's ``chapter`` (the
#: cause of death) is left out because it gives the outcome away, and its ``creatinine`` is a
#: block of its own, missing where it was not measured.
SKSURV_BLOCKS = {
    "whas500": {
        "CLIN": ["age", "gender", "bmi", "cvd", "afb", "chf", "av3", "miord", "mitype", "sho"],
        "VITAL": ["hr", "sysbp", "diasbp", "los"],
    },
    "gbsg2": {
        "CLIN": ["age", "menostat", "horTh"],
        "TUMOUR": ["tsize", "tgrade", "pnodes"],
        "RECEPT": ["estrec", "progrec"],
    },
    "veterans_lung_cancer": {
        "CLIN": ["Age_in_years", "Months_from_Diagnosis", "Prior_therapy", "Treatment"],
        "TUMOUR": ["Celltype", "Karnofsky_score"],
    },
    "flchain": {
        "CLIN": ["age", "sex", "sample.yr"],
        "FLC": ["kappa", "lambda", "flc.grp", "mgus"],
        "LAB": ["creatinine"],
    },
}


def make_multicentre_table(
    n_centres: int = 5,
    n_per_centre: int | Sequence[int] = 120,
    modalities: Mapping[str, int] | None = None,
    *,
    centre_shift: float = 0.5,
    missing_centres: Mapping[str, float] | None = None,
    weights: Sequence[float] | None = None,
    class_sep: float = 1.0,
    shared_fraction: float = 0.5,
    n_informative: int = 8,
    random_state=None,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """A synthetic multi-centre feature table with a scanner shift per centre and missing sequences.

    Patients come from :func:`radfuse.datasets.make_multimodal_classification` and are assigned to
    centres ``C1 .. Cn``. Each centre applies its own acquisition shift to every feature (an
    additive offset and a multiplicative gain, drawn per centre and feature, of scale
    ``centre_shift`` feature standard deviations), as different scanners and protocols do. In the
    centres listed in ``missing_centres`` whole sequences are blanked at the given rate
    (:func:`radfuse.datasets.simulate_missing_modalities`, never all of a patient's sequences).

    Parameters
    ----------
    n_centres : int, default=5
    n_per_centre : int or sequence of int, default=120
        Patients per centre.
    modalities : mapping of str to int, default={"T1WI": 32, "FLAIR": 32, "DWI": 32}
    centre_shift : float, default=0.5
        Scale of the per-centre offset (in feature standard deviations) and of the log-gain.
    missing_centres : mapping of str to float, optional
        ``{"C2": 0.5, ...}``: the rate at which each sequence is missing in that centre.
    weights, class_sep, shared_fraction, n_informative
        Passed to ``make_multimodal_classification``.
    random_state : int or None

    Returns
    -------
    X : DataFrame
        Features, index ``patient_id``.
    y : Series
        Labels (name ``label``).
    group : Series
        Centre of each patient (name ``group``).
    """
    from radfuse.datasets import make_multimodal_classification, simulate_missing_modalities

    rng = np.random.default_rng(random_state)
    sizes = (
        [int(n_per_centre)] * n_centres
        if np.ndim(n_per_centre) == 0
        else [int(n) for n in n_per_centre]
    )
    if len(sizes) != n_centres:
        raise ValueError(f"n_per_centre has {len(sizes)} entries for n_centres={n_centres}.")
    centres = [f"C{i + 1}" for i in range(n_centres)]
    unknown = sorted(set(missing_centres or {}) - set(centres))
    if unknown:
        raise ValueError(f"missing_centres names unknown centres {unknown}; centres are {centres}.")
    X, y = make_multimodal_classification(
        n_samples=sum(sizes),
        modalities=modalities,
        n_informative=n_informative,
        shared_fraction=shared_fraction,
        weights=weights,
        class_sep=class_sep,
        random_state=int(rng.integers(2**31 - 1)),
    )
    group = pd.Series(np.repeat(centres, sizes), index=X.index, name="group")
    values = X.to_numpy(dtype=float).copy()
    std = values.std(axis=0)
    for c in centres:
        rows = (group == c).to_numpy()
        offset = rng.normal(scale=centre_shift, size=values.shape[1]) * std
        gain = np.exp(rng.normal(scale=centre_shift / 2, size=values.shape[1]))
        values[rows] = values[rows] * gain + offset
    X = pd.DataFrame(values, index=X.index, columns=X.columns)
    for c, rate in (missing_centres or {}).items():
        rows = (group == c).to_numpy()
        X.loc[rows] = simulate_missing_modalities(
            X.loc[rows], rate=float(rate), random_state=int(rng.integers(2**31 - 1))
        )
    return X, y, group


def load_sksurv(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """One of scikit-survival's tables with ``"<BLOCK>__<column>"`` names (see
    :data:`SKSURV_BLOCKS`) and its target as a structured ``(event, time)`` array.

    Raises
    ------
    ValueError
        ``name`` is not a key of :data:`SKSURV_BLOCKS`.
    """
    import sksurv.datasets
    from sksurv.preprocessing import OneHotEncoder

    if name not in SKSURV_BLOCKS:
        raise ValueError(f"no sksurv table {name!r}; expected one of {sorted(SKSURV_BLOCKS)}.")
    X, target = getattr(sksurv.datasets, f"load_{name}")()
    parts = []
    for block, cols in SKSURV_BLOCKS[name].items():
        part = X[cols].astype({c: "category" for c in cols if X[c].dtype == object})
        enc = OneHotEncoder().fit_transform(part)
        enc.columns = [f"{block}__{c}" for c in enc.columns]
        parts.append(enc.astype(float))
    out = pd.concat(parts, axis=1)
    width = max(4, len(str(len(out))))
    out.index = pd.Index([f"P{i + 1:0{width}d}" for i in range(len(out))], name="patient_id")
    event, time = target.dtype.names
    y = np.empty(len(target), dtype=SURVIVAL_DTYPE)
    y["event"], y["time"] = target[event], target[time]
    return out, y
