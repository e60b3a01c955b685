"""Supervised spike inference: a network trained on real ground truth, shipped in the package.

``load()`` returns the shipped model (``calscope/infer/models/supervised_excitatory.pt`` with its
JSON card; ``load(cell_type=...)`` another cell type's, :mod:`calscope.infer.cell_types`);
``model.infer(traces, fs)`` gives expected spikes per frame with a 90% band for any number of
cells at any frame rate in one pass. ``train(ground_truth_dir)`` reproduces a model from
ground-truth recordings (simultaneous electrophysiology and imaging); ``calscope train --method
supervised`` is the same from the command line.

Traces are resampled to the network's 30 Hz (:mod:`calscope.infer.features`), and its output is
resampled back to the input's frames, keeping the expected spike count.
"""

from __future__ import annotations

import copy
import datetime
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

import calscope
from calscope.config import BlendForm, SupervisedSettings
from calscope.deconv import deconvolve
from calscope.deconv.bandwidth import working_rate
from calscope.deconv.resample import counts_to_rate, n_frames_at
from calscope.errors import InputError
from calscope.infer.blend import blend_with_oasis, with_weight
from calscope.infer.blocks import BLOCK_SAMPLES, cell_blocks
from calscope.infer.card_check import check_subset, slice_score
from calscope.infer.cell_types import (DEFAULT_CELL_TYPE, INHIBITORY_DATASETS, check_cell_type,
                                       dataset_cell_type, shipped_model)
from calscope.infer.features import MODEL_FS, Features, features, to_model_rate
from calscope.infer.model_file import read_model_file
from calscope.infer.result import SpikeInference
from calscope.infer.simulated_truth import SIMULATED_PREFIX, simulated_recordings
from calscope.infer.spikenet import SpikeEnsemble, SpikeNet
from calscope.infer.supervised_training import (Progress, SupervisedLog, network_for,
                                                 train_members)
from calscope.infer.torch_device import resolve_device, same_device
from calscope.infer.training_set import TrainingTrace, training_traces
from calscope.io.ground_truth import GroundTruthRecording, cascade_dataset_dirs, load_cascade_dataset
from calscope.io.writers import atomic_open
from calscope.validation import (MIN_SAMPLES, UNUSABLE_ROW_WARNING, as_trace_matrix, check_fs,
                                 require_usable, unusable_rows, warn_unusable_rows)

FORMAT = "calscope-supervised"
FORMAT_VERSION = 1
#: The default shipped model and its card (one per cell type: `shipped_model`).
SHIPPED = shipped_model(DEFAULT_CELL_TYPE)
#: Frame rates (Hz) the network accepts (it was trained on recordings from 2.5 to 500 Hz).
FS_RANGE = (2.0, 1000.0)
_CHUNK_FRAMES = 160_000  # cells × frames per forward pass on a CPU (stays in its cache)
_MAX_DFF_SIGMA = 2.0  # median noise σ above which traces are not ΔF/F as a fraction


