"""Acquisition centres of the phantom: scanner effects, patient shares and missing sequences.

A :class:`Centre` describes one scanner by image-level effects (gain and offset per modality,
noise level, point-spread blur, bias-field strength, voxel spacing) and its share of the patients.
:func:`check_centres` turns the ``centres`` argument of
:func:`radfuse.datasets.make_phantom_cohort` into resolved centres, :func:`assign_centres` gives
each patient a centre (stratified by class, so that the label is not confounded with the centre)
and :func:`draw_missing` chooses which of a centre's patients lack which sequence.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Centre",
    "assign_centres",
    "check_centres",
    "check_missing",
    "check_triplet",
    "draw_missing",
    "largest_remainder",
]

# Half-widths of the spread of drawn centres (``centres=<int>``): the centres' log-gains, offsets
# (fraction of white matter), log-noise factors and log-bias strengths are evenly spaced over
# [-w, w] in a random order, so that any two centres differ clearly.
_LOG_GAIN_SPREAD = 0.3
_OFFSET_SPREAD = 0.08
_LOG_NOISE_SPREAD = 0.6
_PSF_SPREAD_MM = 0.6
_LOG_BIAS_SPREAD = 0.7


@dataclass(frozen=True)
class Centre:
    """One acquisition centre: the scanner effects shared by all of its patients' images.

    The neutral centre (all defaults, ``spacing=None``) reproduces the single-centre phantom.

    Parameters
    ----------
    name : str
        Centre name, the manifest's ``group`` value (e.g. ``"C1"``).
    share : float, default=1.0
        Relative share of the patients (the shares of all centres are normalised).
    gain : float or mapping of str to float, default=1.0
        Multiplicative scanner gain, one for all modalities or per modality (missing ones: 1).
    offset : float or mapping of str to float, default=0.0
        Additive intensity offset as a fraction of the modality's white-matter intensity, one for
        all modalities or per modality (missing ones: 0).
    noise : float, default=1.0
        Factor on every modality's Rician noise level.
    psf_mm : float, default=0.0
        Standard deviation (mm) of an isotropic Gaussian point-spread function (lower
        resolution), on top of a modality's own blur.
    bias : float, default=1.0
        Strength of the smooth multiplicative bias field relative to the phantom's (0: none).
    spacing : tuple of 3 float or None, default=None
        Voxel spacing (x, y, z) in mm; ``None``: the cohort's. The images keep the cohort's field
        of view in mm (the shape is scaled), so lesions have the same physical size.
    """

    name: str
    share: float = 1.0
    gain: float | Mapping[str, float] = 1.0
    offset: float | Mapping[str, float] = 0.0
    noise: float = 1.0
    psf_mm: float = 0.0
    bias: float = 1.0
    spacing: tuple[float, float, float] | None = None


def check_triplet(value, name, kind):
    """Three positive numbers (``kind="numbers"``) or integers (``kind="integers"``), x, y, z."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be three positive {kind} in (x, y, z) order, got {value!r}.")
    if kind == "integers":
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be three positive integers (x, y, z), got {value!r}.")
        return tuple(int(v) for v in arr)
    return tuple(float(v) for v in arr)


