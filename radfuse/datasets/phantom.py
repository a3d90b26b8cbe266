"""A synthetic multi-modal MRI cohort of lesions with masks, written as NRRD files.

The phantom stands in for the reference study (brain metastases of small-cell (SCLC) versus
non-small-cell (NSCLC) lung cancer on T1WI, FLAIR and DWI) so that the whole radfuse job, from
images to benchmark, runs without any download.

Each patient has one lesion whose geometry (an irregular, randomly rotated ellipsoid) is shared by
all of the patient's modalities, inside a small field of view with anisotropic MRI spacing,
brain-like background tissue (white matter, grey matter, CSF), peritumoral oedema, a necrotic core
in some lesions, a smooth bias field, Rician noise and a per-scan intensity gain.

What the lesion looks like is driven by a few patient-level latent variables that are shared by all
modalities (``cellularity``, ``heterogeneity``, ``necrosis``, ``size``) plus one private latent per
modality. The class shifts the mean of each latent by a fraction of its standard deviation, so the
label is learnable from radiomics features but not trivially (a logistic regression on first-order
and GLCM features of the original images reaches an AUC of roughly 0.8), each modality carries part
of the signal in its own way, and a missing modality is partly predictable from the others.
The class effects follow the radiological picture only loosely: SCLC lesions are on average smaller,
more cellular (brighter on DWI, darker on T1WI) and more homogeneous; NSCLC lesions are larger, more
heterogeneous and more often necrotic.
"""

from __future__ import annotations

import numbers
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial.transform import Rotation
from sklearn.utils import Bunch

__all__ = ["CLASS_NAMES", "make_phantom_cohort"]

#: What the labels of :func:`make_phantom_cohort` stand for (as in the reference study).
CLASS_NAMES = {0: "SCLC", 1: "NSCLC"}

# Smallest lesion semi-axis (mm) that the field of view must hold, and voxels kept free between the
# lesion and the border of the volume (PyRadiomics pads the bounding box for its filters).
_MIN_SEMI_AXIS_MM = 4.0
_MARGIN_VOXELS = 2
_MIN_LESION_VOXELS = 40

# Class effects: the difference of the latent means between NSCLC (1) and SCLC (0), in units of the
# latent standard deviation. Tuned so that the cohort is learnable but not separable.
_CLASS_SHIFT = {
    "cellularity": -0.45,
    "heterogeneity": 0.45,
    "necrosis": 0.4,
    "size": 0.3,
    "private": 0.7,
}
# Correlation between a shared latent and its expression in one modality.
_SHARED_EXPRESSION = 0.7
# How strongly the shared texture pattern repeats across a patient's modalities (the same tissue).
_SHARED_TEXTURE_WEIGHT = 0.75


@dataclass(frozen=True)
class _Profile:
    """Intensities (arbitrary scanner units) and how the lesion responds to the latents."""

    white_matter: float
    grey_matter: float
    csf: float
    lesion: float
    necrosis: float
    oedema: float
    noise: float  # Rician noise sigma as a fraction of the white-matter intensity
    blur_mm: float  # in-plane point-spread (lower effective resolution, e.g. EPI for DWI)
    cellularity: float  # relative change of the lesion intensity per latent SD
    private: float  # relative change of the lesion intensity per SD of the private latent
    texture: float  # relative amplitude of the lesion texture at heterogeneity 0
    texture_sign: float  # sign of the shared texture pattern in this contrast


# Built-in intensity profiles. A modality name not listed here gets a profile derived
# deterministically from its name.
_PROFILES: dict[str, _Profile] = {
    "T1WI": _Profile(820, 620, 260, 560, 300, 520, 0.025, 0.0, -0.07, 0.15, 0.09, 1.0),
    "T1CE": _Profile(820, 620, 260, 950, 300, 520, 0.025, 0.0, 0.05, 0.15, 0.12, 1.0),
    "T2WI": _Profile(420, 560, 1300, 660, 1000, 900, 0.03, 0.0, -0.06, 0.15, 0.10, -1.0),
    "FLAIR": _Profile(430, 520, 90, 640, 380, 820, 0.03, 0.0, -0.05, 0.15, 0.10, -1.0),
    "DWI": _Profile(105, 115, 35, 140, 55, 95, 0.06, 1.2, 0.12, 0.15, 0.08, 1.0),
    "ADC": _Profile(750, 850, 3000, 900, 1900, 1300, 0.05, 1.2, -0.12, 0.15, 0.08, -1.0),
}