@dataclass
class SupervisedModel:
    """A trained supervised network with its settings and card.

    Attributes:
        net: the network, or an ensemble of networks whose outputs are averaged (eval mode).
        settings: the training settings.
        card: what it was trained on and how well it scored (JSON-ready dict).
        log: what training did (None for a loaded model).
    """

    net: SpikeNet | SpikeEnsemble
    settings: SupervisedSettings
    card: dict[str, Any] = field(default_factory=dict)
    log: SupervisedLog | None = None

    def infer(self, traces: np.ndarray, fs: float, native_fs: float | None = None,
              progress: Callable[[int, int], None] | None = None) -> SpikeInference:
        """Expected spikes per frame of (cells, T) or (T,) ΔF/F traces: one network pass per
        block of cells (about 2 million samples at 30 Hz each, which bounds the memory).

        Args:
            traces: ΔF/F (a fraction, not %) at ``fs`` Hz; NaN marks missing samples.
            fs: frame rate (Hz), within :data:`FS_RANGE`.
            native_fs: the rate (Hz, ≤ fs) the traces were recorded at when they were
                resampled up to ``fs``; when it is below 30 Hz, the OASIS solution blended in
                is solved at that rate. None (default) detects it
                (`calscope.deconv.bandwidth.native_rate`); pass ``fs`` to turn detection off.
            progress: called as ``progress(cells done, cells)`` after each block of cells.

        Returns:
            `SpikeInference` with ``spikes`` (expected spikes per frame), ``lower``/``upper``
            (5th/95th percentiles of the Gaussian-smoothed spike count per frame),
            ``calcium=None``, ``params={"sn": noise σ at 30 Hz}``, ``native_fs``; NaN exactly
            where the input is NaN and on rows that cannot be inferred (all NaN, constant).

        Raises:
            InputError: not a numeric (cells, T) array, fs outside :data:`FS_RANGE`, or traces
                shorter than 10 frames at the network's 30 Hz.
        """
        fs = check_fs(fs)
        if not FS_RANGE[0] <= fs <= FS_RANGE[1]:
            raise InputError(f"fs={fs:g} Hz is outside the {FS_RANGE[0]:g}–{FS_RANGE[1]:g} Hz the "
                             "supervised model handles; check fs, or use calscope's OASIS "
                             "(method='oasis', `--method oasis`), which takes any rate")
        was_1d = np.ndim(traces) == 1
        y = as_trace_matrix(traces, copy=False)  # read only, a block at a time
        if n_frames_at(y.shape[1], fs, MODEL_FS) < MIN_SAMPLES:
            raise InputError(f"traces have {y.shape[1]} frames ({y.shape[1] / fs:.2g} s); the "
                             f"supervised model needs at least {MIN_SAMPLES / MODEL_FS:.2g} s "
                             "(calscope's OASIS, method='oasis' or `--method oasis`, needs "
                             f"{MIN_SAMPLES} frames)")
        rate = working_rate(y, fs, native_fs, lowest=FS_RANGE[0])
        cells, n = y.shape
        # spikes, lower, upper: separate arrays, so keeping one does not keep the others
        out = tuple(np.full((cells, n), np.nan) for _ in range(3))
        sn = np.full(cells, np.nan)
        bad = np.ones(cells, dtype=bool)
        # blocks of cells bound the memory of the intermediate arrays (~70 bytes per sample)
        for rows in cell_blocks(cells, n_frames_at(n, fs, MODEL_FS), progress):
            bad[rows] = self._infer_block(y[rows], fs, rate, [a[rows] for a in out], sn[rows])
        warn_unusable_rows(require_usable(bad), stacklevel=3)
        _warn_if_not_dff(sn)
        spikes, lower, upper = out
        if was_1d:
            spikes, lower, upper, sn = spikes[0], lower[0], upper[0], sn[0]
        return SpikeInference(spikes, lower, upper, None, params={"sn": sn}, fs=float(fs),
                              native_fs=rate)

    def _infer_block(self, y: np.ndarray, fs: float, rate: float, out: Sequence[np.ndarray],
                     sn: np.ndarray) -> np.ndarray:
        """Infer (cells, T) traces into ``out`` (three (cells, T) arrays: spikes, lower, upper;
        left NaN on unusable rows) and ``sn`` ((cells,)); returns the (cells,) bool unusable
        rows (not reported here: :meth:`infer` reports them once, numbered in the whole input)."""
        y30, observed = to_model_rate(y, fs)
        if unusable_rows(y30).all():
            return np.ones(y.shape[0], dtype=bool)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=UNUSABLE_ROW_WARNING)
            feats = features(y30, self.settings.cell_context, self.settings.residual_input)
        out30 = self._run(feats.x)
        out30[:, 0] = blend_with_oasis(out30[:, 0], self._oasis30(y, fs, rate, feats),
                                       self.settings.oasis_blend, observed,
                                       self.settings.oasis_blend_form)
        spikes, lower, upper = (counts_to_rate(out30[:, k], MODEL_FS, fs, y.shape[1])
                                for k in range(3))
        missing = ~np.isfinite(y) | feats.bad[:, None]
        for a, value in zip(out, (spikes, np.minimum(lower, spikes), np.maximum(upper, spikes))):
            a[:] = np.where(missing, np.nan, value)
        sn[:] = np.where(feats.bad, np.nan, feats.sn)
        return feats.bad

    def _oasis30(self, y: np.ndarray, fs: float, rate: float, feats: Features) -> np.ndarray:
        """(cells, T30) OASIS spikes to blend with: the features' own (solved at 30 Hz) unless
        the traces were resampled up from a ``rate`` below 30 Hz; then solved at that rate and
        spread onto 30 Hz. Band-limited interpolation leaves the top of the 30 Hz spectrum
        empty, the noise σ measured there collapses and OASIS fits noise as spikes (Spikefinder
        4, 7.8 Hz data at 100 Hz: r 0.26 → 0.44). Traces recorded below 30 Hz keep the 30 Hz
        channel: at 7.5 Hz it blended better in leave-one-dataset-out (mean r 0.650 vs 0.630)."""
        if (rate >= min(fs, MODEL_FS) or self.settings.oasis_blend == 0 or feats.bad.all()
                or n_frames_at(y.shape[1], fs, rate) < MIN_SAMPLES):
            return feats.x[:, 3]
        good = ~feats.bad
        oasis = np.zeros_like(feats.x[:, 3], dtype=np.float64)
        with warnings.catch_warnings():  # unusable rows were reported by `features`
            warnings.simplefilter("ignore")
            solved = deconvolve(y[good], fs, native_fs=rate).spikes
        oasis[good] = counts_to_rate(np.nan_to_num(solved), fs, MODEL_FS, oasis.shape[1])
        return oasis

    @property
    def device(self) -> torch.device:
        """The device the network runs on (:meth:`to` moves it)."""
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> SupervisedModel:
        """This model with its network on ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ``"mps"``: :func:`calscope.infer.torch_device.resolve_device`); the
        features and the OASIS blend stay on the CPU. Returns ``self`` when already there.

        Raises:
            InputError: an unknown device or one this machine does not have.
        """
        target = resolve_device(device)
        if same_device(self.device, target):
            return self
        return replace(self, net=copy.deepcopy(self.net).to(target))

    def _run(self, x: np.ndarray) -> np.ndarray:
        """(cells, channels, T) features → (cells, 3, T) float64 network output."""
        out = np.empty((x.shape[0], 3, x.shape[2]))
        device = self.device
        frames = _CHUNK_FRAMES if device.type == "cpu" else BLOCK_SAMPLES
        step = max(1, frames // x.shape[2])
        with torch.inference_mode():
            for i in range(0, x.shape[0], step):
                chunk = torch.from_numpy(x[i:i + step]).to(device)
                out[i:i + step] = self.net(chunk).cpu().numpy()
        return out

    def with_oasis_blend(self, weight: float | None,
                         form: BlendForm | None = None) -> SupervisedModel:
        """This model with another ``oasis_blend`` weight and ``oasis_blend_form`` ("linear"
        or "geometric"; None: keep the model's): inference settings, no retraining."""
        return with_weight(self, weight, form)

    def save(self, path: str | Path) -> None:
        """Write the weights, settings and card to one ``.pt`` file (and the card beside it as
        ``<path>.json``), atomically."""
        path = Path(path)
        payload = {"format": FORMAT, "version": FORMAT_VERSION,
                   "settings": self.settings.model_dump(mode="json"),
                   "net": {k: v.cpu() for k, v in self.net.state_dict().items()},
                   "card": json.dumps(self.card)}
        with atomic_open(path) as fh:
            torch.save(payload, fh)
        with atomic_open(path.with_suffix(".json"), text=True) as fh:
            fh.write(json.dumps(self.card, indent=2) + "\n")


def _warn_if_not_dff(sn: np.ndarray) -> None:
    """Warn when the noise level says the traces are not ΔF/F as a fraction (the training data's
    σ stays below about 1; raw fluorescence or ΔF/F in % sit far above)."""
    typical = np.nanmedian(sn) if np.isfinite(sn).any() else np.nan
    if typical > _MAX_DFF_SIGMA:
        warnings.warn(f"the traces' median noise σ is {typical:.3g}, far above ΔF/F as a fraction "
                      "(the supervised model was trained on σ ≤ 1): pass ΔF/F = (F − F0) / F0, "
                      "not raw fluorescence or percent (calscope.extract.delta_f_over_f; "
                      "`calscope deconvolve --dff`)", UserWarning, stacklevel=3)


def _warn_if_training_not_dff(traces: Sequence[TrainingTrace]) -> None:
    """Warn, naming them, about training datasets whose median noise σ says they are not ΔF/F
    as a fraction (the CASCADE datasets' medians are 0.02–0.24)."""
    by_dataset: dict[str, list[float]] = {}
    for tr in traces:
        by_dataset.setdefault(tr.dataset, []).append(tr.sigma)
    odd = [f"{name} (σ {np.median(s):.3g})" for name, s in sorted(by_dataset.items())
           if np.median(s) > _MAX_DFF_SIGMA]
    if odd:
        warnings.warn(f"training data not ΔF/F as a fraction: {', '.join(odd)}; the network "
                      "learns spikes per unit of ΔF/F, so give (F − F0) / F0, not raw "
                      "fluorescence or percent", UserWarning, stacklevel=3)


def load(path: str | Path | None = None, cell_type: str | None = None,
         device: str | torch.device = "auto") -> SupervisedModel:
    """Read a supervised model; ``None`` reads the one shipped with calscope for ``cell_type``.

    Args:
        path: a model file from :func:`train` / ``calscope train --method supervised``.
        cell_type: with no ``path``, which shipped model: ``"excitatory"`` (the default:
            trained on principal neurons), ``"inhibitory"`` (on interneurons) or ``"any"`` (on
            every dataset); see :mod:`calscope.infer.cell_types`.
        device: where the network runs: ``"auto"`` (default: a GPU when torch sees one, else
            the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. Outputs on a GPU
            differ from the CPU's by rounding only (torch's default TF32 convolutions on
            recent NVIDIA GPUs round more; ``bench/supervised_gpu.py`` measures it).

    Raises:
        InputError: the file is missing or is not a calscope supervised model, an unknown
            cell type, both a path and a cell type, or a device this machine does not have.
    """
    target = resolve_device(device)
    if path is not None and cell_type is not None:
        raise InputError(f"a model file ({path}) and a cell type ({cell_type}) were both given; "
                         "a model file was trained on its own cell types (its card says which)")
    path = shipped_model(cell_type or DEFAULT_CELL_TYPE) if path is None else Path(path)
    payload = read_model_file(path, FORMAT, "train one with `calscope train --method supervised`",
                              "not a calscope supervised model (an amortized model is used "
                              "with method='amortized')")
    if payload.get("version") != FORMAT_VERSION:
        raise InputError(f"{path}: a supervised model of format version {payload.get('version')}; "
                         f"this calscope reads version {FORMAT_VERSION}; "
                         "retrain the model with this calscope version")
    try:
        # files written before the low-rate augmentation existed were trained without it,
        # and those written before the geometric blend mixed OASIS in linearly
        settings = SupervisedSettings.model_validate({"low_rate_fraction": 0.0,
                                                      "oasis_blend_form": "linear",
                                                      **payload["settings"]})
    except ValidationError as error:
        raise InputError(f"{path}: its settings do not load ({error.errors()[0]['msg']}); "
                         "retrain the model with this calscope version") from None
    net = network_for(settings)
    net.load_state_dict(payload["net"])
    net.eval()
    return SupervisedModel(net.to(target), settings, json.loads(payload["card"]))


def load_ground_truth(root: str | Path, exclude: Sequence[str] = (),
                      cell_type: str = "any") -> list[GroundTruthRecording]:
    """Every recording of every dataset folder under ``root`` (``*.mat`` files in CASCADE's
    layout), except the folders whose names start with one of ``exclude``; with a
    ``cell_type`` other than ``"any"``, only the folders of that type
    (:func:`calscope.infer.cell_types.dataset_cell_type`)."""
    check_cell_type(cell_type)
    found = cascade_dataset_dirs(Path(root))
    dirs = [d for d in found if not any(d.name.startswith(prefix) for prefix in exclude)
            and cell_type in ("any", dataset_cell_type(d.name))]
    if not found and any(Path(root).glob("*.mat")):
        raise InputError(f"{root}: holds .mat files itself; pass the folder above it (one "
                         "folder per dataset, one .mat file per neuron in each)")
    if not found:
        raise InputError(f"{root}: no dataset folders with .mat files (one folder per "
                         "dataset, one .mat file per neuron in each)")
    if not dirs:
        raise InputError(f"{root}: none of its {len(found)} dataset folders is left to train on "
                         f"after the exclusions ({', '.join(exclude) or 'none'}) and the cell "
                         f"type {cell_type!r} (folders named {', '.join(INHIBITORY_DATASETS)}… are "
                         "inhibitory, all others excitatory)")
    return [rec for d in dirs for rec in load_cascade_dataset(d)]


def train(recordings: Sequence[GroundTruthRecording], settings: SupervisedSettings | None = None,
          progress: Progress | None = None, checkpoint: str | Path | None = None,
          command: str = "", device: str | torch.device = "cpu",
          **overrides: Any) -> SupervisedModel:
    """Train a supervised model on ground-truth recordings.

    Args:
        recordings: ground truth, any frame rates (:func:`load_ground_truth`); with
            ``simulated_minutes`` > 0, simulated recordings
            (:func:`calscope.infer.simulated_truth.simulated_recordings`) are added.
        settings: training settings (default :class:`SupervisedSettings`); ``overrides`` replace
            single fields.
        progress: called after every epoch with (epoch, epochs, loss).
        checkpoint: a file to continue an interrupted run from (see
            :func:`~calscope.infer.supervised_training.train_network`).
        command: how the run was started, recorded on the card.
        device: where the network trains (default ``"cpu"``: bit-for-bit reproducible;
            ``"auto"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``: faster, not bit-identical). The
            returned model stays there.

    Raises:
        InputError: bad settings, no usable recording, or a device this machine does not have.
    """
    target = resolve_device(device)
    try:
        settings = (settings or SupervisedSettings()).model_copy(update=overrides)
        settings = SupervisedSettings.model_validate(settings.model_dump())
    except ValidationError as error:
        raise InputError(f"supervised settings: {error.errors()[0]['msg']}") from None
    if settings.pretrain_epochs and not settings.simulated_minutes:
        raise InputError(f"supervised settings: pretrain_epochs={settings.pretrain_epochs} "
                         "pre-trains on simulated recordings; set simulated_minutes > 0")
    if settings.simulated_minutes > 0:
        recordings = [*recordings, *simulated_recordings(settings.simulated_minutes)]
    traces = training_traces(recordings)
    if not traces:
        raise InputError("no recording has ≥ 2 s of ΔF/F and a spike; nothing to train on")
    _warn_if_training_not_dff(traces)
    net, log = train_members(traces, settings, progress, checkpoint, target)
    model = SupervisedModel(net, settings, {}, log)
    check = check_subset(recordings)
    fs = sorted({round(t.fs, 1) for t in traces})
    card = {
        "method": "supervised", "calscope_version": calscope.__version__,
        "date": datetime.date.today().isoformat(), "training_command": command,
        "datasets": sorted({t.dataset for t in traces}), "recordings": len(traces),
        "cell_type": _cell_type_of(r.dataset for r in recordings
                                   if not r.dataset.startswith(SIMULATED_PREFIX)),
        "frame_rates_hz": [fs[0], fs[-1]], "model_fs_hz": MODEL_FS,
        "noise_sigma_range": [float(min(t.sigma for t in traces)),
                              float(max(t.sigma for t in traces) * settings.max_noise_factor)],
        "networks": settings.ensemble, "epochs": log.epochs,
        "train_seconds": round(log.seconds, 1),
        "train_device": target.type,
        "check": {"recordings": [[r.dataset, r.neuron, r.trial] for r in check],
                  "r": slice_score(model, check)},
    }
    model.card.update(card)
    return model


def _cell_type_of(datasets: Iterable[str]) -> str:
    """The cell type of a training set: that of its datasets if they share one, else "any"."""
    types = {dataset_cell_type(d) for d in datasets}
    return types.pop() if len(types) == 1 else "any"
