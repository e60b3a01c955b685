"""Ground-truth recordings → noise-matched training windows for the supervised network.

Each recording is put on a regular grid at its own frame rate. For every epoch each recording
gets fresh white noise *at its own frame rate*, a random multiple of its own noise level (so a
158 Hz recording downsampled to 30 Hz gets the noise a 158 Hz recording would have); it is then
resampled with the same operator a user's traces go through, and its spikes are counted per
:data:`~calscope.infer.features.MODEL_FS` frame and smoothed. Windows are drawn so that every
dataset weighs the same, whatever its size.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calscope.config import SupervisedSettings
from calscope.deconv.noise import noise_sigma
from calscope.infer.features import MODEL_FS, features, to_model_rate
from calscope.deconv.resample import n_frames_at, resample_with_gaps
from calscope.io.ground_truth import GroundTruthRecording
from calscope.metrics import gaussian_smooth, resample_linear, spike_counts


@dataclass(frozen=True)
class TrainingTrace:
    """One ground-truth recording, ready for augmentation.

    Attributes:
        dataset, neuron: where it comes from (datasets weigh equally in training).
        dff: (T,) float64 ΔF/F on a regular grid at ``fs``, NaN where nothing was recorded.
        fs: its frame rate (Hz).
        sigma: its own noise σ at ``fs`` (ΔF/F).
        spike_s: (n,) spike times (s) from the grid's first frame.
    """

    dataset: str
    neuron: str
    dff: np.ndarray
    fs: float
    sigma: float
    spike_s: np.ndarray


@dataclass(frozen=True)
class Augmented:
    """One augmented copy of a trace at the model rate: ``x`` (channels, T) float32,
    ``target`` (T,) float32 smoothed spikes per frame, ``valid`` (T,) bool."""

    x: np.ndarray
    target: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class Windows:
    """A minibatch: ``x`` (n, channels, L) float32, ``target`` and ``valid`` (n, L)."""

    x: np.ndarray
    target: np.ndarray
    valid: np.ndarray


def training_traces(recordings: Sequence[GroundTruthRecording]) -> list[TrainingTrace]:
    """Prepare recordings for training; those with fewer than 2 s of data or no spikes are left
    out (they teach nothing about spikes).

    Args:
        recordings: ground truth (``calscope.io.ground_truth``), any frame rates.
    """
    out = []
    for rec in recordings:
        dff, t = resample_linear(rec.dff, rec.time, rec.fs)
        if dff.size < 2 * rec.fs or rec.spike_times.size == 0:
            continue
        recorded = np.interp(t, rec.time, np.isfinite(rec.dff).astype(np.float64)) > 0.5
        sigma = float(noise_sigma(dff[None, :], rec.fs)[0])
        out.append(TrainingTrace(rec.dataset, rec.neuron, np.where(recorded, dff, np.nan),
                                 float(rec.fs), sigma, rec.spike_times - t[0]))
    return out


def match_noise(y: np.ndarray, sigma: float, target_sigma: float,
                rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise to a trace with noise σ ``sigma`` so its noise σ becomes
    ``target_sigma`` (≥ ``sigma``; variances add). Returns a new (T,) array."""
    extra = np.sqrt(max(target_sigma**2 - sigma**2, 0.0))
    return y + rng.standard_normal(y.size) * extra


def augment(trace: TrainingTrace, rng: np.random.Generator, settings: SupervisedSettings
            ) -> Augmented:
    """One augmented copy of ``trace`` at the model rate.

    - With probability ``low_rate_fraction`` the copy is first recorded again at a lower frame
      rate (:func:`at_lower_rate`), as a slower scan of the same cell would record it: sampled
      at instants with probability ``low_rate_point_fraction``, else averaged over each frame.
    - With probability ``1 − clean_fraction`` its noise σ is raised by a factor drawn
      log-uniformly from [1, ``max_noise_factor``], with white noise at the copy's frame rate,
      before resampling.
    - With ``max_stretch`` > 1 the copy is also read as if recorded at k × its frame rate, k
      drawn log-uniformly from [1/``max_stretch``, ``max_stretch``]: its kinetics run k× faster
      and its spikes come k× denser, as for indicators and cells not in the training data.
    - With ``max_gain`` > 1 its ΔF/F (signal and noise alike) is multiplied by a factor drawn
      log-uniformly from [1/``max_gain``, ``max_gain``]: the same spikes at another ΔF/F per
      spike, as for indicators, expression levels and F0 estimates not in the training data.
    - The target is the spike count per model frame smoothed by a Gaussian of σ =
      max(``target_sigma_s``, ``target_sigma_frames`` / the copy's rate): a copy recorded at a
      low rate gets a target no sharper than its frames can resolve.
    """
    y, fs, sigma = trace.dff, trace.fs, trace.sigma
    if rng.random() < settings.low_rate_fraction:
        # (no draw when off: training without it stays bit-identical to before it existed)
        share = settings.low_rate_point_fraction
        point = share > 0 and rng.random() < share
        y, fs, sigma = at_lower_rate(trace, rng, settings.min_rate_hz, settings.max_rate_hz,
                                     point)
    if rng.random() >= settings.clean_fraction:
        factor = np.exp(rng.uniform(0.0, np.log(settings.max_noise_factor)))
        y = match_noise(y, sigma, sigma * factor, rng)
    stretch = 1.0
    if settings.max_stretch > 1.0:
        stretch = _log_uniform_factor(rng, settings.max_stretch)
    rate = fs * stretch  # the copy's frame rate as the network will read it
    if settings.max_gain > 1.0:
        y = y * _log_uniform_factor(rng, settings.max_gain)
    y_model, observed = to_model_rate(y, rate)
    feats = features(y_model, settings.cell_context, settings.residual_input)
    counts = spike_counts(trace.spike_s / stretch, np.arange(y_model.shape[1]) / MODEL_FS,
                          MODEL_FS)
    sigma_s = max(settings.target_sigma_s, settings.target_sigma_frames / rate)
    target = gaussian_smooth(counts, MODEL_FS, sigma_s).astype(np.float32)
    return Augmented(feats.x[0], target, observed[0] & ~feats.bad[0])