def _derived_profile(name: str) -> _Profile:
    """A plausible, reproducible profile for a modality name without a built-in one."""
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    wm = float(rng.uniform(200, 900))
    return _Profile(
        white_matter=wm,
        grey_matter=wm * rng.uniform(0.7, 1.3),
        csf=wm * rng.uniform(0.1, 2.5),
        lesion=wm * rng.uniform(0.6, 1.6),
        necrosis=wm * rng.uniform(0.3, 2.0),
        oedema=wm * rng.uniform(0.6, 1.8),
        noise=float(rng.uniform(0.02, 0.05)),
        blur_mm=float(rng.choice([0.0, 1.0])),
        cellularity=float(rng.uniform(-0.1, 0.1)),
        private=float(rng.uniform(0.05, 0.09)),
        texture=float(rng.uniform(0.07, 0.11)),
        texture_sign=float(rng.choice([-1.0, 1.0])),
    )


# --------------------------------------------------------------------------------------------------
# input checks


def _check_n_patients(n_patients):
    if isinstance(n_patients, bool) or not isinstance(n_patients, numbers.Integral):
        raise ValueError(f"n_patients must be a positive integer, got {n_patients!r}.")
    if n_patients <= 0:
        raise ValueError(f"n_patients must be a positive integer, got {n_patients}.")
    return int(n_patients)


def _check_modalities(modalities):
    if isinstance(modalities, str) or not hasattr(modalities, "__iter__"):
        raise ValueError(
            f"modalities must be a sequence of names such as ('T1WI', 'FLAIR', 'DWI'), got "
            f"{modalities!r}."
        )
    names = list(modalities)
    if not names:
        raise ValueError("modalities is empty: give at least one modality name, e.g. ('T1WI',).")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Every modality name must be a non-empty string, got {name!r}.")
        if "__" in name or "/" in name or "\\" in name or name != name.strip():
            raise ValueError(
                f"Modality name {name!r} is not allowed: it is used in file names and in feature "
                "columns '<MODALITY>__<feature>', so it must not contain '__', '/', '\\' or "
                "surrounding spaces."
            )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"modalities names {duplicated} more than once; give each modality once.")
    return names


def _class_counts(weights, n_patients):
    """Class counts from relative frequencies, exact when the weights sum to ``n_patients``."""
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"weights must be two non-negative numbers (SCLC, NSCLC), got {weights!r}."
        ) from None
    if w.shape != (2,):
        raise ValueError(
            f"weights must give two numbers, one per class (0 = SCLC, 1 = NSCLC), got {weights!r}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"weights must be finite, non-negative and not all zero, got {weights!r}; give class "
            "counts such as (100, 179) or proportions such as (0.36, 0.64)."
        )
    # Largest-remainder rounding keeps the total at n_patients.
    quota = w / w.sum() * n_patients
    counts = np.floor(quota).astype(int)
    rest = n_patients - counts.sum()
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def _check_triplet(value, name, kind):
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


def _max_semi_axis(shape, spacing):
    """Largest lesion semi-axis (mm) that fits the field of view with the border margin."""
    return min((n / 2 - _MARGIN_VOXELS - 0.5) * s for n, s in zip(shape, spacing))


def _seed_sequence(random_state):
    if random_state is None or isinstance(random_state, numbers.Integral):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}.")
        return np.random.SeedSequence(random_state)
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(2**31)))
    raise ValueError(
        f"random_state must be None, an integer or a NumPy random generator, got {random_state!r}."
    )


# --------------------------------------------------------------------------------------------------
# the generator