def largest_remainder(weights, total):
    """Split ``total`` into integer counts proportional to ``weights`` (sum kept exact)."""
    w = np.asarray(weights, dtype=float)
    quota = w / w.sum() * total
    counts = np.floor(quota).astype(int)
    rest = total - counts.sum()
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def _number(value, where, low, *, strict=True):
    """A finite float ``> low`` (``strict``) or ``>= low``; ``low=None``: any finite float."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        bound = "" if low is None else (f" > {low:g}" if strict else f" >= {low:g}")
        raise ValueError(f"{where} must be a finite number{bound}, got {value!r}.")
    return float(value)


def _per_modality(value, where, names, default, low, strict):
    if not isinstance(value, Mapping):
        value = dict.fromkeys(names, value)
    unknown = sorted(str(k) for k in value if k not in names)
    if unknown:
        raise ValueError(f"{where} names unknown modalities {unknown}; the cohort has {names}.")
    return {m: _number(value.get(m, default), f"{where}[{m!r}]", low, strict=strict) for m in names}


def _resolve(centre, index, names, spacing):
    """A centre with validated fields, per-modality gain/offset dicts and a spacing tuple."""
    if isinstance(centre, Mapping):
        fields = {f.name for f in dataclasses.fields(Centre)}
        unknown = sorted(str(k) for k in centre if k not in fields)
        if unknown:
            raise ValueError(
                f"centres[{index}] has unknown key(s) {unknown}; allowed: {sorted(fields)}."
            )
        centre = Centre(**{"name": f"C{index + 1}", **centre})
    elif not isinstance(centre, Centre):
        raise ValueError(
            f"centres[{index}] must be a Centre or a mapping of its fields, got {centre!r}."
        )
    where = f"centre {centre.name!r}"
    if not isinstance(centre.name, str) or not centre.name.strip():
        raise ValueError(
            f"centres[{index}]: the name must be a non-empty string, got {centre.name!r}."
        )
    own_spacing = spacing
    if centre.spacing is not None:
        own_spacing = check_triplet(centre.spacing, f"{where}: spacing", "numbers")
    return dataclasses.replace(
        centre,
        share=_number(centre.share, f"{where}: share", 0.0),
        gain=_per_modality(centre.gain, f"{where}: gain", names, 1.0, 0.0, True),
        offset=_per_modality(centre.offset, f"{where}: offset", names, 0.0, None, True),
        noise=_number(centre.noise, f"{where}: noise", 0.0),
        psf_mm=_number(centre.psf_mm, f"{where}: psf_mm", 0.0, strict=False),
        bias=_number(centre.bias, f"{where}: bias", 0.0, strict=False),
        spacing=own_spacing,
    )


def _spread(rng, k, half_width):
    """``k`` evenly spaced values over [-half_width, half_width] in a random order."""
    levels = np.linspace(-half_width, half_width, k) if k > 1 else np.zeros(1)
    return rng.permutation(levels)


def _draw(rng, k, names, spacing):
    """``k`` centres with effects drawn from ``rng``, clearly different from each other."""
    gains = {m: np.exp(_spread(rng, k, _LOG_GAIN_SPREAD)) for m in names}
    offsets = {m: _spread(rng, k, _OFFSET_SPREAD) for m in names}
    # One image-quality axis: a noisier scanner is also a sharper one, so that both effects move
    # texture features the same way instead of cancelling.
    quality = _spread(rng, k, 1.0)
    bias = np.exp(_spread(rng, k, _LOG_BIAS_SPREAD))
    shares = rng.uniform(0.6, 1.4, k)
    in_plane = np.exp(rng.uniform(np.log(0.8), np.log(1.25), k))
    through_plane = rng.uniform(0.75, 1.0, k)
    return [
        Centre(
            name=f"C{i + 1}",
            share=float(shares[i]),
            gain={m: float(gains[m][i]) for m in names},
            offset={m: float(offsets[m][i]) for m in names},
            noise=float(np.exp(_LOG_NOISE_SPREAD * quality[i])),
            psf_mm=float(_PSF_SPREAD_MM * (1.0 - quality[i])),
            bias=float(bias[i]),
            spacing=(
                round(spacing[0] * in_plane[i], 3),
                round(spacing[1] * in_plane[i], 3),
                round(spacing[2] * through_plane[i], 3),
            ),
        )
        for i in range(k)
    ]


def check_centres(centres, names, spacing, seed):
    """Resolved centres from the ``centres`` argument, or ``None`` for a single-centre cohort.

    ``seed`` (a SeedSequence) draws the effects of ``centres=<int>``.
    """
    if centres is None:
        return None
    if isinstance(centres, numbers.Integral) and not isinstance(centres, bool):
        if centres < 1:
            raise ValueError(f"centres must be at least 1, got {centres}.")
        centres = _draw(np.random.default_rng(seed), int(centres), names, spacing)
    elif isinstance(centres, (str, bytes, Mapping)) or not hasattr(centres, "__iter__"):
        raise ValueError(
            "centres must be None, a number of centres or a list of Centre objects or mappings "
            f"(one per centre), got {centres!r}."
        )
    resolved = [_resolve(c, i, names, spacing) for i, c in enumerate(centres)]
    if not resolved:
        raise ValueError("centres is empty: give at least one centre, or None for one centre.")
    seen = [c.name for c in resolved]
    duplicated = sorted({n for n in seen if seen.count(n) > 1})
    if duplicated:
        raise ValueError(f"centres names {duplicated} more than once; give each centre once.")
    return resolved


def _rates(value, where, names):
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping modality -> rate, got {value!r}.")
    unknown = sorted(str(k) for k in value if k not in names)
    if unknown:
        raise ValueError(f"{where} names unknown modalities {unknown}; the cohort has {names}.")
    rates = {}
    for m, rate in value.items():
        rate = _number(rate, f"{where}[{m!r}]", 0.0, strict=False)
        if rate >= 1.0:
            raise ValueError(
                f"{where}[{m!r}] = {rate:g}: a missing rate must be in [0, 1); a sequence that "
                "every patient lacks is not part of the cohort (leave it out of modalities)."
            )
        if rate > 0 and len(names) == 1:
            raise ValueError(
                f"{where}[{m!r}] = {rate:g} would leave patients with no sequence: the cohort "
                f"has only {m!r}."
            )
        rates[m] = rate
    return rates


def check_missing(missing, names, centre_names):
    """``{centre: {modality: rate}}`` from ``missing`` (``centre_names=None``: key ``None``).

    ``missing`` is ``None``, a global ``{modality: rate}`` or ``{centre: {modality: rate}}``.
    """
    keys = [None] if centre_names is None else list(centre_names)
    if missing is None:
        return {key: {} for key in keys}
    if not isinstance(missing, Mapping):
        raise ValueError(
            "missing must be None, a mapping modality -> rate or centre -> {modality: rate}, got "
            f"{missing!r}."
        )
    nested = [isinstance(v, Mapping) for v in missing.values()]
    if not any(nested):
        rates = _rates(missing, "missing", names)
        return {key: dict(rates) for key in keys}
    if not all(nested):
        raise ValueError(
            "missing mixes modality rates and per-centre mappings; give either "
            "{modality: rate} for every centre or {centre: {modality: rate}}."
        )
    if centre_names is None:
        raise ValueError(
            f"missing gives rates per centre ({sorted(map(str, missing))}) but centres is None; "
            "pass centres=, or a global {modality: rate}."
        )
    unknown = sorted(str(k) for k in missing if k not in centre_names)
    if unknown:
        raise ValueError(
            f"missing names unknown centres {unknown}; the centres are {list(centre_names)}."
        )
    return {key: _rates(missing.get(key, {}), f"missing[{key!r}]", names) for key in keys}


def assign_centres(rng, labels, centres):
    """Centre index per patient, stratified by class: each centre gets its share of each class."""
    shares = [c.share for c in centres]
    index = np.empty(len(labels), dtype=int)
    for label in (0, 1):
        rows = np.flatnonzero(labels == label)
        counts = largest_remainder(shares, len(rows))
        index[rows] = rng.permutation(np.repeat(np.arange(len(centres)), counts))
    return index


def draw_missing(rng, groups, rates, names, ids):
    """Boolean array (patients x modalities): True where the patient has the sequence.

    In each centre, ``rate * n`` (rounded half up) of its ``n`` patients lack a modality, drawn
    at random among those that keep another sequence, modality by modality in the cohort's order.
    """
    present = np.ones((len(groups), len(names)), dtype=bool)
    for key, centre_rates in rates.items():
        rows = np.flatnonzero(groups == key) if key is not None else np.arange(len(groups))
        for j, m in enumerate(names):
            n_lacking = int(np.floor(centre_rates.get(m, 0.0) * len(rows) + 0.5))
            candidates = rows[present[rows].sum(axis=1) >= 2]
            if n_lacking > len(candidates):
                where = "the cohort" if key is None else f"centre {key!r}"
                raise ValueError(
                    f"missing: {n_lacking} of the {len(rows)} patients of {where} should lack "
                    f"{m!r}, but only {len(candidates)} still have another sequence; a patient "
                    "must keep at least one sequence. Lower the missing rates."
                )
            present[rng.choice(candidates, n_lacking, replace=False), j] = False
    lost = [ids[i] for i in np.flatnonzero(~present.any(axis=1))]
    assert not lost, f"patients {lost} were left with no sequence"
    return present
