"""`calscope deconvolve` and `calscope train`: traces → spikes, and training the networks."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer

from calscope.cli.common import (ALL_ROIS_HELP, CELL_TYPE_HELP, DEFAULT_METHOD, DEVICE_HELP,
                                 KEY_HELP, app, count_progress, epoch_progress, err_console,
                                 friendly, settings_from)
from calscope.config import AmortizedSettings, DeconvSettings, Settings
from calscope.deconv import Deconvolution
from calscope.deconv.bandwidth import native_rate
from calscope.dispatch import METHODS, deconvolve
from calscope.errors import InputError
from calscope.extract import delta_f_over_f
from calscope.infer.blend import BLEND_FORMS
from calscope.infer.cell_types import DEFAULT_CELL_TYPE, check_cell_type
from calscope.infer.torch_device import resolve_device
from calscope.io.traces import TraceData, read_traces
from calscope.io.nwb import write_nwb_result
from calscope.io.writers import RESULT_FORMATS, write_result
from calscope.validation import check_usable, warn_unusable_rows

CHUNK_CELLS = 256
_DEFAULTS = DeconvSettings()


def _deconvolve_chunks(traces: np.ndarray, fs: float, label: str, **kwargs: Any) -> Deconvolution:
    """Deconvolve (cells, T) traces in chunks of cells, with a progress bar on stderr.

    Unusable rows are reported here, numbered in the whole input, and left out of the chunks
    (their output is NaN), so no chunk can consist of them alone. The native rate (unless
    ``native_fs`` is given) is detected once, on the whole input, so every chunk is solved at
    the same rate.
    """
    bad = check_usable(traces, "the input")
    warn_unusable_rows(bad)
    rows = np.flatnonzero(~bad)
    if kwargs.get("native_fs") is None:
        kwargs["native_fs"] = native_rate(traces[rows], fs)
    parts = []
    with count_progress(label, len(rows)) as update:
        for start in range(0, len(rows), CHUNK_CELLS):
            chunk = rows[start:start + CHUNK_CELLS]
            parts.append(deconvolve(traces[chunk], fs, **kwargs))
            update(start + len(chunk), len(rows))
    fields = {}
    for name in Deconvolution.__dataclass_fields__:
        if name not in ("fs", "native_fs"):
            solved = np.concatenate([getattr(p, name) for p in parts])
            fields[name] = np.full((len(traces), *solved.shape[1:]), np.nan)
            fields[name][rows] = solved
    return Deconvolution(fs=fs, native_fs=parts[0].native_fs, **fields)


def infer_spikes(traces: np.ndarray, fs: float, method: str, settings: Settings, label: str, *,
                 model: Optional[Path] = None, samples: int = 0, order: Optional[int] = None,
                 penalty: Optional[str] = None, lam: Optional[float] = None,
                 optimize_g: bool = False, oasis_blend: Optional[float] = None,
                 native_fs: Optional[float] = None, cell_type: Optional[str] = None,
                 device: Optional[str] = None, oasis_blend_form: Optional[str] = None) -> Any:
    """Spikes of (cells, T) traces by ``method``, with progress shown on stderr.

    oasis runs in chunks of cells with a progress bar; amortized loads ``model`` or trains on
    the traces first; supervised uses ``model`` or the shipped network of ``cell_type`` (None:
    the default type). Networks run on ``device`` (None: auto). ``oasis_blend`` replaces the
    network's own OASIS weight and ``oasis_blend_form`` its form (None: keep them).
    ``native_fs`` is the rate the traces were recorded at (None: detected). OASIS settings
    left None come from ``settings.deconv``.
    """
    if method == "amortized":
        from calscope.infer import amortized

        if model is not None:
            trained = amortized.load(model, device=device or "auto")
            err_console.print(f"amortized model: {model}, on {trained.device}", highlight=False)
        else:
            trained = _train(traces, fs, settings.amortized, label, native_fs, device)
        if oasis_blend is not None:
            trained = trained.with_oasis_blend(oasis_blend)
        with count_progress(f"inferring spikes of {label}", len(traces)) as update:
            return trained.infer(traces, fs, n_samples=samples, native_fs=native_fs,
                                 progress=update)
    if method == "supervised":
        from calscope.infer import supervised

        network = supervised.load(model, cell_type, device=device or "auto")
        network = network.with_oasis_blend(oasis_blend, oasis_blend_form)
        source = model or f"the shipped {network.card.get('cell_type', 'default')} model"
        err_console.print(f"supervised network: {source}, on {network.device}", highlight=False)
        with count_progress(f"inferring spikes of {label}", len(traces)) as update:
            return network.infer(traces, fs, native_fs=native_fs, progress=update)
    base = settings.deconv
    return _deconvolve_chunks(traces, fs, f"deconvolving {label}", method=method,
                              order=order or base.order, penalty=penalty or base.penalty,
                              lam=base.lam if lam is None else lam, baseline=base.baseline,
                              baseline_window_s=base.baseline_window_s,
                              optimize_g=optimize_g or base.optimize_g, native_fs=native_fs)


@app.command("deconvolve")
@friendly
def deconvolve_command(
    input: Annotated[Path, typer.Argument(help="Traces: .npy, .csv (Spikefinder), .mat, .h5, "
                                          "CASCADE .mat, a CaImAn results .hdf5 (cnm.save), "
                                          ".nwb ROI traces, or a Suite2p output folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output: .npy (cells × T float32 "
                                      "spikes per frame; T for a 1-D input), .csv "
                                      "(Spikefinder layout), .npz (every result field, "
                                      "cells × T, and the input's row indices) or, for an NWB "
                                      "input, .nwb (a copy of it with the results added).")],
    fs: Annotated[Optional[float], typer.Option(help="Sampling rate (Hz); required unless the "
                                                "format carries it.")] = None,
    method: Annotated[str, typer.Option(help=f"Spike inference method: {', '.join(METHODS)} "
                                        "(supervised: the shipped network, ΔF/F input; oasis: "
                                        "convex deconvolution, any fluorescence).")]
    = DEFAULT_METHOD,
    order: Annotated[Optional[int], typer.Option(help="oasis: AR order of the calcium dynamics, "
                                                 "1 or 2 (default: --config's, else "
                                                 f"{_DEFAULTS.order}: best mean score on the "
                                                 "shared ground truth).")] = None,
    penalty: Annotated[Optional[str], typer.Option(help="oasis: sparsity penalty, l1 or l0 "
                                                   "(default: --config's, else "
                                                   f"{_DEFAULTS.penalty}: best on the shared "
                                                   "ground truth).")] = None,
    lam: Annotated[Optional[float], typer.Option(help="oasis: L1 penalty λ (trace units); "
                                                 "default: --config's, else found per cell "
                                                 "by the noise constraint.")] = None,
    key: Annotated[Optional[str], typer.Option(help=KEY_HELP)]
    = None,
    all_rois: Annotated[bool, typer.Option("--all-rois", help=ALL_ROIS_HELP)] = False,
    optimize_g: Annotated[bool, typer.Option("--optimize-g", help="oasis: refit each cell's "
                                             "decay time on its spikes (slower; off by "
                                             "default).")]
    = False,
    model: Annotated[Optional[Path], typer.Option(help="amortized: a model from `calscope "
                                                  "train` (default: train on INPUT first); "
                                                  "supervised: default the shipped model.")]
    = None,
    samples: Annotated[int, typer.Option(help="amortized: posterior spike samples to add to "
                                         ".npz output.")] = 0,
    oasis_blend: Annotated[Optional[float], typer.Option(
        help="amortized, supervised: weight w in [0, 1] of calscope's OASIS spikes mixed into "
             "the network's output (amortized: (1 − w) · network + w · OASIS; supervised: "
             "see --oasis-blend-form; default: the model's own setting).")] = None,
    oasis_blend_form: Annotated[Optional[str], typer.Option(
        help="supervised: how OASIS is mixed in: linear, (1 − w) · network + w · OASIS, or "
             "geometric, network^(1 − w) · OASIS^w, which keeps the events both agree on "
             "(default: the model's own setting).")] = None,
    native_fs: Annotated[Optional[float], typer.Option(
        help="The rate (Hz) the traces were recorded at, when they were "
             "resampled up to --fs (default: detected from their spectrum; pass the --fs "
             "value to turn detection off).")] = None,
    cell_type: Annotated[Optional[str], typer.Option(help=CELL_TYPE_HELP)] = None,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP)] = None,
    dff: Annotated[Optional[bool], typer.Option(
        "--dff/--no-dff", help="Convert the input from raw fluorescence to ΔF/F = (F − F0) / F0 "
        "first (F0: running maximin baseline, 60 s). Default: on for a Suite2p folder or an "
        "NWB Fluorescence series with --method supervised (the network needs ΔF/F; their "
        "traces are raw), else off.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (deconv section).")] = None,
) -> None:
    """Infer spikes from fluorescence traces and write them to OUT."""
    if out.suffix.lower() not in (*RESULT_FORMATS, ".nwb"):
        raise InputError(f"--out {out}: cannot write '{out.suffix or 'no extension'}' files; "
                         f"use one of {', '.join(RESULT_FORMATS)} (or .nwb for an NWB input)")
    if method not in METHODS:
        raise InputError(f"--method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    check_oasis_options(method, order, penalty, lam, optimize_g)
    if samples < 0:
        raise InputError(f"--samples: must be ≥ 0, got {samples}")
    if method == "oasis" and model is not None:
        raise InputError("--model belongs to --method amortized or supervised")
    if oasis_blend is not None and (method == "oasis" or not 0 <= oasis_blend <= 1):
        raise InputError("--oasis-blend: a weight in [0, 1] for --method amortized or "
                         f"supervised, got {oasis_blend} with --method {method}")
    if oasis_blend_form is not None and (method != "supervised"
                                         or oasis_blend_form not in BLEND_FORMS):
        raise InputError(f"--oasis-blend-form: one of {', '.join(BLEND_FORMS)} for --method "
                         f"supervised, got {oasis_blend_form!r} with --method {method}")
    if method != "amortized" and samples:
        raise InputError("--samples belongs to --method amortized")
    check_cell_type_option(cell_type, method, model)
    check_device_option(device, method)
    settings = settings_from(config)
    data = read_traces(input, fs=fs, key=key, all_rois=all_rois)
    if out.suffix.lower() == ".nwb" and data.fmt != "nwb":
        raise InputError(f"--out {out}: results are written to NWB as a copy of an NWB input "
                         f"(its ROIs and frames); {input} is {data.fmt}: use .npz")
    traces = data.traces
    if (data.raw_fluorescence and method == "supervised") if dff is None else dff:
        traces, note = to_dff(data)
        err_console.print(note, highlight=False)
    result = infer_spikes(traces, data.fs, method, settings, input.name, model=model,
                          samples=samples, order=order, penalty=penalty, lam=lam,
                          optimize_g=optimize_g, oasis_blend=oasis_blend, native_fs=native_fs,
                          cell_type=cell_type, device=device, oasis_blend_form=oasis_blend_form)
    native_rate_note(result, data.fs)
    if out.suffix.lower() == ".nwb":
        write_nwb_result(out, result, input, data.rows, key)
    else:
        write_result(out, result, data.rows, names=data.names, was_1d=data.was_1d)
    n_spk = np.nansum(result.spikes)
    err_console.print(f"wrote {out}: {result.spikes.shape[0]} cells × {result.spikes.shape[1]} "
                      f"frames at {data.fs:g} Hz (total spike signal {n_spk:.3g})", highlight=False)


def to_dff(data: TraceData) -> tuple[np.ndarray, str]:
    """The traces read as ΔF/F (:func:`calscope.extract.delta_f_over_f`, default baseline), and
    a note saying so."""
    source = {"suite2p": "Suite2p's F − 0.7·Fneu",
              "nwb": "the NWB file's fluorescence series"}.get(data.fmt, "the input fluorescence")
    return (delta_f_over_f(data.traces, data.fs),
            f"ΔF/F computed from {source} (running maximin baseline, 60 s)")


def check_oasis_options(method: str, order: Optional[int], penalty: Optional[str],
                        lam: Optional[float], optimize_g: bool) -> None:
    """Reject OASIS settings that are out of range, or given with another method: they would be
    ignored, and a script written when OASIS was the default must now say --method oasis."""
    given = [flag for flag, value in (("--order", order), ("--penalty", penalty), ("--lam", lam),
                                      ("--optimize-g", optimize_g or None)) if value is not None]
    if given and method != "oasis":
        raise InputError(f"{', '.join(given)}: settings of --method oasis, not of --method "
                         f"{method} (the default method is {DEFAULT_METHOD}); add --method oasis "
                         "to use them")
    if order not in (None, 1, 2):
        raise InputError(f"--order: must be 1 or 2, got {order}")
    if penalty not in (None, "l1", "l0"):
        raise InputError(f"--penalty: must be l1 or l0, got {penalty!r}")
    if lam is not None and lam < 0:
        raise InputError(f"--lam: the sparsity penalty must be ≥ 0, got {lam}")


def check_cell_type_option(cell_type: Optional[str], method: str,
                           model: Optional[Path]) -> None:
    """Reject a --cell-type that is unknown, or given with another method or with --model."""
    if cell_type is None:
        return
    check_cell_type(cell_type, "--cell-type")
    if method != "supervised" or model is not None:
        raise InputError("--cell-type picks a shipped model of --method supervised (not with "
                         "--model, whose card says what it was trained on)")


def check_device_option(device: Optional[str], method: str) -> None:
    """Reject a --device that is unknown, absent from this machine, or given with a method
    without a network (oasis)."""
    if device is None:
        return
    if method not in ("amortized", "supervised"):
        raise InputError(f"--device belongs to --method amortized or supervised (networks), "
                         f"got --method {method}")
    resolve_device(device)


def native_rate_note(result: Any, fs: float) -> str | None:
    """Say on stderr (and return) that a result was inferred at a native rate below ``fs``."""
    if result.native_fs is None or result.native_fs >= fs:
        return None
    note = (f"the traces carry nothing above {result.native_fs / 2:.3g} Hz: treated as "
            f"recorded at {result.native_fs:.3g} Hz and resampled up (--native-fs sets this "
            "rate)")
    err_console.print(note, highlight=False)
    return note


def _train(traces: np.ndarray, fs: float, settings: AmortizedSettings, label: str,
           native_fs: Optional[float] = None, device: Optional[str] = None) -> Any:
    """Train an amortized model with a progress bar on stderr (epochs, held-out bound), at the
    traces' native rate (``native_fs``, or detected when None), on ``device`` (None: auto)."""
    from calscope.infer import amortized

    with epoch_progress(f"training on {label}", settings.max_epochs,
                         "bound {:.3f}/frame") as update:
        model = amortized.fit(traces, fs, settings, progress=update, native_fs=native_fs,
                              device=device or "auto")
    log = model.log
    if model.fs < fs:
        err_console.print(f"the traces carry nothing above {model.fs / 2:.3g} Hz: trained at "
                          f"{model.fs:.3g} Hz, the rate they were recorded at (--native-fs "
                          "sets it)", highlight=False)
    err_console.print(f"trained {log.epochs} epochs in {log.seconds:.0f} s on {model.device} "
                      f"(stopped: {log.stopped}; best held-out bound "
                      f"{max(log.heldout_bound):.3f} nats/frame)", highlight=False)
    return model