def _smooth_noise(rng, shape_zyx, sigma_mm, spacing_zyx):
    """Unit-variance Gaussian random field with correlation length ``sigma_mm``."""
    sigma = [sigma_mm / s for s in spacing_zyx]
    field = ndimage.gaussian_filter(rng.standard_normal(shape_zyx), sigma, mode="wrap")
    return (field - field.mean()) / field.std()


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class _Patient:
    """One patient's anatomy: lesion mask, necrosis and oedema maps, tissues, latents."""

    def __init__(self, rng, label, shape_zyx, spacing_zyx, modalities):
        self.rng = rng
        self.shape = shape_zyx
        self.spacing = spacing_zyx
        sign = 1.0 if label == 1 else -1.0
        latent = {
            k: float(rng.normal(sign * _CLASS_SHIFT[k] / 2, 1.0))
            for k in ("cellularity", "heterogeneity", "necrosis", "size")
        }
        for m in modalities:
            latent[f"private_{m}"] = float(rng.normal(sign * _CLASS_SHIFT["private"] / 2, 1.0))
        self.latent = latent

        self.mask = self._lesion(latent["size"])
        inside_mm = ndimage.distance_transform_edt(self.mask, sampling=spacing_zyx)
        outside_mm = ndimage.distance_transform_edt(~self.mask, sampling=spacing_zyx)

        # Necrotic core: the deepest part of the lesion, larger with the necrosis latent.
        depth = inside_mm / inside_mm.max()
        core_fraction = 0.7 * _sigmoid(1.6 * (latent["necrosis"] - 0.6))
        wobble = 0.08 * _smooth_noise(rng, shape_zyx, 2.0, spacing_zyx)
        self.necrosis = _sigmoid((depth + wobble - (1.0 - core_fraction)) / 0.06) * self.mask
        if core_fraction < 0.08:
            self.necrosis[:] = 0.0

        # Oedema: an irregular halo around the lesion, outside the mask.
        reach = rng.uniform(1.5, 7.0)
        halo = outside_mm * np.exp(0.35 * _smooth_noise(rng, shape_zyx, 4.0, spacing_zyx))
        self.oedema = np.exp(-halo / reach) * (~self.mask)

        # Background: white/grey matter mix with sulcal CSF, smooth at the scale of a few mm.
        self.white = _sigmoid(2.5 * _smooth_noise(rng, shape_zyx, 4.0, spacing_zyx))
        self.csf = _sigmoid(5.0 * (_smooth_noise(rng, shape_zyx, 2.5, spacing_zyx) - 1.5))
        self.fine = _smooth_noise(rng, shape_zyx, 1.0, spacing_zyx)

        # Lesion tissue texture shared by all modalities: coarser and stronger when heterogeneous.
        self.texture_scale_mm = 1.1 * float(np.exp(0.3 * latent["heterogeneity"]))
        self.shared_texture = _smooth_noise(rng, shape_zyx, self.texture_scale_mm, spacing_zyx)
        # Partial-volume edge of the lesion (the mask itself stays binary).
        self.soft_mask = ndimage.gaussian_filter(
            self.mask.astype(float), [0.4 / s * min(spacing_zyx) for s in spacing_zyx]
        )

    def _lesion(self, size_latent):
        rng, shape, spacing = self.rng, self.shape, self.spacing
        grid = np.stack(
            np.meshgrid(
                *[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)], indexing="ij"
            ),
            axis=-1,
        )
        limit = _max_semi_axis(shape[::-1], spacing[::-1])
        radius = min(7.0 * np.exp(0.22 * size_latent), 11.0, 0.8 * limit)
        radius = max(radius, _MIN_SEMI_AXIS_MM)
        irregularity = rng.uniform(0.08, 0.3)
        # A uniformly random rotation from a normalised Gaussian quaternion.
        rotation = Rotation.from_quat(rng.standard_normal(4)).as_matrix()
        roughness = _smooth_noise(rng, shape, 3.0, spacing)
        for _ in range(30):
            axes = radius * np.exp(rng.normal(0.0, 0.15, size=3))
            local = grid @ rotation / axes
            mask = np.linalg.norm(local, axis=-1) + irregularity * roughness < 1.0
            labels, n = ndimage.label(mask)
            if n > 1:  # keep the largest connected piece: one lesion
                sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
                mask = labels == 1 + int(np.argmax(sizes))
            mask = ndimage.binary_fill_holes(mask)
            if mask.sum() < _MIN_LESION_VOXELS:
                radius *= 1.15
                continue
            # Move the lesion to a random position that keeps the border margin free.
            shift = []
            for axis, n in enumerate(shape):
                hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
                low, high = _MARGIN_VOXELS - hit[0], n - 1 - _MARGIN_VOXELS - hit[-1]
                if low > high:
                    break
                shift.append(int(rng.integers(low, high + 1)))
            else:
                return np.roll(mask, shift, axis=(0, 1, 2))
            radius *= 0.85
        raise RuntimeError(  # unreachable for fields of view that pass the shape check
            "Could not place a lesion in the field of view; use a larger shape or spacing."
        )

    def image(self, name, profile):
        """The patient's image in modality ``name`` as a float array (z, y, x)."""
        rng, lat = self.rng, self.latent
        p = profile
        tissue = self.white * p.white_matter + (1 - self.white) * p.grey_matter
        tissue = (1 - self.csf) * tissue + self.csf * p.csf
        tissue = tissue * (1 + 0.03 * self.fine)
        tissue = (1 - self.oedema) * tissue + self.oedema * p.oedema

        private = lat[f"private_{name}"]
        # Each contrast sees the shared latents through its own physics and partial volume: only a
        # part of them is common, so one modality alone does not carry all of the signal.
        cellularity, heterogeneity = (
            _SHARED_EXPRESSION * lat[k] + np.sqrt(1 - _SHARED_EXPRESSION**2) * rng.normal()
            for k in ("cellularity", "heterogeneity")
        )
        level = p.lesion * float(
            np.exp(p.cellularity * cellularity + p.private * private + rng.normal(0, 0.04))
        )
        own = _smooth_noise(rng, self.shape, self.texture_scale_mm, self.spacing)
        texture = (
            p.texture_sign * _SHARED_TEXTURE_WEIGHT * self.shared_texture
            + np.sqrt(1 - _SHARED_TEXTURE_WEIGHT**2) * own
        )
        # Soft limits on the texture keep the lesion's grey-level range (and so PyRadiomics'
        # matrix sizes and run time) in the range of real MRI.
        texture = 2.0 * np.tanh(texture / 2.0)
        amplitude = p.texture * min(float(np.exp(0.3 * heterogeneity + 0.3 * private)), 2.5)
        lesion = level * np.exp(amplitude * texture)
        # How visible the necrotic core is varies between contrasts and scans.
        necrosis = p.necrosis + (p.lesion - p.necrosis) * rng.uniform(0.0, 0.6)
        lesion = (1 - self.necrosis) * lesion + self.necrosis * necrosis * (1 + 0.1 * texture)
        image = (1 - self.soft_mask) * tissue + self.soft_mask * lesion

        if p.blur_mm > 0:
            image = ndimage.gaussian_filter(
                image, [0.0, p.blur_mm / self.spacing[1], p.blur_mm / self.spacing[2]]
            )
        # Smooth multiplicative bias field and a per-scan gain.
        axes = [np.linspace(-1, 1, n) for n in self.shape]
        z, y, x = np.meshgrid(*axes, indexing="ij")
        c = rng.normal(0, 0.06, size=6)
        bias = np.exp(c[0] * x + c[1] * y + c[2] * z + c[3] * x * y + c[4] * x**2 + c[5] * y**2)
        image = image * bias * float(np.exp(rng.normal(0, 0.1)))
        # Rician magnitude noise.
        sigma = p.noise * p.white_matter
        real = image + rng.normal(0, sigma, self.shape)
        imag = rng.normal(0, sigma, self.shape)
        return np.sqrt(real**2 + imag**2)


