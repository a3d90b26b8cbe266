"""PyRadiomics extraction that filters only the neighbourhood of the mask, with unchanged values.

PyRadiomics applies every filter (wavelet, LoG, gradient, LBP, ...) to the *whole* image and then
crops the result to the mask's bounding box. Its own ``preCrop`` setting crops first, which is fast
but not exact: Square, SquareRoot, Logarithm and Exponential scale by the maximum absolute value of
the whole image, and LoG, wavelet, gradient and LBP see different borders.

:class:`ExactExtractor` keeps PyRadiomics' pipeline (loading, normalisation and resampling on the
whole image, mask checks, resegmentation, shape, feature classes) and changes only how filtered
images are made:

* whole-image statistics first: the maximum absolute value used by Square, SquareRoot,
  Logarithm and Exponential is taken from the whole (normalised / resampled) image; these
  pointwise filters are then applied to the bounding box only;
* local filters run on the bounding box padded by the filter's reach, clipped to the image (a
  clipped side *is* the image border, so the border handling is the same as on the full image):
  gradient (1 voxel), LBP2D (its radius), LoG (``LOG_TRUNCATE`` sigmas: SimpleITK's recursive
  Gaussian is an infinite impulse response filter whose influence decays exponentially; measured
  max relative difference on the real cases is reported in the tests), LBP3D (its radius plus the
  decay of the cubic B-spline prefilter of ``scipy.ndimage.map_coordinates``);
* wavelet: PyRadiomics' stationary wavelet transform is a circular convolution (the image is
  wrapped around), so it is local except across the image border. Along an axis where the padded
  box stays inside the image the crop is exact; along an axis where it would reach the border the
  whole extent of that axis is kept.

``mode="pyradiomics"`` runs plain PyRadiomics (``RadiomicsFeatureExtractor.execute``) for
comparison. Voxel-based extraction and ``preCrop`` always use plain PyRadiomics.

Both modes make LBP3D work with SciPy >= 1.17 (see :func:`sph_harm_compat`) and check that every
enabled image type produced features (:func:`check_image_types`): PyRadiomics only logs a warning
when a filter cannot run.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import warnings

import numpy as np
import pywt
import SimpleITK as sitk
from radiomics import featureextractor, generalinfo, imageoperations

__all__ = [
    "LOG_TRUNCATE",
    "ExactExtractor",
    "FilterSkippedError",
    "check_image_types",
    "expected_prefixes",
    "sph_harm_compat",
]

#: LoG crops are padded by this many sigmas (in voxels of each axis). SimpleITK's recursive
#: Gaussian is an IIR filter whose border influence decays exponentially. Measured max relative
#: difference to the full-image features of brain2 / breast1: 8 sigmas 1.5e-5, 12 sigmas 3.6e-7,
#: 16 sigmas 5.7e-10, 24 sigmas 0 (the LoG image is float32, so tiny changes flip roundings).
LOG_TRUNCATE = 16.0
#: Extra voxels for the cubic B-spline prefilter used by LBP3D's interpolation: its influence
#: decays like 0.268**d, so 30 voxels leave < 1e-17.
SPLINE_TAIL = 30

MODES = ("exact", "pyradiomics")


class FilterSkippedError(ValueError):
    """An enabled image type (filter) produced no features."""


# --------------------------------------------------------------------------------------------
# LBP3D with SciPy >= 1.17
# --------------------------------------------------------------------------------------------
_compat_lock = threading.Lock()
_compat_users = 0
_compat_installed = False


def _sph_harm_legacy(m, n, theta, phi):
    """``scipy.special.sph_harm(m, n, theta, phi)`` (removed in SciPy 1.17).

    The old function took the order first and the azimuthal angle ``theta`` before the polar
    angle ``phi``; ``sph_harm_y(n, m, polar, azimuth)`` takes degree first and polar first.
    PyRadiomics' LBP3D calls it with its own (swapped) angles; this wrapper only maps arguments,
    so LBP3D gives the values it gave with SciPy 1.16 (checked against the reference CSV).
    """
    from scipy.special import sph_harm_y

    return sph_harm_y(n, m, phi, theta)


@contextlib.contextmanager
def sph_harm_compat():
    """Make ``scipy.special.sph_harm`` importable while PyRadiomics runs, if SciPy lacks it.

    PyRadiomics' ``getLBP3DImage`` imports ``sph_harm`` inside the function and, when the import
    fails, logs a warning and yields nothing (LBP3D silently disappears). Inside this context
    ``scipy.special.sph_harm`` is :func:`_sph_harm_legacy`; the attribute is removed again when
    the last user leaves (reference counted, thread-safe). With a SciPy that still has
    ``sph_harm`` nothing is changed.
    """
    global _compat_users, _compat_installed
    import scipy.special

    with _compat_lock:
        if _compat_users == 0 and not hasattr(scipy.special, "sph_harm"):
            scipy.special.sph_harm = _sph_harm_legacy
            _compat_installed = True
        _compat_users += 1
    try:
        yield
    finally:
        with _compat_lock:
            _compat_users -= 1
            if _compat_users == 0 and _compat_installed:
                del scipy.special.sph_harm
                _compat_installed = False


# --------------------------------------------------------------------------------------------
# every enabled image type must yield features
# --------------------------------------------------------------------------------------------
_PREFIXES = {
    "Original": ["original_"],
    "Square": ["square_"],
    "SquareRoot": ["squareroot_"],
    "Logarithm": ["logarithm_"],
    "Exponential": ["exponential_"],
    "Gradient": ["gradient_"],
    "LBP2D": ["lbp-2D_"],
}
_HINTS = {
    "LBP2D": "LBP2D needs scikit-image (pip install scikit-image)",
    "LBP3D": "LBP3D needs a 3D image, trimesh and scipy.special.sph_harm",
    "LoG": "LoG needs an image of at least 4 voxels and sigma/spacing + 1 voxels per axis",
}


def expected_prefixes(image_type: str, custom: dict) -> list[str]:
    """Feature-name prefixes that ``image_type`` (with its custom settings) must produce."""
    if image_type == "LoG":
        sigmas = custom.get("sigma", [])
        return [f"log-sigma-{str(s).replace('.', '-')}-mm-3D_" for s in sigmas] or ["log-sigma-"]
    if image_type == "LBP3D":
        levels = int(custom.get("lbp3DLevels", 2))
        return [f"lbp-3D-m{i + 1}_" for i in range(levels)] + ["lbp-3D-k_"]
    if image_type == "Wavelet":
        return ["wavelet"]
    return _PREFIXES.get(image_type, [image_type.lower()])


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


# --------------------------------------------------------------------------------------------
# the extractor
# --------------------------------------------------------------------------------------------
def _roi(image: sitk.Image, lo: np.ndarray, hi: np.ndarray) -> sitk.Image:
    size = [int(h - lo_ + 1) for lo_, h in zip(lo, hi)]
    return sitk.RegionOfInterest(image, size, [int(v) for v in lo])


class ExactExtractor(featureextractor.RadiomicsFeatureExtractor):
    """PyRadiomics' feature extractor that filters only a padded box around the mask.

    Parameters
    ----------
    params : dict
        PyRadiomics parameters (``setting``, ``imageType``, ``featureClass``), as in a
        parameter file; validated by PyRadiomics' schema.
    mode : {"exact", "pyradiomics"}, default="exact"
        ``"exact"`` crops before filtering without changing any value (see module docstring);
        ``"pyradiomics"`` is plain ``RadiomicsFeatureExtractor.execute`` on the full image.

    Notes
    -----
    Both modes run LBP3D with SciPy >= 1.17 and raise :class:`FilterSkippedError` if an
    enabled image type produced no feature.
    """

    def __init__(self, params: dict, mode: str = "exact"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        super().__init__(params)
        self.mode = mode

    def execute(
        self, imageFilepath, maskFilepath, label=None, label_channel=None, voxelBased=False
    ):
        """Extract one case; same signature and result as PyRadiomics' ``execute``."""
        plain = self.mode == "pyradiomics" or voxelBased or self.settings.get("preCrop", False)
        with sph_harm_compat(), warnings.catch_warnings():
            # scikit-image warns on every slice of a float image; PyRadiomics' LBP2D is defined
            # on whatever dtype the (normalised) image has, so the warning says nothing new.
            warnings.filterwarnings("ignore", message=".*local_binary_pattern.*floating-point")
            if plain:
                result = super().execute(
                    imageFilepath, maskFilepath, label, label_channel, voxelBased
                )
            else:
                result = self._execute_exact(imageFilepath, maskFilepath, label, label_channel)
        if not voxelBased:
            check_image_types(result, self.enabledImagetypes, self.settings)
        return result

    # The steps below follow RadiomicsFeatureExtractor.execute (PyRadiomics 3.1) one by one;
    # only step 6 (filtered images) differs.
    def _execute_exact(self, imageFilepath, maskFilepath, label, label_channel):
        _settings = self.settings.copy()
        tolerance = _settings.get("geometryTolerance")
        additionalInfo = _settings.get("additionalInfo", False)
        resegmentShape = _settings.get("resegmentShape", False)
        if label is not None:
            _settings["label"] = label
        else:
            label = _settings.get("label", 1)
        if label_channel is not None:
            _settings["label_channel"] = label_channel
        if featureextractor.geometryTolerance != tolerance:
            self._setTolerance()

        generalInfo = None
        if additionalInfo:
            generalInfo = generalinfo.GeneralInfo()
            generalInfo.addGeneralSettings(_settings)
            generalInfo.addEnabledImageTypes(self.enabledImagetypes)

        featureVector = collections.OrderedDict()
        # 1-2. load (normalise / resample on the whole image), check the mask
        image, mask = self.loadImage(imageFilepath, maskFilepath, generalInfo, **_settings)
        boundingBox, correctedMask = imageoperations.checkMask(image, mask, **_settings)
        if correctedMask is not None:
            if generalInfo is not None:
                generalInfo.addMaskElements(image, correctedMask, label, "corrected")
            mask = correctedMask

        # 5. resegmentation
        resegmentedMask = None
        if _settings.get("resegmentRange", None) is not None:
            resegmentedMask = imageoperations.resegmentMask(image, mask, **_settings)
            boundingBox, correctedMask = imageoperations.checkMask(
                image, resegmentedMask, **_settings
            )
            if generalInfo is not None:
                generalInfo.addMaskElements(image, resegmentedMask, label, "resegmented")

        # 3. diagnostics
        if generalInfo is not None:
            featureVector.update(generalInfo.getGeneralInfo())
        if resegmentShape and resegmentedMask is not None:
            mask = resegmentedMask
        # 4. shape
        featureVector.update(self.computeShape(image, mask, boundingBox, **_settings))
        if not resegmentShape and resegmentedMask is not None:
            mask = resegmentedMask

        # 6. filtered images, each from a padded box around the mask
        cropper = _Cropper(image, mask, np.asarray(boundingBox))
        for imageType, customKwargs in self.enabledImagetypes.items():
            args = _settings.copy()
            args.update(customKwargs)
            for inputImage, inputMask, bb, imageTypeName, inputKwargs in cropper.generate(
                imageType, args
            ):
                inputImage, inputMask = imageoperations.cropToTumorMask(
                    inputImage, inputMask, bb, padDistance=0
                )
                featureVector.update(
                    self.computeFeatures(inputImage, inputMask, imageTypeName, **inputKwargs)
                )
        return featureVector


