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
import warnings

import numpy as np
from radiomics import featureextractor, generalinfo, imageoperations

from radfuse.extraction.compat import sph_harm_compat
from radfuse.extraction.crop import LOG_TRUNCATE, Cropper
from radfuse.extraction.naming import FilterSkippedError, check_image_types, expected_prefixes

__all__ = [
    "LOG_TRUNCATE",
    "MODES",
    "ExactExtractor",
    "FilterSkippedError",
    "check_image_types",
    "expected_prefixes",
    "sph_harm_compat",
]

#: Extraction modes: radfuse's exact crop or plain PyRadiomics.
MODES = ("exact", "pyradiomics")


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
        cropper = Cropper(image, mask, np.asarray(boundingBox))
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