def _write(array, path, dtype, spacing, origin):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array.astype(dtype))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(img, str(path), True)


def make_phantom_cohort(
    out_dir,
    n_patients=279,
    modalities=("T1WI", "FLAIR", "DWI"),
    weights=(100, 179),
    shape=(48, 48, 16),
    spacing=(0.9, 0.9, 3.0),
    random_state=0,
    progress=True,
    overwrite=False,
):
    """Write a synthetic multi-modal MRI lesion cohort (NRRD images, masks and a manifest).

    For every patient and modality one image and one lesion mask are written to
    ``out_dir/<patient_id>/<modality>.nrrd`` and ``out_dir/<patient_id>/<modality>_mask.nrrd``
    (gzip-compressed NRRD), and the long-form manifest ``out_dir/manifest.csv`` lists them with
    columns ``patient_id, modality, image, mask, label`` (paths relative to ``out_dir``), the form
    that :func:`radfuse.read_manifest` reads.

    The lesion (an irregular, randomly rotated ellipsoid of about 4 to 15 mm semi-axis at a
    random position) has the same geometry in all of a patient's modalities: the masks of one
    patient are identical, and all of a patient's images share size, spacing, origin and
    direction. Images hold brain-like background tissue, peritumoral oedema, a necrotic core in
    some lesions, a smooth bias field, a per-scan gain and Rician noise, with a contrast profile
    per modality (T1WI, T1CE, T2WI, FLAIR, DWI and ADC are built in; any other name gets a
    plausible profile derived reproducibly from the name). Images are stored as int16, masks as
    uint8 with label 1. Each patient folder has its own origin (a crop somewhere in the head);
    the direction is the identity.

    The class changes the mean of patient-level latents shared by all modalities (lesion size,
    cellularity, heterogeneity, necrosis) and of one private latent per modality, by 0.3 to 0.7 of
    their standard deviation. Texture and intensity statistics therefore differ
    between classes in a different way in each modality and are correlated across a patient's
    modalities, and the task is learnable but not trivial: a cross-validated logistic regression on
    first-order and GLCM features of the three original images gives an AUC of roughly 0.8.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write to. Created if missing; must be empty unless ``overwrite=True``.
    n_patients : int, default=279
        Number of patients (the size of the reference study).
    modalities : sequence of str, default=("T1WI", "FLAIR", "DWI")
        Modality names, used in file names and later in feature columns ``<MODALITY>__<feature>``.
    weights : pair of float, default=(100, 179)
        Relative class frequencies of label 0 (SCLC) and label 1 (NSCLC). When they sum to
        ``n_patients`` they are the exact class counts (the default gives the reference study's 100
        SCLC and 179 NSCLC patients); otherwise they are scaled to ``n_patients`` with
        largest-remainder rounding, so proportions such as ``(0.5, 0.5)`` work too.
    shape : tuple of 3 int, default=(48, 48, 16)
        Image size in voxels, in (x, y, z) order as SimpleITK's ``GetSize()``.
    spacing : tuple of 3 float, default=(0.9, 0.9, 3.0)
        Voxel spacing in mm, (x, y, z): in-plane resolution and slice thickness of a clinical MRI.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, default=0
        Seed. The same integer and arguments give byte-identical files.
    progress : bool, default=True
        Show a tqdm progress bar over patients.
    overwrite : bool, default=False
        Allow a non-empty ``out_dir``: the manifest and the phantom's patient folders are replaced
        (other files in ``out_dir`` are left alone).

    Returns
    -------
    cohort : sklearn.utils.Bunch
        ``manifest_path`` (Path of ``manifest.csv``), ``manifest`` (the manifest as a DataFrame,
        paths relative to ``out_dir``), ``out_dir`` (Path), ``y`` (Series of labels, index
        ``patient_id``), ``latent`` (DataFrame of the ground-truth latent variables per patient,
        index ``patient_id``), ``target_names`` (``["SCLC", "NSCLC"]``) and ``DESCR``.

    Raises
    ------
    ValueError
        If ``n_patients`` is not a positive integer, ``weights`` are not two non-negative numbers,
        a modality name is empty, repeated or contains ``"__"``, ``shape`` or ``spacing`` are not
        three positive values or give a field of view too small to hold a lesion, or ``out_dir`` is
        not empty and ``overwrite`` is False.

    Examples
    --------
    >>> from radfuse.datasets import make_phantom_cohort
    >>> cohort = make_phantom_cohort("phantom", n_patients=20, progress=False)  # doctest: +SKIP
    >>> cohort.manifest.head(3)  # doctest: +SKIP
      patient_id modality           image                 mask  label
    0       P001     T1WI   P001/T1WI.nrrd  P001/T1WI_mask.nrrd      1
    ...
    """
    n_patients = _check_n_patients(n_patients)
    names = _check_modalities(modalities)
    counts = _class_counts(weights, n_patients)
    shape = _check_triplet(shape, "shape", "integers")
    spacing = _check_triplet(spacing, "spacing", "numbers")
    room = _max_semi_axis(shape, spacing)
    if room < _MIN_SEMI_AXIS_MM:
        fov = " x ".join(f"{n * s:g}" for n, s in zip(shape, spacing))
        needed = tuple(
            int(np.ceil(2 * _MIN_SEMI_AXIS_MM / s + 2 * _MARGIN_VOXELS + 1)) for s in spacing
        )
        raise ValueError(
            f"shape={shape} with spacing={spacing} mm gives a field of view of {fov} mm, too small "
            f"for a lesion of at least {_MIN_SEMI_AXIS_MM:g} mm semi-axis with a "
            f"{_MARGIN_VOXELS}-voxel margin; at this spacing the shape must be at least {needed} "
            "voxels. Use a larger shape or spacing, e.g. the default (48, 48, 16) voxels of "
            "(0.9, 0.9, 3.0) mm."
        )
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be True or False, got {overwrite!r}.")
    seeds = _seed_sequence(random_state)

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a folder; give a folder path.")
    width = max(3, len(str(n_patients)))
    ids = [f"P{i + 1:0{width}d}" for i in range(n_patients)]
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"out_dir {str(out)!r} is not empty; pass overwrite=True to replace a phantom "
                "cohort there, or give an empty or new folder."
            )
        _remove_previous(out)
    out.mkdir(parents=True, exist_ok=True)

    label_rng, *patient_seeds = (np.random.default_rng(s) for s in seeds.spawn(n_patients + 1))
    labels = label_rng.permutation(np.repeat([0, 1], counts))
    profiles = {m: _PROFILES.get(m) or _derived_profile(m) for m in names}
    spacing_zyx = spacing[::-1]
    shape_zyx = shape[::-1]

    from tqdm.auto import tqdm

    rows, latents = [], []
    for pid, label, rng in tqdm(
        list(zip(ids, labels, patient_seeds)),
        desc="phantom cohort",
        unit="patient",
        disable=not progress,
    ):
        patient = _Patient(rng, int(label), shape_zyx, spacing_zyx, names)
        latents.append({"patient_id": pid, **patient.latent})
        # Each patient is a crop somewhere in the head: its own origin, shared by its modalities.
        centre = rng.uniform([-40, -40, -30], [40, 40, 30])
        origin = tuple(float(c - n * s / 2) for c, n, s in zip(centre, shape, spacing))
        folder = out / pid
        folder.mkdir(exist_ok=True)
        mask = patient.mask.astype(np.uint8)
        for m in names:
            image = np.clip(np.rint(patient.image(m, profiles[m])), 0, np.iinfo(np.int16).max)
            _write(image, folder / f"{m}.nrrd", np.int16, spacing, origin)
            _write(mask, folder / f"{m}_mask.nrrd", np.uint8, spacing, origin)
            rows.append(
                {
                    "patient_id": pid,
                    "modality": m,
                    "image": f"{pid}/{m}.nrrd",
                    "mask": f"{pid}/{m}_mask.nrrd",
                    "label": int(label),
                }
            )

    manifest = pd.DataFrame(rows, columns=["patient_id", "modality", "image", "mask", "label"])
    manifest_path = out / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    y = pd.Series(labels.astype(int), index=pd.Index(ids, name="patient_id"), name="label")
    latent = pd.DataFrame(latents).set_index("patient_id")
    return Bunch(
        manifest_path=manifest_path,
        manifest=manifest,
        out_dir=out,
        y=y,
        latent=latent,
        target_names=[CLASS_NAMES[0], CLASS_NAMES[1]],
        DESCR=__doc__,
    )


def _remove_previous(out):
    """Remove what an earlier call wrote: the manifest and its patient folders, nothing else."""
    manifest = out / "manifest.csv"
    if manifest.is_file():
        previous = pd.read_csv(manifest)
        for column in ("image", "mask"):
            for rel in previous.get(column, []):
                path = (out / str(rel)).resolve()
                inside = path.is_relative_to(out.resolve())
                if inside and path.is_file() and path.suffix == ".nrrd":
                    path.unlink()
        for pid in previous.get("patient_id", []):
            folder = out / str(pid)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        manifest.unlink()