class _Cropper:
    """Makes the filtered images of one case from padded boxes of the whole image."""

    def __init__(self, image: sitk.Image, mask: sitk.Image, bounding_box: np.ndarray):
        self.image = image
        self.mask = mask
        self.size = np.array(image.GetSize())
        self.spacing = np.array(image.GetSpacing())
        self.bb_lo = bounding_box[0::2].astype(int)
        self.bb_hi = bounding_box[1::2].astype(int)
        self._max_abs = None

    # -- boxes ---------------------------------------------------------------------------------
    def _box(self, margin, full_if_border=False):
        """Box = bounding box +/- margin per axis (sitk x, y, z order), clipped to the image.

        With ``full_if_border`` an axis whose padded box would leave the image is kept whole.
        """
        margin = np.broadcast_to(np.asarray(margin, dtype=int), self.size.shape)
        lo = self.bb_lo - margin
        hi = self.bb_hi + margin
        if full_if_border:
            out = (lo < 0) | (hi > self.size - 1)
            lo = np.where(out, 0, lo)
            hi = np.where(out, self.size - 1, hi)
        return np.maximum(lo, 0), np.minimum(hi, self.size - 1)

    def _crop(self, lo, hi):
        bb = np.empty(2 * len(lo), dtype=int)
        bb[0::2] = self.bb_lo - lo
        bb[1::2] = self.bb_hi - lo
        if np.all(lo == 0) and np.all(hi == self.size - 1):
            return self.image, self.mask, bb
        return _roi(self.image, lo, hi), _roi(self.mask, lo, hi), bb

    @property
    def max_abs(self) -> float:
        """max |x| over the whole image, as PyRadiomics computes it (after float64 conversion)."""
        if self._max_abs is None:
            arr = sitk.GetArrayViewFromImage(self.image)
            self._max_abs = float(np.max(np.abs(arr.astype("float64"))))
        return self._max_abs

    # -- generators ----------------------------------------------------------------------------
    def generate(self, image_type: str, kwargs: dict):
        """Yield ``(image, mask, bounding box in that image, name, kwargs)`` per derived image."""
        gen = getattr(self, f"_gen_{image_type}", None)
        if gen is not None:
            yield from gen(kwargs)
            return
        # an image type radfuse does not know: the whole image, as PyRadiomics does
        func = getattr(imageoperations, f"get{image_type}Image")
        bb = np.empty(2 * len(self.size), dtype=int)
        bb[0::2], bb[1::2] = self.bb_lo, self.bb_hi
        for im, name, kw in func(self.image, self.mask, **kwargs):
            yield im, self.mask, bb, name, kw

    def _run(self, func, lo, hi, kwargs):
        image, mask, bb = self._crop(lo, hi)
        for im, name, kw in func(image, mask, **kwargs):
            yield im, mask, bb, name, kw

    def _gen_Original(self, kwargs):
        lo, hi = self._box(0)
        yield from self._run(imageoperations.getOriginalImage, lo, hi, kwargs)

    def _pointwise(self, name, transform, kwargs):
        lo, hi = self._box(0)
        image, mask, bb = self._crop(lo, hi)
        arr = sitk.GetArrayFromImage(image).astype("float64")
        out = sitk.GetImageFromArray(transform(arr, self.max_abs))
        out.CopyInformation(image)
        yield out, mask, bb, name, kwargs

    # The four pointwise filters repeat PyRadiomics' formulas operation by operation
    # (imageoperations.getSquareImage & co.) with the whole image's max |x|.
    def _gen_Square(self, kwargs):
        def f(im, max_abs):
            coeff = 1 / np.sqrt(max_abs)
            return (coeff * im) ** 2

        yield from self._pointwise("square", f, kwargs)

    def _gen_SquareRoot(self, kwargs):
        def f(im, max_abs):
            coeff = max_abs
            im[im > 0] = np.sqrt(im[im > 0] * coeff)
            im[im < 0] = -np.sqrt(-im[im < 0] * coeff)
            return im

        yield from self._pointwise("squareroot", f, kwargs)

    def _gen_Logarithm(self, kwargs):
        def f(im, max_abs):
            im[im > 0] = np.log(im[im > 0] + 1)
            im[im < 0] = -np.log(-(im[im < 0] - 1))
            # max |log-transformed image| = log(max|x| + 1): the transform is monotonic in |x|
            # and x + 1, -(x - 1) round the same real number |x| + 1 identically.
            log_max = np.log(max_abs + 1)
            return im * (max_abs / log_max)

        yield from self._pointwise("logarithm", f, kwargs)

    def _gen_Exponential(self, kwargs):
        def f(im, max_abs):
            coeff = np.log(max_abs) / max_abs
            return np.exp(coeff * im)

        yield from self._pointwise("exponential", f, kwargs)

    def _gen_Gradient(self, kwargs):
        lo, hi = self._box(2)
        yield from self._run(imageoperations.getGradientImage, lo, hi, kwargs)

    def _gen_LBP2D(self, kwargs):
        radius = float(kwargs.get("lbp2DRadius", 1))
        lo, hi = self._box(math.ceil(radius) + 2)
        yield from self._run(imageoperations.getLBP2DImage, lo, hi, kwargs)

    def _gen_LBP3D(self, kwargs):
        radius = float(kwargs.get("lbp3DIcosphereRadius", 1))
        lo, hi = self._box(math.ceil(radius) + 3 + SPLINE_TAIL)
        yield from self._run(imageoperations.getLBP3DImage, lo, hi, kwargs)

    def _gen_LoG(self, kwargs):
        # PyRadiomics checks the *whole* image before each sigma; keep its decisions.
        if np.min(self.size) < 4:
            return
        for sigma in kwargs.get("sigma", []):
            if not (sigma > 0.0 and np.all(self.size >= np.ceil(sigma / self.spacing) + 1)):
                continue  # skipped as PyRadiomics does; check_image_types reports it
            margin = np.ceil(LOG_TRUNCATE * sigma / self.spacing).astype(int) + 1
            lo, hi = self._box(margin)
            # the crop must pass the same size checks, else keep that axis whole
            need = np.maximum(4, np.ceil(sigma / self.spacing) + 1)
            small = (hi - lo + 1) < need
            lo = np.where(small, 0, lo)
            hi = np.where(small, self.size - 1, hi)
            yield from self._run(imageoperations.getLoGImage, lo, hi, {**kwargs, "sigma": [sigma]})

    def _gen_Wavelet(self, kwargs):
        wavelet = kwargs.get("wavelet", "coif1")
        if not isinstance(wavelet, pywt.Wavelet):
            wavelet = pywt.Wavelet(wavelet)
        n_levels = int(kwargs.get("start_level", 0)) + int(kwargs.get("level", 1))
        # each level is one more circular convolution with the decomposition filter
        margin = n_levels * wavelet.dec_len + 2
        lo, hi = self._box(margin, full_if_border=True)
        yield from self._run(imageoperations.getWaveletImage, lo, hi, kwargs)
