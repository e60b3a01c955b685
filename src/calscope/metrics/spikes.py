"""Scores of inferred spikes against ground truth (re-exported by `calscope.metrics`).

Two protocols:

* **calscope's 30 Hz protocol** (what every issue and benchmark reports on the CASCADE data):
  resample each recording's ΔF/F linearly to 30 Hz (bridging NaN gaps), truth = spike count per
  30 Hz frame, smooth prediction and truth with the same Gaussian (σ = 50 ms), Pearson r per
  recording, mean over a neuron's recordings, median over the neurons of a dataset.
  :func:`prepare_cascade` + :func:`score_predictions` (or :func:`score_cascade` in one call).
* **the Spikefinder challenge score** (:func:`spikefinder_correlation`): at 100 Hz, average
  non-overlapping blocks of 4 bins (25 Hz) in prediction and truth, Pearson r.

Scoring rules that keep method comparisons fair: a recording whose truth is constant after
smoothing (no spikes in the window) has no defined r and is left out; a prediction that failed
(``None``) or carries no information (constant, or no finite sample) scores r = 0 and is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.ndimage import gaussian_filter1d

#: The common rate (Hz) of calscope's CASCADE protocol.
PROTOCOL_FS = 30.0
#: The Gaussian smoothing width (s) of calscope's CASCADE protocol.
PROTOCOL_SIGMA_S = 0.05


class _Recording(Protocol):
    """What :func:`prepare_cascade` reads (``calscope.io.ground_truth.GroundTruthRecording``)."""

    dataset: str
    neuron: str
    trial: int
    dff: np.ndarray
    time: np.ndarray
    spike_times: np.ndarray


#: A batch predictor: ``predict(traces, fs)`` gets a list of 1-D ΔF/F traces (each (T_i,)
#: float64, no NaN, sampled at ``fs`` Hz) and returns one spike estimate per trace ((T_i,),
#: any non-negative scale), or ``None`` for a trace it failed on.
BatchPredictor = Callable[[list[np.ndarray], float], Sequence[np.ndarray | None]]


def resample_linear(
    values: np.ndarray, time: np.ndarray, fs_out: float
) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate a trace onto a regular grid, bridging NaN gaps.

    The grid starts at the first finite sample's time and steps by ``1 / fs_out`` up to the last
    finite sample's time, so leading and trailing NaN runs are excluded; interior NaN samples
    are bridged by interpolating between the finite samples around them.

    Args:
        values: (T,) samples; NaN where missing.
        time: (T,) sample times in seconds, increasing.
        fs_out: output rate (Hz).

    Returns:
        ``(values_out, time_out)``, both (T_out,) float64 without NaN; empty if fewer than one
        finite sample.
    """
    values = np.asarray(values, dtype=np.float64)
    time = np.asarray(time, dtype=np.float64)
    if values.shape != time.shape or values.ndim != 1:
        raise ValueError(f"values {values.shape} and time {time.shape} must be equal 1-D shapes")
    ok = np.isfinite(values) & np.isfinite(time)
    if not ok.any():
        return np.empty(0), np.empty(0)
    t_ok, v_ok = time[ok], values[ok]
    n_out = int(np.floor((t_ok[-1] - t_ok[0]) * fs_out + 1e-9)) + 1
    time_out = t_ok[0] + np.arange(n_out) / fs_out
    return np.interp(time_out, t_ok, v_ok), time_out


def spike_counts(spike_times: np.ndarray, time_out: np.ndarray, fs_out: float) -> np.ndarray:
    """Count spikes per output frame.

    Frame k covers ``[time_out[k] − 0.5/fs_out, time_out[k] + 0.5/fs_out)``; spikes outside all
    frames are ignored.

    Args:
        spike_times: (n,) spike times in seconds.
        time_out: (T_out,) frame centre times in seconds, regular at ``fs_out``.
        fs_out: frame rate (Hz).

    Returns:
        (T_out,) float64 spike counts.
    """
    time_out = np.asarray(time_out, dtype=np.float64)
    n = time_out.size
    if n == 0:
        return np.zeros(0)
    edges = np.append(time_out, time_out[-1] + 1.0 / fs_out) - 0.5 / fs_out
    frame = np.searchsorted(edges, np.asarray(spike_times, dtype=np.float64), side="right") - 1
    frame = frame[(frame >= 0) & (frame < n)]
    return np.bincount(frame, minlength=n).astype(np.float64)


