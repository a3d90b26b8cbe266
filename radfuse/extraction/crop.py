"""Filtered images of one case from padded boxes of the whole image (see :mod:`.exact`)."""

from __future__ import annotations

import math

import numpy as np
import pywt
import SimpleITK as sitk
from radiomics import imageoperations

__all__ = ["LOG_TRUNCATE", "SPLINE_TAIL", "Cropper"]

#: LoG crops are padded by this many sigmas (in voxels of each axis). SimpleITK's recursive
#: Gaussian is an IIR filter whose border influence decays exponentially. Measured max relative
#: difference to the full-image features of brain2 / breast1: 8 sigmas 1.5e-5, 12 sigmas 3.6e-7,
#: 16 sigmas 5.7e-10, 24 sigmas 0 (the LoG image is float32, so tiny changes flip roundings).
LOG_TRUNCATE = 16.0
#: Extra voxels for the cubic B-spline prefilter used by LBP3D's interpolation: its influence
#: decays like 0.268**d, so 30 voxels leave < 1e-17.
SPLINE_TAIL = 30


def _roi(image: sitk.Image, lo: np.ndarray, hi: np.ndarray) -> sitk.Image:
    size = [int(h - lo_ + 1) for lo_, h in zip(lo, hi)]
    return sitk.RegionOfInterest(image, size, [int(v) for v in lo])


class Cropper:
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
