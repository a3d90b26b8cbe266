"""Reading one case's image and mask, and the checks PyRadiomics would otherwise only log."""

from __future__ import annotations

import os

import numpy as np
import SimpleITK as sitk

__all__ = [
    "CaseError",
    "check_finite",
    "check_geometry",
    "check_mask",
    "check_shape_dimension",
    "read_image",
]


class CaseError(Exception):
    """A problem with one case's files or mask (becomes a row of the error table)."""


def read_image(path: str, what: str):
    """Read ``path`` with SimpleITK; ``what`` (``"image"``, ``"mask"``) names it in errors."""
    if not os.path.isfile(path):
        raise CaseError(f"{what} file not found: {path}. Check the path in the manifest.")
    try:
        return sitk.ReadImage(path)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next(
            (ln for ln in first if "ERROR" in ln or "rror" in ln), first[0] if first else ""
        )
        raise CaseError(
            f"cannot read {what} file {path} (unreadable or corrupt): {detail.strip()[:300]}"
        ) from None


def check_geometry(image, mask, tolerance: float, resample_mask: bool):
    """Compare image and mask grids; return the mask (resampled onto the image if allowed)."""
    diffs = []
    if image.GetDimension() != mask.GetDimension():
        raise CaseError(
            f"image is {image.GetDimension()}D but mask is {mask.GetDimension()}D; they must "
            "have the same number of dimensions."
        )
    if image.GetSize() != mask.GetSize():
        diffs.append(f"size (image {image.GetSize()}, mask {mask.GetSize()})")
    spacing_i, spacing_m = np.array(image.GetSpacing()), np.array(mask.GetSpacing())
    scale = float(np.min(spacing_i))
    if np.any(np.abs(spacing_i - spacing_m) > tolerance * scale):
        diffs.append(f"spacing (image {image.GetSpacing()}, mask {mask.GetSpacing()})")
    origin_i, origin_m = np.array(image.GetOrigin()), np.array(mask.GetOrigin())
    if np.any(np.abs(origin_i - origin_m) > tolerance * scale):
        diffs.append(f"origin (image {image.GetOrigin()}, mask {mask.GetOrigin()})")
    dir_i, dir_m = np.array(image.GetDirection()), np.array(mask.GetDirection())
    if np.any(np.abs(dir_i - dir_m) > tolerance):
        diffs.append(f"direction (image {image.GetDirection()}, mask {mask.GetDirection()})")
    if not diffs:
        return mask
    if not resample_mask:
        raise CaseError(
            "image and mask grids differ in "
            + ", ".join(diffs)
            + ". Fix the mask, or pass resample_mask=True to resample the mask onto the image "
            "grid (nearest neighbour)."
        )
    return sitk.Resample(
        mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID()
    )


def check_mask(mask, label: int) -> None:
    """Raise :class:`CaseError` unless ``mask`` has at least two voxels with ``label``."""
    arr = sitk.GetArrayViewFromImage(mask)
    n = int(np.count_nonzero(arr == label))
    if n == 0:
        present = np.unique(arr)
        present = present[present != 0]
        if present.size == 0:
            raise CaseError("mask is empty (no labelled voxel); nothing to extract.")
        raise CaseError(
            f"mask has no voxel with label {label} (labels present: "
            f"{[int(v) for v in present[:10]]}). Set the label in the spec or a "
            "'label_value' column in the manifest."
        )
    if n == 1:
        raise CaseError(
            f"mask has a single voxel with label {label}: texture and shape features need a "
            "region of several voxels."
        )


def check_finite(image, mask, label: int, path: str) -> None:
    """Raise :class:`CaseError` if the image has NaN or infinite voxels inside the mask.

    PyRadiomics would fail with an unrelated NumPy message (``arange: cannot compute length``)
    or return NaN features. Integer images cannot hold such values and are not scanned.
    """
    arr = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(arr.dtype, np.floating):
        return
    values = arr[sitk.GetArrayViewFromImage(mask) == label]
    n_nan = int(np.count_nonzero(np.isnan(values)))
    n_inf = int(np.count_nonzero(np.isinf(values)))
    if n_nan or n_inf:
        raise CaseError(
            f"image file {path} has {n_nan} NaN and {n_inf} infinite voxel(s) among the "
            f"{values.size} voxels with label {label}; features need finite intensities. Fix "
            "the image (or exclude those voxels from the mask)."
        )


def check_shape_dimension(image, path: str, enabled_classes) -> None:
    """Raise :class:`CaseError` for a 2-D image when 3-D ``shape`` features are enabled.

    PyRadiomics skips 3-D shape on a 2-D image file with only a log message: 14 shape
    features would be missing from a block that is otherwise present. A 3-D image (or mask)
    one slice thick is computed as a slab: its values are finite (``Flatness`` 0).
    """
    if image.GetDimension() == 2 and "shape" in enabled_classes:
        raise CaseError(
            f"image file {path} is 2-D (size {image.GetSize()}) but the spec enables the 3-D "
            "'shape' feature class, which PyRadiomics cannot compute on it. For 2-D images use "
            "a spec with setting 'force2D: true' and feature class 'shape2D' instead of 'shape'."
        )