def gaussian_smooth(x: np.ndarray, fs: float, sigma_s: float = PROTOCOL_SIGMA_S) -> np.ndarray:
    """Smooth a trace with a Gaussian kernel, ignoring NaN samples.

    Normalized convolution: NaN samples get zero weight and the kernel is renormalised over the
    finite samples it covers; edges are reflected. NaN input samples stay NaN.

    Args:
        x: (T,) samples at ``fs`` Hz; NaN where missing.
        fs: sampling rate (Hz).
        sigma_s: kernel standard deviation in seconds (0 returns a copy).

    Returns:
        (T,) float64 smoothed trace.
    """
    x = np.asarray(x, dtype=np.float64)
    if sigma_s <= 0 or x.size == 0:
        return x.copy()
    finite = np.isfinite(x)
    sigma = sigma_s * fs
    if finite.all():
        return gaussian_filter1d(x, sigma, mode="reflect")
    num = gaussian_filter1d(np.where(finite, x, 0.0), sigma, mode="reflect")
    den = gaussian_filter1d(finite.astype(np.float64), sigma, mode="reflect")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~finite] = np.nan
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the samples where both are finite.

    Args:
        a, b: (T,) arrays of equal length.

    Returns:
        r, or NaN when fewer than 2 common finite samples or either side is constant.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return float("nan")
    da = a[ok] - a[ok].mean()
    db = b[ok] - b[ok].mean()
    saa, sbb = np.dot(da, da), np.dot(db, db)
    # A side whose spread is at rounding level relative to its magnitude is constant.
    tol = (1e-10) ** 2 * ok.sum()
    if saa <= tol * np.max(np.abs(a[ok])) ** 2 or sbb <= tol * np.max(np.abs(b[ok])) ** 2:
        return float("nan")
    denom = np.sqrt(saa * sbb)
    return float(np.clip(np.dot(da, db) / denom, -1.0, 1.0))


def smoothed_correlation(
    pred: np.ndarray, truth: np.ndarray, fs: float, sigma_s: float = PROTOCOL_SIGMA_S
) -> float:
    """Pearson r of prediction and truth after smoothing both with the same Gaussian.

    Args:
        pred: (T,) spike estimate at ``fs`` Hz; NaN where missing.
        truth: (T,) spike counts per frame at ``fs`` Hz; NaN where missing.
        fs: sampling rate (Hz).
        sigma_s: Gaussian standard deviation (s).

    Returns:
        r over the samples where both are finite; NaN if degenerate (see :func:`pearson`).
    """
    if np.shape(pred) != np.shape(truth):
        raise ValueError(f"pred {np.shape(pred)} and truth {np.shape(truth)} differ in shape")
    return pearson(gaussian_smooth(pred, fs, sigma_s), gaussian_smooth(truth, fs, sigma_s))


def smoothed_correlations(
    pred: np.ndarray, truth: np.ndarray, fs: float, sigma_s: float = PROTOCOL_SIGMA_S
) -> np.ndarray:
    """:func:`smoothed_correlation` of each row: (cells,) r for (cells, T) pred and truth."""
    if np.shape(pred) != np.shape(truth):
        raise ValueError(f"pred {np.shape(pred)} and truth {np.shape(truth)} differ in shape")
    return np.array([smoothed_correlation(p, np.asarray(t, dtype=np.float64), fs, sigma_s)
                     for p, t in zip(pred, truth)])


@dataclass(frozen=True)
class ScoringTrace:
    """One ground-truth recording on the protocol's regular grid.

    Attributes:
        dataset, neuron, trial: identity of the recording.
        dff: (T,) float64 ΔF/F resampled to ``fs`` (no NaN).
        counts: (T,) float64 true spike count per frame.
        fs: grid rate (Hz).
    """

    dataset: str
    neuron: str
    trial: int
    dff: np.ndarray
    counts: np.ndarray
    fs: float


def prepare_cascade(
    recordings: Sequence[_Recording], fs: float = PROTOCOL_FS, min_samples: int = 2
) -> list[ScoringTrace]:
    """Resample recordings to the protocol grid and bin their spikes.

    Args:
        recordings: ground-truth recordings (ΔF/F with NaN gaps, times in s, spike times in s).
        fs: grid rate (Hz).
        min_samples: recordings shorter than this on the grid are dropped.

    Returns:
        One :class:`ScoringTrace` per kept recording, in input order.
    """
    out = []
    for rec in recordings:
        dff, t = resample_linear(rec.dff, rec.time, fs)
        if dff.size < min_samples:
            continue
        counts = spike_counts(rec.spike_times, t, fs)
        out.append(ScoringTrace(rec.dataset, rec.neuron, int(rec.trial), dff, counts, fs))
    return out


