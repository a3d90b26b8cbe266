"""The phantom's anatomy and images: lesion geometry, tissues, contrast profiles, noise.

:class:`Patient` draws one patient's lesion and tissue maps from its random generator and renders
them in any modality; :func:`radfuse.datasets.make_phantom_cohort` writes the files.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

__all__ = ["MARGIN_VOXELS", "MIN_SEMI_AXIS_MM", "PROFILES", "Patient", "max_semi_axis", "profile"]

# Smallest lesion semi-axis (mm) that the field of view must hold, and voxels kept free between the
# lesion and the border of the volume (PyRadiomics pads the bounding box for its filters).
MIN_SEMI_AXIS_MM = 4.0
MARGIN_VOXELS = 2
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
class Profile:
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
PROFILES: dict[str, Profile] = {
    "T1WI": Profile(820, 620, 260, 560, 300, 520, 0.025, 0.0, -0.07, 0.15, 0.09, 1.0),
    "T1CE": Profile(820, 620, 260, 950, 300, 520, 0.025, 0.0, 0.05, 0.15, 0.12, 1.0),
    "T2WI": Profile(420, 560, 1300, 660, 1000, 900, 0.03, 0.0, -0.06, 0.15, 0.10, -1.0),
    "FLAIR": Profile(430, 520, 90, 640, 380, 820, 0.03, 0.0, -0.05, 0.15, 0.10, -1.0),
    "DWI": Profile(105, 115, 35, 140, 55, 95, 0.06, 1.2, 0.12, 0.15, 0.08, 1.0),
    "ADC": Profile(750, 850, 3000, 900, 1900, 1300, 0.05, 1.2, -0.12, 0.15, 0.08, -1.0),
}


def _derived_profile(name: str) -> Profile:
    """A plausible, reproducible profile for a modality name without a built-in one."""
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    wm = float(rng.uniform(200, 900))
    return Profile(
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


def profile(name: str) -> Profile:
    """The built-in profile of modality ``name``, or one derived reproducibly from the name."""
    return PROFILES.get(name) or _derived_profile(name)


def max_semi_axis(shape, spacing):
    """Largest lesion semi-axis (mm) that fits the field of view with the border margin."""
    return min((n / 2 - MARGIN_VOXELS - 0.5) * s for n, s in zip(shape, spacing))


def _smooth_noise(rng, shape_zyx, sigma_mm, spacing_zyx):
    """Unit-variance Gaussian random field with correlation length ``sigma_mm``."""
    sigma = [sigma_mm / s for s in spacing_zyx]
    field = ndimage.gaussian_filter(rng.standard_normal(shape_zyx), sigma, mode="wrap")
    return (field - field.mean()) / field.std()


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Patient:
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
        limit = max_semi_axis(shape[::-1], spacing[::-1])
        radius = min(7.0 * np.exp(0.22 * size_latent), 11.0, 0.8 * limit)
        radius = max(radius, MIN_SEMI_AXIS_MM)
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
                low, high = MARGIN_VOXELS - hit[0], n - 1 - MARGIN_VOXELS - hit[-1]
                if low > high:
                    break
                shift.append(int(rng.integers(low, high + 1)))
            else:
                return np.roll(mask, shift, axis=(0, 1, 2))
            radius *= 0.85
        raise RuntimeError(  # unreachable for fields of view that pass the shape check
            "Could not place a lesion in the field of view; use a larger shape or spacing."
        )

    def image(self, name, profile, centre=None):
        """The patient's image in modality ``name`` as a float array (z, y, x).

        ``centre`` (a resolved :class:`~radfuse.datasets.centres.Centre`) adds its scanner
        effects; the random draws are the same with and without it.
        """
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
        if centre is not None and centre.psf_mm > 0:
            image = ndimage.gaussian_filter(image, [centre.psf_mm / s for s in self.spacing])
        # Smooth multiplicative bias field and a per-scan gain.
        axes = [np.linspace(-1, 1, n) for n in self.shape]
        z, y, x = np.meshgrid(*axes, indexing="ij")
        c = rng.normal(0, 0.06 * (1.0 if centre is None else centre.bias), size=6)
        bias = np.exp(c[0] * x + c[1] * y + c[2] * z + c[3] * x * y + c[4] * x**2 + c[5] * y**2)
        image = image * bias * float(np.exp(rng.normal(0, 0.1)))
        # Rician magnitude noise.
        sigma = p.noise * p.white_matter * (1.0 if centre is None else centre.noise)
        real = image + rng.normal(0, sigma, self.shape)
        imag = rng.normal(0, sigma, self.shape)
        magnitude = np.sqrt(real**2 + imag**2)
        if centre is None:
            return magnitude
        # The scanner's receiver gain and offset act on the reconstructed magnitude image.
        return centre.gain[name] * magnitude + centre.offset[name] * p.white_matter
