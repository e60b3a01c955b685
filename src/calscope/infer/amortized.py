"""Amortized spike inference: train a recognition network once as a VAE, infer in one pass.

``fit(traces, fs)`` trains q(s | x) (a temporal CNN, optionally autoregressive) against a
generative calcium model (`calscope.infer.generative`) by maximising the ELBO with VIMCO or a
relaxed-Bernoulli estimator, with no spike labels (Speiser et al. 2017). The returned
`AmortizedModel` then infers spike probabilities of any number of cells in one forward pass
(``model.infer``), with posterior samples and a 90% band. ``save``/``load`` use one ``.pt``
file holding the weights, the settings and the sampling rate. Training and inference run on a
GPU when torch sees one (``device="auto"``), else on the CPU, where they are deterministic.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from calscope.config import AmortizedSettings
from calscope.deconv import deconvolve as oasis_deconvolve
from calscope.deconv.bandwidth import working_rate
from calscope.deconv.resample import resample_with_gaps
from calscope.errors import InputError
from calscope.infer.blend import blend_with_oasis, with_weight
from calscope.infer.blocks import cell_blocks
from calscope.infer.generative import CalciumModel
from calscope.infer.initial_model import initial_model
from calscope.infer.model_file import read_model_file
from calscope.io.writers import atomic_open
from calscope.infer.normalize import Normalized, normalize
from calscope.infer.recognition import (
    AutoregressiveRecognition,
    FactorizedRecognition,
    split_windows,
    stitch,
)
from calscope.infer.result import SpikeInference, at_input_rate
from calscope.infer.torch_device import resolve_device, same_device
from calscope.infer.training import Progress, TrainingLog, train
from calscope.validation import as_trace_matrix, check_fs

FORMAT = "calscope-amortized"
FORMAT_VERSION = 1
_INFER_WINDOW = 4096  # frames per inference window (plus margins)
_INFER_CHUNK = 16  # windows per forward pass on the CPU (a GPU: every window of a block)
_AR_DRAWS = 100  # autoregressive: sampled spike trains behind the probability and band


@dataclass
class AmortizedModel:
    """A trained recognition network with its generative model and training context.

    Attributes:
        recognition: the network q(s | x).
        generative: the calcium model, one parameter row per training cell.
        settings: the training settings.
        fs: sampling rate (Hz) it was trained at.
        fingerprint: hash of the training traces (their per-cell parameters are reused when
            the same traces are inferred).
        log: what training did (None for a loaded model).
    """

    recognition: torch.nn.Module
    generative: CalciumModel
    settings: AmortizedSettings
    fs: float
    fingerprint: str
    log: TrainingLog | None = None

    def infer(self, traces: np.ndarray, fs: float, n_samples: int = 0,
              seed: int = 0, native_fs: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> SpikeInference:
        """Spike probabilities of (cells, T) or (T,) traces: one pass of the network per block of
        cells (about 2 million samples each, which bounds the memory).

        Args:
            traces: fluorescence (e.g. ΔF/F) at ``fs`` Hz; NaN marks missing samples.
            fs: sampling rate (Hz): the rate the model was trained at, or a higher one the
                traces were resampled up to from it (detected, or ``native_fs``).
            n_samples: posterior spike samples to return (0: none; the factorized network's
                band is then exact, the autoregressive one's comes from its own draws).
            seed: seed of the samples.
            native_fs: the rate the traces were recorded at, when above the model's rate is
                given as ``fs`` (None: detected, `calscope.deconv.bandwidth.native_rate`).
            progress: called as ``progress(cells done, cells)`` after each block of cells.

        Returns:
            `SpikeInference`; NaN exactly where the input is NaN. Traces resampled up from the
            model's rate are inferred at that rate and mapped back
            (`calscope.infer.result.at_input_rate`; ``native_fs`` says so).
        """
        if isinstance(fs, (int, float)) and math.isfinite(fs) and fs > self.fs * (1 + 1e-3):
            y = as_trace_matrix(traces)
            rate = working_rate(y, fs, native_fs)
            if math.isclose(rate, self.fs, rel_tol=0.02):
                low, _ = resample_with_gaps(y, fs, self.fs)
                return at_input_rate(self.infer(low, self.fs, n_samples, seed,
                                                progress=progress), traces, fs)
        _check_rate(fs, self.fs)
        if n_samples < 0:
            raise InputError(f"n_samples: must be ≥ 0, got {n_samples}")
        norm = normalize(traces, fs)
        # the training traces themselves: their own fitted parameters give the calcium
        trained = (norm.x.shape[0] == self.generative.n_cells
                   and _fingerprint(norm.x) == self.fingerprint)
        generator = torch.Generator(self.device).manual_seed(seed)
        cells, n = norm.x.shape
        # spikes, lower, upper, calcium: separate arrays, so keeping one does not keep the others
        out = tuple(np.empty((cells, n)) for _ in range(4))
        samples = np.empty((n_samples, cells, n)) if n_samples else None
        params: list[dict[str, np.ndarray]] = []
        for rows in cell_blocks(cells, n, progress):
            params.append(self._infer_block(norm.take(rows), fs, n_samples, generator,
                                            rows if trained else None, [a[rows] for a in out],
                                            None if samples is None else samples[:, rows]))
        joined = {k: np.concatenate([p[k] for p in params]) for k in params[0]}
        return _result(norm, *out, samples, joined, fs)

    def _infer_block(self, norm: Normalized, fs: float, n_samples: int,
                     generator: torch.Generator, trained_rows: slice | None,
                     out: Sequence[np.ndarray], samples: np.ndarray | None
                     ) -> dict[str, np.ndarray]:
        """Infer the cells of ``norm`` into ``out`` (four (cells, T) arrays: spikes, lower,
        upper, calcium) and ``samples`` ((n_samples, cells, T) or None); returns their parameters.
        ``trained_rows``: where they sit among the training cells (None: new cells)."""
        probs, draws = self._posterior(norm, n_samples, generator)
        if samples is not None:
            samples[:] = draws[:n_samples]
        if draws is None:  # factorized, no samples: the exact per-frame Bernoulli band
            lower = (probs > 0.95).astype(np.float64)
            upper = (probs > 0.05).astype(np.float64)
        else:
            lower = np.quantile(draws, 0.05, axis=0)
            upper = np.quantile(draws, 0.95, axis=0)
        out[0][:] = self._blend(norm, probs, fs)
        out[1][:], out[2][:] = np.minimum(lower, out[0]), np.maximum(upper, out[0])
        out[3][:], params = self._calcium(norm, out[0], trained_rows)
        return params

    def _blend(self, norm: Normalized, probs: np.ndarray, fs: float) -> np.ndarray:
        """The posterior mean mixed with OASIS (setting ``oasis_blend``; 0: the mean alone)."""
        weight = self.settings.oasis_blend
        good = ~norm.bad
        if weight == 0 or not good.any():
            return probs
        x = norm.with_gaps()[good]
        oasis = oasis_deconvolve(x, fs, sn=np.ones(len(x)), baseline=False,
                                  native_fs=fs).spikes
        out = probs.copy()
        out[good] = blend_with_oasis(probs[good], np.nan_to_num(oasis), weight,
                                     norm.mask[good] > 0)
        return out

    def _posterior(self, norm: Normalized, n_samples: int,
                   generator: torch.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Spike probabilities (cells, T) and posterior draws (m, cells, T).

        Factorized: the network's probabilities, and ``n_samples`` Bernoulli draws (None when
        0). Autoregressive: max(``n_samples``, `_AR_DRAWS`) sampled spike trains, whose mean
        is the probability.
        """
        before, after = self.recognition.receptive_field
        x = torch.as_tensor(norm.x, device=self.device)
        mask = torch.as_tensor(norm.mask, device=self.device)
        xw, mw, plan = split_windows(x, mask, _INFER_WINDOW, max(before, after))
        with torch.no_grad():
            if isinstance(self.recognition, AutoregressiveRecognition):
                draws = stitch(self.recognition.sample(xw, mw, max(n_samples, _AR_DRAWS),
                                                       generator)[0], plan)
                probs = draws.mean(dim=0)
            else:
                # on the CPU, chunks of windows keep the convolutions' working set in cache; a
                # GPU takes the block's windows (≈ 2 M samples, `cell_blocks`) in one pass
                step = _INFER_CHUNK if self.device.type == "cpu" else max(1, len(xw))
                logits = torch.cat([self.recognition(xw[i:i + step], mw[i:i + step])
                                    for i in range(0, len(xw), step)])
                probs = stitch(torch.sigmoid(logits), plan)
                draws = (torch.bernoulli(probs.expand(n_samples, *probs.shape),
                                         generator=generator) if n_samples else None)
        return _to_numpy(probs), None if draws is None else _to_numpy(draws)

    def _calcium(self, norm: Normalized, probs: np.ndarray, trained_rows: slice | None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fitted trace (cells, T) in input units and per-cell parameters: the training cells'
        own (``trained_rows``: which of them these are), or fitted here (None)."""
        model, device = self.generative, self.device
        spikes = torch.as_tensor(probs.astype(np.float32), device=device)[None]
        x = torch.as_tensor(norm.x, device=device)
        mask = torch.as_tensor(norm.mask, device=device)
        with torch.no_grad():
            if trained_rows is not None:
                cells = torch.arange(trained_rows.start, trained_rows.stop, device=device)
                pred = _to_numpy(model.predict(spikes, cells, x, mask)[0])
                params = {k: v[trained_rows] for k, v in model.cell_parameters().items()}
            else:  # new cells: the population's median kinetics, gain and bias by least squares
                pred, params = _refit_gain(model, spikes[0], x, mask)
        gain = params.pop("gain_sigma") * norm.sn
        params.pop("bias_sigma", None)
        params.update(gain=gain, sn=norm.sn * params.pop("noise_sigma", 1.0))
        return pred * norm.sn[:, None] + norm.baseline, params

    def with_oasis_blend(self, weight: float) -> AmortizedModel:
        """This model with another ``oasis_blend`` (an inference setting; no retraining)."""
        return with_weight(self, weight)

    @property
    def device(self) -> torch.device:
        """The device the networks run on (:meth:`to` moves them)."""
        return next(self.recognition.parameters()).device

    def to(self, device: str | torch.device) -> AmortizedModel:
        """This model with both networks on ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ``"mps"``: :func:`calscope.infer.torch_device.resolve_device`); the
        OASIS blend stays on the CPU. Returns ``self`` when already there.

        Raises:
            InputError: an unknown device or one this machine does not have.
        """
        target = resolve_device(device)
        if same_device(self.device, target):
            return self
        return replace(self, recognition=copy.deepcopy(self.recognition).to(target),
                       generative=copy.deepcopy(self.generative).to(target))

    def save(self, path: str | Path) -> Path:
        """Write the model (weights, settings, fs) to one ``.pt`` file; returns the path."""
        path = Path(path)
        payload = {
            "format": FORMAT, "version": FORMAT_VERSION, "fs": self.fs,
            "settings": self.settings.model_dump(), "fingerprint": self.fingerprint,
            "recognition": _on_cpu(self.recognition.state_dict()),
            "generative": _on_cpu(self.generative.state_dict()),
            "n_cells": self.generative.n_cells,
        }
        with atomic_open(path) as handle:
            torch.save(payload, handle)
        return path


def fit(traces: np.ndarray, fs: float, settings: AmortizedSettings | None = None,
        progress: Progress | None = None, native_fs: float | None = None,
        device: str | torch.device = "auto", **overrides: object) -> AmortizedModel:
    """Train an amortized spike-inference model on (cells, T) or (T,) traces at ``fs`` Hz.

    Args:
        traces: fluorescence (e.g. ΔF/F); NaN marks missing samples.
        fs: sampling rate (Hz).
        settings: `AmortizedSettings` (defaults when None); ``overrides`` replace fields.
        progress: called after every epoch with (epoch, max_epochs, held-out bound).
        native_fs: the rate the traces were recorded at when they were resampled up to ``fs``
            (None: detected, `calscope.deconv.bandwidth.native_rate`; ``fs``: no detection).
            The model is trained at that rate (its ``fs``), and `AmortizedModel.infer` maps
            traces at ``fs`` to it.
        device: where the networks train and then infer: ``"auto"`` (default: a GPU when
            torch sees one, else the CPU, where training is deterministic), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns:
        The trained `AmortizedModel` (its ``log`` says how training went).

    Raises:
        InputError: bad settings, traces or fs, or a device this machine does not have.
    """
    try:
        settings = AmortizedSettings.model_validate(
            {**(settings or AmortizedSettings()).model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(": ".join(filter(None, (".".join(map(str, e["loc"])), e["msg"])))
                             for e in exc.errors())
        raise InputError(f"amortized settings: {problems}") from None
    target = resolve_device(device)
    y = as_trace_matrix(traces)
    rate = working_rate(y, check_fs(fs), native_fs)
    if rate < fs:
        traces, fs = resample_with_gaps(y, fs, rate)[0], rate
    norm = normalize(traces, fs)
    torch.manual_seed(settings.seed)
    with target:  # the networks' parameters are made on the device
        recognition = _recognition(settings, fs)
        model, targets = initial_model(norm, fs, settings)
    log = train(recognition, model, norm.x, norm.mask, fs, settings, progress, targets)
    return AmortizedModel(recognition, model, settings, float(fs), _fingerprint(norm.x), log)


def load(path: str | Path, device: str | torch.device = "auto") -> AmortizedModel:
    """Read a model written by `AmortizedModel.save`, onto ``device`` (``"auto"``: a GPU when
    torch sees one, else the CPU; see `fit`).

    Raises:
        InputError: the file is missing or is not a calscope amortized model, or the device
            is unknown or absent.
    """
    target = resolve_device(device)
    payload = read_model_file(Path(path), FORMAT, "train one with `calscope train`",
                              "not a calscope amortized model; train one with `calscope train`")
    # files written before the likelihood was a setting were trained with Gaussian noise
    settings = AmortizedSettings.model_validate({"likelihood": "gaussian", **payload["settings"]})
    fs = float(payload["fs"])
    n = int(payload["n_cells"])
    with target:
        recognition = _recognition(settings, fs)
        model = CalciumModel(settings.generative, fs, np.ones(n), np.full(n, 0.05), np.ones(n),
                             settings.rate_hz, likelihood=settings.likelihood)
    recognition.load_state_dict(payload["recognition"])
    recognition.eval()
    model.load_state_dict(payload["generative"])
    return AmortizedModel(recognition, model, settings, fs, str(payload["fingerprint"]))


def _recognition(settings: AmortizedSettings, fs: float) -> torch.nn.Module:
    cls = (AutoregressiveRecognition if settings.recognition == "autoregressive"
           else FactorizedRecognition)
    return cls(fs, channels=settings.channels)


def _refit_gain(model: CalciumModel, spikes: torch.Tensor, x: torch.Tensor,
                mask: torch.Tensor) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fitted traces for cells the model was not trained on: median kinetics, LS gain/bias."""
    n = x.shape[0]
    c = _median_kernel_calcium(model, spikes)
    w = mask
    sw, sc, sx = w.sum(1).clamp_min(1), (w * c).sum(1), (w * x).sum(1)
    scc, scx = (w * c * c).sum(1), (w * c * x).sum(1)
    det = (sw * scc - sc * sc).clamp_min(1e-9)
    gain = ((sw * scx - sc * sx) / det).clamp_min(0.0)
    bias = (sx - gain * sc) / sw
    pred = _to_numpy(gain[:, None] * c + bias[:, None])
    taus = model.cell_parameters()
    params = {k: np.full(n, float(np.median(v))) for k, v in taus.items()
              if k.startswith("tau")}
    params.update(gain_sigma=_to_numpy(gain), bias_sigma=_to_numpy(bias))
    return pred, params


def _median_kernel_calcium(model: CalciumModel, spikes: torch.Tensor) -> torch.Tensor:
    """(cells, T) calcium of ``spikes`` under the median kinetics of the training cells."""
    T = spikes.shape[-1]
    with spikes.device:
        med = CalciumModel(model.kind, model.fs, np.ones(1), np.full(1, 0.05), np.ones(1))
    with torch.no_grad():
        med.log_tau_decay.fill_(float(model.log_tau_decay.median()))
        med.log_tau_rise.fill_(float(model.log_tau_rise.median()))
        cells = torch.zeros(spikes.shape[0], dtype=torch.long, device=spikes.device)
        return med.calcium(spikes[None], cells)[0][:, :T]


def _check_rate(fs: float, trained: float) -> None:
    if not (np.isfinite(fs) and fs > 0):
        raise InputError(f"fs: the sampling rate must be a positive number of Hz, got {fs}")
    if not math.isclose(fs, trained, rel_tol=1e-3):
        raise InputError(f"fs={fs:g} Hz but the model was trained at {trained:g} Hz (and the "
                         f"traces are not resampled up from it); resample the traces to "
                         f"{trained:g} Hz or train a model at {fs:g} Hz")


def _to_numpy(values: torch.Tensor) -> np.ndarray:
    """A float64 numpy copy of a tensor on any device."""
    return values.detach().cpu().numpy().astype(np.float64)


def _on_cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with every tensor on the CPU (a model file reads on any machine)."""
    return {k: v.cpu() for k, v in state.items()}


def _fingerprint(x: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).hexdigest()


def _result(norm: Normalized, probs: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            calcium: np.ndarray, samples: np.ndarray | None, params: dict[str, np.ndarray],
            fs: float) -> SpikeInference:
    """Apply the NaN rule (and 1-D input) to the inferred arrays."""
    missing = ~norm.observed | norm.bad[:, None]
    arrays = [probs, lower, upper, calcium]
    for a in arrays:
        a[missing] = np.nan
    if samples is not None:
        samples[:, missing] = np.nan
    for key in params:
        params[key] = np.where(norm.bad, np.nan, params[key])
    if norm.was_1d:
        arrays = [a[0] for a in arrays]
        samples = None if samples is None else samples[:, 0]
        params = {k: v[0] for k, v in params.items()}
    return SpikeInference(*arrays, samples=samples, params=params, fs=float(fs))
