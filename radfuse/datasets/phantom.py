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

Optionally the patients come from several acquisition centres (``centres=``), each with its own
scanner effects: gain and offset per modality, noise level, point-spread blur, bias-field strength
and voxel spacing. Centres are assigned stratified by class, so the label is not confounded with
the centre, and the manifest gets a ``group`` column. Sequences can be missing (``missing=``), per
centre or globally: those patients have no file and no manifest row for them, and every patient
keeps at least one sequence.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from radfuse.datasets.centres import (
    assign_centres,
    check_centres,
    check_missing,
    check_triplet,
    draw_missing,
    largest_remainder,
)
from radfuse.datasets.lesion import MARGIN_VOXELS, MIN_SEMI_AXIS_MM, Patient, max_semi_axis, profile

__all__ = ["CLASS_NAMES", "make_phantom_cohort"]

#: What the labels of :func:`make_phantom_cohort` stand for (as in the reference study).
CLASS_NAMES = {0: "SCLC", 1: "NSCLC"}


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
    return largest_remainder(w, n_patients)


def _check_room(shape, spacing, where=""):
    """Raise unless the field of view holds the smallest lesion with the border margin."""
    if max_semi_axis(shape, spacing) >= MIN_SEMI_AXIS_MM:
        return
    fov = " x ".join(f"{n * s:g}" for n, s in zip(shape, spacing))
    needed = tuple(int(np.ceil(2 * MIN_SEMI_AXIS_MM / s + 2 * MARGIN_VOXELS + 1)) for s in spacing)
    raise ValueError(
        f"{where}shape={shape} with spacing={spacing} mm gives a field of view of {fov} mm, too "
        f"small for a lesion of at least {MIN_SEMI_AXIS_MM:g} mm semi-axis with a "
        f"{MARGIN_VOXELS}-voxel margin; at this spacing the shape must be at least {needed} "
        "voxels. Use a larger shape or spacing, e.g. the default (48, 48, 16) voxels of "
        "(0.9, 0.9, 3.0) mm."
    )


