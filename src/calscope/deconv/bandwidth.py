"""The rate traces were recorded at, when they were resampled up to a higher one.

Traces are sometimes handed on at a rate above the one they were recorded at: the Spikefinder
files hold 7.8 Hz retina recordings interpolated to 100 Hz, and other pipelines upsample to a
common grid. Such a trace has an empty top of the spectrum, so noise estimates from it (white
noise across the whole band) come out orders of magnitude too small and the AR model sees
correlated "noise": deconvolution at that rate fails. Ideal (band-limited) interpolation leaves
a cliff in the power spectrum at the old Nyquist frequency, which a recording never has (its
noise floor is flat up to its own Nyquist frequency, and calcium signals fall off smoothly).
:func:`native_rate` finds that cliff, so the solvers can work at the rate the data really has.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from calscope.deconv.noise import fill_gaps
from calscope.errors import InputError
from calscope.validation import check_fs

#: A cliff is a fall of the power spectrum by at least this many decades (1000×) between just
#: below and just above it, with the spectrum staying that low up to the Nyquist frequency.
#: Interpolated traces fall by 4-12 decades (float rounding is all that is left above); no
#: recording's spectrum falls 3 decades within a few bins (calcium spectra fall at most
#: ~f^-4, a spectral peak ~1-2 decades).
CLIFF_DECADES = 3.0
#: Only a native Nyquist frequency below this fraction of the given one counts (a cliff just
#: under Nyquist is an acquisition's anti-aliasing filter and changes nothing).
MAX_FRACTION = 0.4
_MIN_BIN = 40  # lowest bin a cliff may sit at: there a smooth roll-off falls < 0.3 decade
#               across the guard bins, however steep it is in decades per octave
_SEGMENT = 2048  # Welch segment length (samples): 0.05 Hz resolution at 100 Hz
_MAX_ROWS = 256  # rows whose spectra are pooled (evenly spaced over the input)
_GUARD = 2  # bins left out on each side of a cliff (the Hann window's main lobe)


def native_rate(traces: np.ndarray, fs: float) -> float:
    """The sampling rate (Hz) the traces carry information at: ``fs``, or lower when they were
    resampled up from a lower rate.

    The log power spectra of (up to 256 of) the rows are pooled by their median (traces in one
    call come from one acquisition). Where the pooled spectrum falls by more than
    :data:`CLIFF_DECADES` within a few bins, below ``MAX_FRACTION`` · fs (and above 40 bins of
    2048, 0.02 fs), and stays that low above, the traces were band-limited there; the native
    rate is twice the frequency where the power has fallen to half.

    Args:
        traces: (cells, T) or (T,) traces at ``fs``; NaN allowed (bridged); rows that are all
            NaN or constant are skipped.
        fs: their sampling rate (Hz).

    Returns:
        The native rate in Hz (``fs`` when no cliff is found, or the traces are too short to
        tell).
    """
    values = np.atleast_2d(np.asarray(traces))
    # pick the rows first, so no copy of the whole (cells, T) input is made
    usable = np.flatnonzero(np.isfinite(values).sum(axis=1) >= 2)
    if usable.size > _MAX_ROWS:
        usable = usable[np.linspace(0, usable.size - 1, _MAX_ROWS).astype(int)]
    rows = fill_gaps(values[usable])
    rows = rows[np.ptp(rows, axis=1) > 0] if rows.size else rows
    nperseg = int(min(_SEGMENT, rows.shape[-1]))
    if rows.shape[0] == 0 or nperseg < 64:
        return float(fs)
    _, psd = signal.welch(rows.astype(np.float32), nperseg=nperseg, axis=-1)
    level = np.median(np.log10(psd + 1e-30 * psd.max(axis=-1, keepdims=True) + 1e-300), axis=0)
    bin_ = _cliff_bin(level)
    if bin_ is None:
        return float(fs)
    return float(2.0 * fs * bin_ / nperseg)


def working_rate(traces: np.ndarray, fs: float, native_fs: float | None = None,
                 lowest: float = 0.0) -> float:
    """The rate (Hz) a method should work at: ``native_fs`` when given (checked to lie between
    ``lowest`` and ``fs``), else :func:`native_rate` of the traces, at least ``lowest``.

    Raises:
        InputError: ``native_fs`` is not a number in [lowest, fs].
    """
    if native_fs is None:
        return max(native_rate(traces, fs), lowest)
    rate = check_fs(native_fs, "native_fs")
    if not lowest <= rate <= fs:
        raise InputError(f"native_fs={native_fs!r}: must lie between {lowest:g} Hz and fs={fs:g} "
                         "Hz (the rate the traces were recorded at); None detects it")
    return rate


def _cliff_bin(level: np.ndarray) -> float | None:
    """The (fractional) frequency bin of the steepest qualifying fall of a log10 spectrum, or
    None. Bin k has frequency k / nperseg (fraction of fs); the last bin is the Nyquist one."""
    nperseg = 2 * (level.size - 1)  # the last bin is the Nyquist one
    best, best_drop = None, CLIFF_DECADES
    for k in range(_MIN_BIN, int(MAX_FRACTION * nperseg) + 1):
        width = _width(k)
        below = np.median(level[max(k - _GUARD - width, 1): k - _GUARD])
        above = level[k + _GUARD + 1:]
        drop = below - max(np.median(above[:width]), float(np.quantile(above, 0.9)))
        if drop > best_drop:
            best, best_drop = (k, below), drop
    if best is None:
        return None
    k, below = best
    # the cliff's edge: where the spectrum first falls to half the power below it (the Hann
    # window spreads an ideal cut at f over the bins around f, with half the power at f)
    half = below - np.log10(2.0)
    start = k - _GUARD - _width(k)
    j = start + int(np.argmax(level[start:] < half))
    return float(j - 1 + (level[j - 1] - half) / (level[j - 1] - level[j]))


def _width(k: int) -> int:
    """Bins compared on each side of a cliff at bin ``k`` (a tenth of its frequency, ≥ 3)."""
    return max(3, k // 10)