def score_predictions(
    traces: Sequence[ScoringTrace],
    predictions: Sequence[np.ndarray | None],
    sigma_s: float = PROTOCOL_SIGMA_S,
) -> dict[str, Any]:
    """Score predictions on prepared traces with the 30 Hz protocol.

    Args:
        traces: prepared recordings (:func:`prepare_cascade`).
        predictions: per trace a (T,) spike estimate on the same grid, or ``None`` if the method
            failed on it (scored r = 0).
        sigma_s: Gaussian smoothing width (s).

    Returns:
        JSON-ready dict:
        ``per_recording``: list of ``{dataset, neuron, trial, r, status}`` with status ``"ok"``,
        ``"failed"`` (prediction None: r = 0), ``"constant"`` (uninformative prediction:
        r = 0) or ``"no_truth"`` (no spikes in the window: r = NaN, left out);
        ``per_neuron``: ``{dataset: {neuron: mean r over its scored recordings}}``;
        ``per_dataset``: ``{dataset: median over neurons}``;
        ``counts``: ``{dataset: {neurons, recordings, failed, constant, no_truth}}``.
    """
    if len(traces) != len(predictions):
        raise ValueError(f"{len(traces)} traces but {len(predictions)} predictions")
    per_recording: list[dict[str, Any]] = []
    by_neuron: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for tr, pred in zip(traces, predictions):
        c = counts.setdefault(
            tr.dataset, {"neurons": 0, "recordings": 0, "failed": 0, "constant": 0, "no_truth": 0}
        )
        if not np.any(tr.counts > 0):
            r, status = float("nan"), "no_truth"
        elif pred is None:
            r, status = 0.0, "failed"
        else:
            pred = np.asarray(pred, dtype=np.float64)
            if pred.shape != tr.counts.shape:
                raise ValueError(
                    f"{tr.dataset}/{tr.neuron} trial {tr.trial}: prediction shape {pred.shape}, "
                    f"expected {tr.counts.shape}"
                )
            r = smoothed_correlation(pred, tr.counts, tr.fs, sigma_s)
            status = "ok"
            if not np.isfinite(r):
                r, status = 0.0, "constant"
        if status != "ok":
            c[status] += 1
        per_recording.append({"dataset": tr.dataset, "neuron": tr.neuron, "trial": tr.trial,
                              "r": r, "status": status})
        if status != "no_truth":
            c["recordings"] += 1
            by_neuron.setdefault(tr.dataset, {}).setdefault(tr.neuron, []).append(r)
    per_neuron = {
        ds: {neuron: float(np.mean(rs)) for neuron, rs in neurons.items()}
        for ds, neurons in by_neuron.items()
    }
    for ds, neurons in per_neuron.items():
        counts[ds]["neurons"] = len(neurons)
    per_dataset = {
        ds: (float(np.median(list(per_neuron[ds].values()))) if ds in per_neuron else float("nan"))
        for ds in counts
    }
    return {
        "per_recording": per_recording,
        "per_neuron": per_neuron,
        "per_dataset": per_dataset,
        "counts": counts,
    }


def score_cascade(
    recordings: Sequence[_Recording],
    predict: BatchPredictor,
    fs: float = PROTOCOL_FS,
    sigma_s: float = PROTOCOL_SIGMA_S,
) -> dict[str, Any]:
    """Score a spike-inference method on ground-truth recordings with the 30 Hz protocol.

    ``predict`` is called once per dataset with all of that dataset's resampled traces, so a
    method can deconvolve them together (see :data:`BatchPredictor`).

    Args:
        recordings: ground-truth recordings of one or more datasets.
        predict: ``predict(traces: list[(T_i,) float64], fs) -> list[(T_i,) array | None]``.
        fs: protocol rate (Hz).
        sigma_s: Gaussian smoothing width (s).

    Returns:
        The dict of :func:`score_predictions`.
    """
    traces = prepare_cascade(recordings, fs)
    predictions: list[np.ndarray | None] = [None] * len(traces)
    for ds in dict.fromkeys(tr.dataset for tr in traces):
        idx = [i for i, tr in enumerate(traces) if tr.dataset == ds]
        batch = predict([traces[i].dff for i in idx], fs)
        if len(batch) != len(idx):
            raise ValueError(f"{ds}: predict returned {len(batch)} traces for {len(idx)} inputs")
        for i, p in zip(idx, batch):
            predictions[i] = p
    return score_predictions(traces, predictions, sigma_s)


def spikefinder_correlation(pred: np.ndarray, truth: np.ndarray, block: int = 4) -> float:
    """The Spikefinder challenge score of one neuron.

    Both are cut to their common length, samples where either is NaN are dropped, both are
    averaged over non-overlapping blocks of ``block`` bins (100 Hz → 25 Hz; an incomplete last
    block is dropped), and the Pearson r is taken.

    Args:
        pred: (T,) spike estimate at 100 Hz.
        truth: (T',) spike counts per 10 ms bin (NaN padding allowed).
        block: bins per block.

    Returns:
        r, or NaN if degenerate.
    """
    pred = np.asarray(pred, dtype=np.float64).ravel()
    truth = np.asarray(truth, dtype=np.float64).ravel()
    n = min(pred.size, truth.size)
    pred, truth = pred[:n], truth[:n]
    ok = np.isfinite(pred) & np.isfinite(truth)
    pred, truth = pred[ok], truth[ok]
    m = (pred.size // block) * block
    return pearson(
        pred[:m].reshape(-1, block).mean(axis=1), truth[:m].reshape(-1, block).mean(axis=1)
    )
