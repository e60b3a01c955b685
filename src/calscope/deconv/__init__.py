"""Convex spike deconvolution (OASIS, AR(1)/AR(2), L1 or L0, noise-constrained)."""

from calscope.deconv.api import deconvolve
from calscope.deconv.kinetics import ar_coefficients
from calscope.deconv.noise import noise_sigma
from calscope.deconv.result import Deconvolution

__all__ = ["Deconvolution", "ar_coefficients", "deconvolve", "noise_sigma"]