def _centre_shape(shape, spacing, centre):
    """The shape that keeps the cohort's field of view (mm) at the centre's spacing."""
    return tuple(max(1, int(np.floor(n * s / c + 0.5))) for n, s, c in zip(shape, spacing, centre))


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
    centres=None,
    missing=None,
    random_state=0,
    progress=True,
    overwrite=False,
):
    """Write a synthetic multi-modal MRI lesion cohort (NRRD images, masks and a manifest).

    For every patient and (present) modality one image and one lesion mask are written to
    ``out_dir/<patient_id>/<modality>.nrrd`` and ``out_dir/<patient_id>/<modality>_mask.nrrd``
    (gzip-compressed NRRD), and the long-form manifest ``out_dir/manifest.csv`` lists them with
    columns ``patient_id, modality, image, mask, label`` (paths relative to ``out_dir``) and
    ``group`` (the centre) when ``centres`` is given, the form that :func:`radfuse.read_manifest`
    reads.

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

    With ``centres``, each patient is scanned at one centre (see
    :class:`~radfuse.datasets.centres.Centre`): in each class, the centres get their share of the
    patients (largest remainder) in a random order, so labels are independent of the centre.
    The patients' anatomy and latents are the same draws as without centres; a neutral centre
    (all defaults) gives the single-centre images. Drawn centres (``centres=<int>``) differ in
    gain and offset by up to about +-30 % and +-8 % of white matter, in noise (x0.55 to x1.8, the
    noisier ones sharper: PSF 0 to 1.2 mm), bias field (x0.5 to x2) and spacing (in-plane x0.8 to
    x1.25, slices x0.75 to x1) and share of the patients (0.6 to 1.4, relative), enough to shift
    the per-centre means of first-order and texture features by more than half a standard
    deviation.

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
    centres : int, list of Centre or of mappings, or None, default=None
        Acquisition centres. ``None``: one centre, no scanner effects, no ``group`` column. An
        int ``k``: centres ``"C1"`` .. ``"Ck"`` with effects drawn from ``random_state``. A list:
        one :class:`~radfuse.datasets.centres.Centre` (or a mapping of its fields, ``name``
        defaulting to ``"C<i>"``) per centre: ``share`` of the patients, ``gain`` and ``offset``
        (per modality), ``noise``, ``psf_mm``, ``bias``, ``spacing``. A centre's images keep the
        field of view of ``shape`` x ``spacing`` (mm) at the centre's spacing.
    missing : mapping or None, default=None
        Missing sequences: ``{modality: rate}`` for every centre, or ``{centre: {modality:
        rate}}`` (e.g. ``{"C2": {"DWI": 0.5}}``). In each centre, ``rate * n`` (rounded half up)
        of its ``n`` patients lack the modality, drawn at random among those that still have another
        sequence (so a patient never lacks all); they have no file and no manifest row for it.
        Rates are in [0, 1).
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
        index ``patient_id``), ``groups`` (Series of centre names, index ``patient_id``, or None
        without ``centres``), ``centres`` (the resolved list of ``Centre``, or None),
        ``target_names`` (``["SCLC", "NSCLC"]``) and ``DESCR``.

    Raises
    ------
    ValueError
        If ``n_patients`` is not a positive integer, ``weights`` are not two non-negative numbers,
        a modality name is empty, repeated or contains ``"__"``, ``shape`` or ``spacing`` are not
        three positive values or give a field of view too small to hold a lesion (also at a
        centre's spacing), a centre is invalid (unknown field or modality, non-positive share,
        gain, noise or spacing, negative psf_mm or bias, a repeated name), ``missing`` names an
        unknown centre or modality, gives a rate outside [0, 1) or would leave a patient without
        any sequence, or ``out_dir`` is not empty and ``overwrite`` is False.

    Examples
    --------
    >>> from radfuse.datasets import make_phantom_cohort
    >>> cohort = make_phantom_cohort("phantom", n_patients=20, progress=False)  # doctest: +SKIP
    >>> cohort.manifest.head(3)  # doctest: +SKIP
      patient_id modality           image                 mask  label
    0       P001     T1WI   P001/T1WI.nrrd  P001/T1WI_mask.nrrd      1
    ...
    >>> multi = make_phantom_cohort(
    ...     "multi", n_patients=30, centres=3, missing={"C2": {"DWI": 0.5}}, progress=False
    ... )  # doctest: +SKIP
    >>> multi.groups.value_counts()  # doctest: +SKIP
    """
    n_patients = _check_n_patients(n_patients)
    names = _check_modalities(modalities)
    counts = _class_counts(weights, n_patients)
    shape = check_triplet(shape, "shape", "integers")
    spacing = check_triplet(spacing, "spacing", "numbers")
    _check_room(shape, spacing)
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be True or False, got {overwrite!r}.")
    seeds = _seed_sequence(random_state)
    label_rng, *patient_seeds = (np.random.default_rng(s) for s in seeds.spawn(n_patients + 1))
    labels = label_rng.permutation(np.repeat([0, 1], counts))
    # Centres and missing sequences draw from streams of their own: the patients' draws stay those
    # of the single-centre cohort.
    centre_seed, assign_seed, missing_seed = seeds.spawn(3)
    resolved = check_centres(centres, names, spacing, centre_seed)
    geometry = [(shape, spacing)]
    if resolved is not None:
        geometry = [(_centre_shape(shape, spacing, c.spacing), c.spacing) for c in resolved]
        for c, (own_shape, own_spacing) in zip(resolved, geometry):
            _check_room(own_shape, own_spacing, f"centre {c.name!r}: ")
    rates = check_missing(missing, names, None if resolved is None else [c.name for c in resolved])

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a folder; give a folder path.")
    width = max(3, len(str(n_patients)))
    ids = [f"P{i + 1:0{width}d}" for i in range(n_patients)]
    where = np.zeros(n_patients, dtype=int)
    if resolved is not None:
        where = assign_centres(np.random.default_rng(assign_seed), labels, resolved)
    group_names = np.array([None if resolved is None else resolved[i].name for i in where])
    present = draw_missing(np.random.default_rng(missing_seed), group_names, rates, names, ids)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"out_dir {str(out)!r} is not empty; pass overwrite=True to replace a phantom "
                "cohort there, or give an empty or new folder."
            )
        _remove_previous(out)
    out.mkdir(parents=True, exist_ok=True)

    profiles = {m: profile(m) for m in names}

    from tqdm.auto import tqdm

    rows, latents = [], []
    for i, (pid, label, rng) in tqdm(
        enumerate(zip(ids, labels, patient_seeds)),
        total=n_patients,
        desc="phantom cohort",
        unit="patient",
        disable=not progress,
    ):
        centre = None if resolved is None else resolved[where[i]]
        own_shape, own_spacing = geometry[where[i]]
        patient = Patient(rng, int(label), own_shape[::-1], own_spacing[::-1], names)
        latents.append({"patient_id": pid, **patient.latent})
        # Each patient is a crop somewhere in the head: its own origin, shared by its modalities.
        middle = rng.uniform([-40, -40, -30], [40, 40, 30])
        origin = tuple(float(c - n * s / 2) for c, n, s in zip(middle, own_shape, own_spacing))
        folder = out / pid
        folder.mkdir(exist_ok=True)
        mask = patient.mask.astype(np.uint8)
        for j, m in enumerate(names):
            # Rendered even when missing, so that the other sequences keep their random draws.
            image = patient.image(m, profiles[m], centre)
            if not present[i, j]:
                continue
            image = np.clip(np.rint(image), 0, np.iinfo(np.int16).max)
            _write(image, folder / f"{m}.nrrd", np.int16, own_spacing, origin)
            _write(mask, folder / f"{m}_mask.nrrd", np.uint8, own_spacing, origin)
            row = {
                "patient_id": pid,
                "modality": m,
                "image": f"{pid}/{m}.nrrd",
                "mask": f"{pid}/{m}_mask.nrrd",
                "label": int(label),
            }
            if centre is not None:
                row["group"] = centre.name
            rows.append(row)

    columns = ["patient_id", "modality", "image", "mask", "label"]
    manifest = pd.DataFrame(rows, columns=columns + ([] if resolved is None else ["group"]))
    manifest_path = out / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    y = pd.Series(labels.astype(int), index=pd.Index(ids, name="patient_id"), name="label")
    latent = pd.DataFrame(latents).set_index("patient_id")
    groups = None
    if resolved is not None:
        groups = pd.Series(group_names, index=y.index, name="group")
    return Bunch(
        manifest_path=manifest_path,
        manifest=manifest,
        out_dir=out,
        y=y,
        latent=latent,
        groups=groups,
        centres=resolved,
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