@app.command("train")
@friendly
def train_command(
    input: Annotated[Optional[Path], typer.Argument(
        help="amortized: traces to train on (any format `deconvolve` reads).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (.pt).")]
    = Path("model.pt"),
    fs: Annotated[Optional[float], typer.Option(help="amortized: sampling rate (Hz); required "
                                                "unless the format carries it.")] = None,
    method: Annotated[str, typer.Option(help="amortized (unsupervised, on INPUT) or supervised "
                                        "(on --ground-truth).")] = "amortized",
    ground_truth: Annotated[Optional[Path], typer.Option(
        "--ground-truth", help="supervised: a folder of dataset folders of CASCADE-layout "
        ".mat files, one per neuron (e.g. ../shared/data/ground_truth/cascade; write your own "
        "with calscope.io.write_cascade_neuron).")] = None,
    exclude: Annotated[Optional[str], typer.Option(
        help="supervised: dataset folders to leave out, comma-separated name prefixes "
        "(e.g. DS09,DS17).")] = None,
    cell_type: Annotated[Optional[str], typer.Option(
        help="supervised: train on the datasets of one cell type: excitatory (the default, as "
        "the shipped default model), inhibitory (the CASCADE interneuron datasets, "
        "calscope.infer.cell_types) or any (every dataset).")] = None,
    max_time: Annotated[Optional[float], typer.Option(
        "--max-time", help="Training time budget (s).")] = None,
    device: Annotated[Optional[str], typer.Option(
        help="supervised: where the network trains: cpu (the default; reproduces the shipped "
             "model bit for bit), auto, cuda, cuda:N or mps (faster; not bit-identical). "
             "amortized: auto (the default: a GPU when torch sees one, else the CPU), cpu, "
             "cuda, cuda:N or mps.")]
    = None,
    key: Annotated[Optional[str], typer.Option(help=KEY_HELP)]
    = None,
    all_rois: Annotated[bool, typer.Option("--all-rois", help=ALL_ROIS_HELP)] = False,
    native_fs: Annotated[Optional[float], typer.Option(
        help="amortized: the rate (Hz) INPUT was recorded at, when it was resampled up to --fs "
             "(default: detected; the --fs value turns detection off).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (amortized or "
                                                   "supervised section).")] = None,
) -> None:
    """Train a spike-inference network and save it: amortized on traces (no spike labels),
    supervised on ground truth (checkpointed to OUT.ckpt, so an interrupted run continues)."""
    if method not in ("amortized", "supervised"):
        raise InputError(f"--method: `train` trains amortized or supervised models, got {method!r}")
    if out.suffix.lower() != ".pt":
        raise InputError(f"--out {out}: a model is written as a .pt file; name it MODEL.pt")
    if max_time is not None and not max_time > 0:
        raise InputError(f"--max-time: must be a positive number of seconds, got {max_time}")
    budget = {} if max_time is None else {"max_time_s": float(max_time)}
    if method == "supervised":
        if native_fs is not None:
            raise InputError("--native-fs belongs to --method amortized (supervised models "
                             "train on ground truth at its own rates)")
        if ground_truth is None or input is not None:
            raise InputError("--method supervised trains on --ground-truth DIR (no INPUT); "
                             "e.g. --ground-truth ../shared/data/ground_truth/cascade")
        command = ["calscope", "train", "--method", "supervised", "--ground-truth",
                   str(ground_truth), "--out", str(out)]
        if cell_type is not None:
            check_cell_type(cell_type, "--cell-type")
        target = resolve_device(device or "cpu")
        for flag, value in (("--exclude", exclude), ("--max-time", max_time),
                            ("--config", config), ("--cell-type", cell_type),
                            ("--device", device)):
            command += [flag, str(value)] if value is not None else []
        _train_supervised(ground_truth, exclude, cell_type or DEFAULT_CELL_TYPE, out,
                          settings_from(config).supervised.model_copy(update=budget),
                          shlex.join(command), target)
        return
    if input is None or ground_truth is not None or exclude is not None or cell_type:
        raise InputError("--method amortized trains on INPUT traces (no --ground-truth, "
                         "--exclude or --cell-type)")
    check_device_option(device, method)
    settings = settings_from(config).amortized.model_copy(update=budget)
    data = read_traces(input, fs=fs, key=key, all_rois=all_rois)
    model = _train(data.traces, data.fs, settings, input.name, native_fs, device)
    model.save(out)
    err_console.print(f"wrote {out} (trained at {model.fs:.4g} Hz on {data.traces.shape[0]} cells)",
                      highlight=False)


def _train_supervised(root: Path, exclude: Optional[str], cell_type: str, out: Path,
                      settings: Any, command: str, device: Any) -> None:
    """Train the supervised network on ground truth with a progress bar, and save it."""
    from calscope.infer import supervised

    left_out = [e.strip() for e in (exclude or "").split(",") if e.strip()]
    recordings = supervised.load_ground_truth(root, exclude=left_out, cell_type=cell_type)
    epochs = settings.pretrain_epochs + settings.epochs
    with epoch_progress(f"training on {root.name}", epochs, "loss {:.4f}") as update:
        model = supervised.train(recordings, settings, progress=update,
                                 checkpoint=out.with_name(out.name + ".ckpt"),
                                 command=command, device=device)
    model.save(out)
    err_console.print(f"wrote {out} and {out.with_suffix('.json')} ({model.log.epochs} epochs in "
                      f"{model.log.seconds:.0f} s on {model.card['recordings']} recordings of "
                      f"{len(model.card['datasets'])} datasets, cell type "
                      f"{model.card['cell_type']}, on {model.card['train_device']})",
                      highlight=False)