def _log_uniform_factor(rng: np.random.Generator, limit: float) -> float:
    """A factor drawn log-uniformly from [1/``limit``, ``limit``] (one draw of ``rng``)."""
    return float(np.exp(rng.uniform(-1.0, 1.0) * np.log(limit)))


def at_lower_rate(trace: TrainingTrace, rng: np.random.Generator, min_rate_hz: float,
                  max_rate_hz: float = MODEL_FS, point: bool = False
                  ) -> tuple[np.ndarray, float, float]:
    """The trace as recorded at a rate r drawn log-uniformly from [``min_rate_hz``, min(its
    rate, ``max_rate_hz``, :data:`MODEL_FS`)]. A trace already at or below ``min_rate_hz`` is
    returned unchanged.

    By default each new frame averages the old frames it spans
    (:func:`calscope.deconv.resample.resample_with_gaps`), as a camera integrates over its
    exposure, so white noise falls to σ · sqrt(r / fs). With ``point``, each new frame is the
    old frame nearest to an instant within half a frame of its time (a random phase), as a
    raster scan that visits the cell briefly once per frame records it: the noise stays σ and
    fast rises stay sharp.

    Returns:
        ``(dff, r, sigma)``: (T_r,) ΔF/F at r Hz (NaN where not recorded), r (Hz), and its
        noise σ (ΔF/F).
    """
    top = min(trace.fs, max_rate_hz, MODEL_FS)
    if top <= min_rate_hz:
        return trace.dff, trace.fs, trace.sigma
    rate = float(np.exp(rng.uniform(np.log(min_rate_hz), np.log(top))))
    if point:
        # frame k is read at (k + phase) / rate s, within half a frame of its time k / rate
        # (where a frame average is centred), the phase fixed by where the cell lies in the scan
        phase = rng.uniform(-0.5, 0.5)
        k = np.arange(n_frames_at(trace.dff.size, trace.fs, rate))
        nearest = np.rint((k + phase) * trace.fs / rate).astype(np.int64)
        return trace.dff[np.clip(nearest, 0, trace.dff.size - 1)], rate, trace.sigma
    y, _ = resample_with_gaps(trace.dff, trace.fs, rate)
    return y[0], rate, trace.sigma * float(np.sqrt(rate / trace.fs))


def indicator_of(dataset: str) -> str:
    """The indicator in a dataset name of CASCADE's form (``DS09-GCaMP6f-m-V1`` → ``GCaMP6f``);
    any other name (simulated recordings, a lab's own folders named otherwise) is its own."""
    match = re.match(r"DS\d+-([^-]+)", dataset)
    return match.group(1) if match else dataset


def sample_windows(traces: Sequence[TrainingTrace], inputs: Sequence[Augmented],
                   n_windows: int, length: int, rng: np.random.Generator,
                   balance: str = "dataset") -> Windows:
    """Draw ``n_windows`` windows of ``length`` model frames: a dataset uniformly (with
    ``balance="indicator"``: an indicator (:func:`indicator_of`) uniformly, then one of its
    datasets), then a neuron of it uniformly, then one of its recordings in proportion to
    length, then a start uniformly. Recordings shorter than ``length`` are zero-padded
    (padding is not ``valid``)."""
    if balance not in ("dataset", "indicator"):
        raise ValueError(f"balance: 'dataset' or 'indicator', got {balance!r}")
    by_dataset: dict[str, dict[str, list[int]]] = {}
    for i, tr in enumerate(traces):
        by_dataset.setdefault(tr.dataset, {}).setdefault(tr.neuron, []).append(i)
    datasets = sorted(by_dataset)
    by_indicator: dict[str, list[str]] = {}
    if balance == "indicator":
        for name in datasets:
            by_indicator.setdefault(indicator_of(name), []).append(name)
    groups = [by_indicator[k] for k in sorted(by_indicator)]
    x = np.zeros((n_windows, inputs[0].x.shape[0], length), dtype=np.float32)
    target = np.zeros((n_windows, length), dtype=np.float32)
    valid = np.zeros((n_windows, length), dtype=bool)
    for w in range(n_windows):
        if groups:  # an indicator uniformly, then one of its datasets
            group = groups[rng.integers(len(groups))]
            neurons = by_dataset[group[rng.integers(len(group))]]
        else:
            neurons = by_dataset[datasets[rng.integers(len(datasets))]]
        members = neurons[sorted(neurons)[rng.integers(len(neurons))]]
        sizes = np.array([inputs[i].target.size for i in members], dtype=np.float64)
        i = members[rng.choice(len(members), p=sizes / sizes.sum())]
        n = inputs[i].target.size
        start = int(rng.integers(max(n - length, 0) + 1))
        stop = min(start + length, n)
        x[w, :, : stop - start] = inputs[i].x[:, start:stop]
        target[w, : stop - start] = inputs[i].target[start:stop]
        valid[w, : stop - start] = inputs[i].valid[start:stop]
    return Windows(x=x, target=target, valid=valid)
