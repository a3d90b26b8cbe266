"""Names PyRadiomics gives its derived images and features, computed before any extraction.

:func:`image_type_names` is the one place that knows how PyRadiomics names the images an image
type (filter) makes; :func:`feature_names` (the columns a spec yields) and the check that every
enabled image type produced features (:func:`check_image_types`) both use it.
"""

from __future__ import annotations

import itertools

from radfuse.extraction.specs import load_spec

__all__ = [
    "FilterSkippedError",
    "check_image_types",
    "expected_prefixes",
    "feature_names",
    "image_type_names",
]

#: Image types that make one image, and the name PyRadiomics gives it.
_SINGLE = {
    "Original": "original",
    "Square": "square",
    "SquareRoot": "squareroot",
    "Logarithm": "logarithm",
    "Exponential": "exponential",
    "Gradient": "gradient",
    "LBP2D": "lbp-2D",
}
_HINTS = {
    "LBP2D": "LBP2D needs scikit-image (pip install scikit-image)",
    "LBP3D": "LBP3D needs a 3D image, trimesh and scipy.special.sph_harm",
    "LoG": "LoG needs an image of at least 4 voxels and sigma/spacing + 1 voxels per axis",
}


class FilterSkippedError(ValueError):
    """An enabled image type (filter) produced no features."""


def image_type_names(image_type: str, kw: dict) -> list[str] | None:
    """Names of the images PyRadiomics derives with ``image_type``, in its order.

    Parameters
    ----------
    image_type : str
        A PyRadiomics image type (``"Original"``, ``"Wavelet"``, ``"LoG"``, ...).
    kw : dict
        The settings merged with the image type's custom settings.

    Returns
    -------
    list of str or None
        ``None`` for an image type radfuse cannot name in advance (a custom filter).
    """
    if image_type == "Wavelet":
        n_axes = 2 if kw.get("force2D", False) else 3
        levels = int(kw.get("level", 1))
        names = []
        for idx in range(1, levels + 1):
            for combo in itertools.product("LH", repeat=n_axes):
                dec = "".join(combo)
                if dec == "L" * n_axes:
                    continue
                names.append(f"wavelet-{dec}" if idx == 1 else f"wavelet{idx}-{dec}")
        approx = "L" * n_axes
        names.append(f"wavelet-{approx}" if levels == 1 else f"wavelet{levels}-{approx}")
        return names
    if image_type == "LoG":
        return [f"log-sigma-{str(s).replace('.', '-')}-mm-3D" for s in kw.get("sigma", [])]
    if image_type == "LBP3D":
        levels = int(kw.get("lbp3DLevels", 2))
        return [f"lbp-3D-m{i + 1}" for i in range(levels)] + ["lbp-3D-k"]
    if image_type in _SINGLE:
        return [_SINGLE[image_type]]
    return None


def feature_names(spec) -> list[str] | None:
    """The PyRadiomics feature names a spec yields for a 3D case, in PyRadiomics' order.

    Returns None for an image type radfuse cannot name in advance (a custom filter).
    """
    from radiomics import getFeatureClasses

    spec = load_spec(spec)
    resolved = spec.resolved()
    settings = resolved["setting"]
    classes = resolved["featureClass"]
    available = getFeatureClasses()

    def names_of(cls):
        if classes.get(cls):
            return list(classes[cls])
        return [n for n, deprecated in available[cls].getFeatureNames().items() if not deprecated]

    out = []
    if "shape" in classes:
        out += [f"original_shape_{n}" for n in names_of("shape")]
    if "shape2D" in classes and settings.get("force2D", False):
        out += [f"original_shape2D_{n}" for n in names_of("shape2D")]
    for image_type, custom in resolved["imageType"].items():
        derived = image_type_names(image_type, {**settings, **(custom or {})})
        if derived is None:
            return None
        for image_name in derived:
            for cls in classes:
                if cls.startswith("shape"):
                    continue
                out += [f"{image_name}_{cls}_{n}" for n in names_of(cls)]
    return out


def expected_prefixes(image_type: str, custom: dict) -> list[str]:
    """Feature-name prefixes that ``image_type`` (with its custom settings) must produce."""
    if image_type == "Wavelet":
        # the decompositions come all together or not at all: one wavelet feature suffices
        return ["wavelet"]
    names = image_type_names(image_type, custom)
    if names is None:
        return [image_type.lower()]
    return [f"{n}_" for n in names] or ["log-sigma-"]


def check_image_types(features, enabled_image_types: dict, settings: dict) -> None:
    """Raise :class:`FilterSkippedError` if an enabled image type yielded no features.

    Parameters
    ----------
    features : mapping
        PyRadiomics' result of one case (feature name -> value).
    enabled_image_types : dict
        ``extractor.enabledImagetypes`` (image type -> custom settings).
    settings : dict
        ``extractor.settings``, merged under each image type's custom settings.
    """
    names = [k for k in features if not k.startswith("diagnostics_")]
    missing = []
    for image_type, custom in enabled_image_types.items():
        merged = {**settings, **(custom or {})}
        for prefix in expected_prefixes(image_type, merged):
            if not any(n.startswith(prefix) for n in names):
                missing.append(f"{image_type} ({prefix.rstrip('_')})")
    if missing:
        hints = sorted({_HINTS[m.split(" ")[0]] for m in missing if m.split(" ")[0] in _HINTS})
        raise FilterSkippedError(
            "enabled image type(s) produced no features: "
            + ", ".join(missing)
            + (". " + "; ".join(hints) if hints else "")
            + ". PyRadiomics only logs a warning when a filter cannot run; check the image size "
            "and the installed packages, or disable the image type in the spec."
        )
