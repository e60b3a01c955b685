"""Convex spike deconvolution (OASIS, AR(1)/AR(2), L1 or L0, noise-constrained)."""

from calscope.deconv.api import deconvolve
from calscope.deconv.noise import ar_coefficients, noise_sigma
from calscope.deconv.result import Deconvolution

__all__ = ["Deconvolution", "ar_coefficients", "deconvolve", "noise_sigma"]
