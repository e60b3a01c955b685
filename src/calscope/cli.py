"""The `calscope` command line: the only module that talks to a person."""

from __future__ import annotations

import contextlib
import functools
import shlex
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import calscope
from calscope.config import AmortizedSettings, DeconvSettings, Settings
from calscope.deconv import Deconvolution
from calscope.dispatch import METHODS, deconvolve
from calscope.errors import CalscopeError, InputError
from calscope.io.traces import read_traces
from calscope.io.writers import RESULT_FORMATS, write_result
from calscope.validation import check_usable, warn_unusable_rows

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="calscope: calcium imaging traces → spikes (and soon movies → networks).")
out_console = Console()
err_console = Console(stderr=True)
CHUNK_CELLS = 256
_DEFAULTS = DeconvSettings()


def _friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print calscope errors as one line (no traceback) and exit with code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value = command(*args, **kwargs)
            for message in dict.fromkeys(str(w.message) for w in caught):  # once each
                err_console.print(f"[yellow]warning:[/] {message}", highlight=False)
            return value
        except CalscopeError as error:
            err_console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        out_console.print(f"calscope {calscope.__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None
         ) -> None:
    """calscope: spikes from calcium imaging, faster and better."""


def _settings(config: Optional[Path]) -> Settings:
    return Settings.load(config) if config is not None else Settings()


@app.command("config")
@_friendly
def config_command(
    show: Annotated[bool, typer.Option("--show", help="Print the settings as YAML.")] = False,
    config: Annotated[Optional[Path], typer.Option(help="A settings YAML to check and show.")] = None,
) -> None:
    """Show the default settings (or a settings file, validated) as YAML."""
    settings = _settings(config)
    if show or config is not None:
        out_console.print(settings.to_yaml(), highlight=False, markup=False, end="")
    else:
        out_console.print("use `calscope config --show` to print the default settings")


def _deconvolve_chunks(traces: np.ndarray, fs: float, label: str, **kwargs: Any) -> Deconvolution:
    """Deconvolve (cells, T) traces in chunks of cells, with a progress bar on stderr.

    Unusable rows are reported here, numbered in the whole input, and left out of the chunks
    (their output is NaN), so no chunk can consist of them alone.
    """
    bad = check_usable(traces, "the input")
    warn_unusable_rows(bad)
    rows = np.flatnonzero(~bad)
    parts = []
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} cells"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(label, total=len(rows))
        for start in range(0, len(rows), CHUNK_CELLS):
            chunk = rows[start:start + CHUNK_CELLS]
            parts.append(deconvolve(traces[chunk], fs, **kwargs))
            progress.advance(task, len(chunk))
    fields = {}
    for name in Deconvolution.__dataclass_fields__:
        if name != "fs":
            solved = np.concatenate([getattr(p, name) for p in parts])
            fields[name] = np.full((len(traces), *solved.shape[1:]), np.nan)
            fields[name][rows] = solved
    return Deconvolution(fs=fs, **fields)


@app.command("deconvolve")
@_friendly
def deconvolve_command(
    input: Annotated[Path, typer.Argument(help="Traces: .npy, .csv (Spikefinder), .mat, .h5, "
                                          "CASCADE .mat, or a Suite2p output folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output: .npy (cells × T float32 "
                                      "spikes per frame; T for a 1-D input), .csv "
                                      "(Spikefinder layout) or .npz (every result field, "
                                      "cells × T, and the input's row indices).")],
    fs: Annotated[Optional[float], typer.Option(help="Sampling rate (Hz); required unless the "
                                                "format carries it.")] = None,
    method: Annotated[str, typer.Option(help=f"Spike inference method: {', '.join(METHODS)}.")]
    = _DEFAULTS.method,
    order: Annotated[int, typer.Option(help="AR order of the calcium dynamics, 1 or 2 "
                                       f"(default {_DEFAULTS.order}: best mean score on the "
                                       "shared ground truth).")] = _DEFAULTS.order,
    penalty: Annotated[str, typer.Option(help="Sparsity penalty: l1 or l0 (default "
                                         f"{_DEFAULTS.penalty}: best on the shared ground "
                                         "truth).")] = _DEFAULTS.penalty,
    lam: Annotated[Optional[float], typer.Option(help="L1 penalty λ (trace units); default: "
                                                 "found per cell by the noise constraint.")] = None,
    key: Annotated[Optional[str], typer.Option(help="Variable (.mat) or dataset (.h5) to read.")]
    = None,
    all_rois: Annotated[bool, typer.Option("--all-rois", help="Suite2p: all ROIs, not only "
                                           "iscell.")] = False,
    optimize_g: Annotated[bool, typer.Option("--optimize-g", help="Refit each cell's decay "
                                             "time on its spikes (slower; off by default).")]
    = False,
    model: Annotated[Optional[Path], typer.Option(help="amortized: a model from `calscope "
                                                  "train` (default: train on INPUT first); "
                                                  "supervised: default the shipped model.")]
    = None,
    samples: Annotated[int, typer.Option(help="amortized: posterior spike samples to add to "
                                         ".npz output.")] = 0,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (deconv section).")] = None,
) -> None:
    """Infer spikes from fluorescence traces and write them to OUT."""
    if out.suffix.lower() not in RESULT_FORMATS:
        raise InputError(f"--out {out}: cannot write '{out.suffix or 'no extension'}' files; "
                         f"use one of {', '.join(RESULT_FORMATS)}")
    if order not in (1, 2):
        raise InputError(f"--order: must be 1 or 2, got {order}")
    if penalty not in ("l1", "l0"):
        raise InputError(f"--penalty: must be l1 or l0, got {penalty!r}")
    if lam is not None and lam < 0:
        raise InputError(f"--lam: the sparsity penalty must be ≥ 0, got {lam}")
    if method not in METHODS:
        raise InputError(f"--method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if samples < 0:
        raise InputError(f"--samples: must be ≥ 0, got {samples}")
    if method == "oasis" and model is not None:
        raise InputError("--model belongs to --method amortized or supervised")
    if method != "amortized" and samples:
        raise InputError("--samples belongs to --method amortized")
    settings = _settings(config)
    base = settings.deconv
    data = read_traces(input, fs=fs, key=key, all_rois=all_rois)
    if method == "amortized":
        from calscope.infer import amortized

        trained = (amortized.load(model) if model is not None
                   else _train(data.traces, data.fs, settings.amortized, input.name))
        result = trained.infer(data.traces, data.fs, n_samples=samples)
    elif method == "supervised":
        from calscope.infer import supervised

        with err_console.status(f"inferring spikes of {input.name} …"):
            result = supervised.load(model).infer(data.traces, data.fs)
    else:
        result = _deconvolve_chunks(data.traces, data.fs, f"deconvolving {input.name}",
                                    method=method, order=order, penalty=penalty, lam=lam,
                                    baseline=base.baseline,
                                    baseline_window_s=base.baseline_window_s,
                                    optimize_g=optimize_g or base.optimize_g)
    write_result(out, result, data.rows, names=data.names, was_1d=data.was_1d)
    n_spk = np.nansum(result.spikes)
    err_console.print(f"wrote {out}: {result.spikes.shape[0]} cells × {result.spikes.shape[1]} "
                      f"frames at {data.fs:g} Hz (total spike signal {n_spk:.3g})", highlight=False)


@contextlib.contextmanager
def _epoch_progress(label: str, epochs: int, score: str
                    ) -> Iterator[Callable[[int, int, float], None]]:
    """A progress bar on stderr for training; yields ``update(epoch, total, value)``, which shows
    the epoch and ``score.format(value)`` (the training loop's per-epoch figure)."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("epoch {task.completed}/{task.total}"), TextColumn("{task.fields[score]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(label, total=epochs, score="")

        def update(epoch: int, total: int, value: float) -> None:
            progress.update(task, completed=epoch, score=score.format(value))

        yield update


def _train(traces: np.ndarray, fs: float, settings: AmortizedSettings, label: str) -> Any:
    """Train an amortized model with a progress bar on stderr (epochs, held-out bound)."""
    from calscope.infer import amortized

    with _epoch_progress(f"training on {label}", settings.max_epochs,
                         "bound {:.3f}/frame") as update:
        model = amortized.fit(traces, fs, settings, progress=update)
    log = model.log
    err_console.print(f"trained {log.epochs} epochs in {log.seconds:.0f} s (stopped: "
                      f"{log.stopped}; best held-out bound {max(log.heldout_bound):.3f} "
                      "nats/frame)", highlight=False)
    return model


@app.command("train")
@_friendly
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
        ".mat files (e.g. ../shared/data/ground_truth/cascade).")] = None,
    exclude: Annotated[Optional[str], typer.Option(
        help="supervised: dataset folders to leave out, comma-separated name prefixes "
        "(e.g. DS09,DS17).")] = None,
    max_time: Annotated[Optional[float], typer.Option(
        "--max-time", help="Training time budget (s).")] = None,
    key: Annotated[Optional[str], typer.Option(help="Variable (.mat) or dataset (.h5) to read.")]
    = None,
    all_rois: Annotated[bool, typer.Option("--all-rois", help="Suite2p: all ROIs.")] = False,
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
        if ground_truth is None or input is not None:
            raise InputError("--method supervised trains on --ground-truth DIR (no INPUT); "
                             "e.g. --ground-truth ../shared/data/ground_truth/cascade")
        command = ["calscope", "train", "--method", "supervised", "--ground-truth",
                   str(ground_truth), "--out", str(out)]
        for flag, value in (("--exclude", exclude), ("--max-time", max_time),
                            ("--config", config)):
            command += [flag, str(value)] if value is not None else []
        _train_supervised(ground_truth, exclude, out,
                          _settings(config).supervised.model_copy(update=budget),
                          shlex.join(command))
        return
    if input is None or ground_truth is not None or exclude is not None:
        raise InputError("--method amortized trains on INPUT traces (no --ground-truth or "
                         "--exclude)")
    settings = _settings(config).amortized.model_copy(update=budget)
    data = read_traces(input, fs=fs, key=key, all_rois=all_rois)
    model = _train(data.traces, data.fs, settings, input.name)
    model.save(out)
    err_console.print(f"wrote {out} (trained at {data.fs:g} Hz on {data.traces.shape[0]} cells)",
                      highlight=False)


def _train_supervised(root: Path, exclude: Optional[str], out: Path, settings: Any,
                      command: str) -> None:
    """Train the supervised network on ground truth with a progress bar, and save it."""
    from calscope.infer import supervised

    left_out = [e.strip() for e in (exclude or "").split(",") if e.strip()]
    recordings = supervised.load_ground_truth(root, exclude=left_out)
    with _epoch_progress(f"training on {root.name}", settings.epochs, "loss {:.4f}") as update:
        model = supervised.train(recordings, settings, progress=update,
                                 checkpoint=out.with_name(out.name + ".ckpt"),
                                 command=command)
    model.save(out)
    err_console.print(f"wrote {out} and {out.with_suffix('.json')} ({model.log.epochs} epochs in "
                      f"{model.log.seconds:.0f} s on {model.card['recordings']} recordings of "
                      f"{len(model.card['datasets'])} datasets)", highlight=False)


@app.command("demo")
@_friendly
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results.")]
    = Path("calscope-demo"),
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML.")] = None,
) -> None:
    """Simulate a GCaMP6f population, deconvolve it and score the spikes against the truth."""
    from calscope.pipeline import run_demo

    settings = _settings(config)
    with err_console.status("simulating and deconvolving …"):
        demo = run_demo(settings, out)
    summary = demo.summary()
    table = Table(title="calscope demo: inferred vs simulated truth")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(name.replace("_", " "), f"{value:.3f}" if isinstance(value, float) else str(value))
    out_console.print(table)
    out_console.print(f"results in {out}/: " + ", ".join(p.name for p in demo.files), highlight=False)


@app.command("simulate")
@_friendly
def simulate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Traces file (.npy or .csv); the "
                                      "truth goes beside it as <name>.truth.npz.")],
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (simulate section).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (overrides the settings).")] = None,
) -> None:
    """Write simulated fluorescence traces with their ground truth."""
    from calscope.simulate import traces as simulate_traces
    from calscope.io.writers import write_spikes

    cfg = _settings(config).simulate
    sim = simulate_traces(cfg.n_cells, int(round(cfg.duration_s * cfg.fs)), cfg.fs,
                          indicator=cfg.indicator, rate_hz=cfg.rate_hz, bursty=cfg.bursty,
                          snr=cfg.snr, drift=cfg.drift, seed=cfg.seed if seed is None else seed)
    write_spikes(out, sim.fluorescence)
    truth = out.with_name(out.stem + ".truth.npz")
    write_result(truth, sim, np.arange(cfg.n_cells))
    err_console.print(f"wrote {out} ({cfg.n_cells} cells × {sim.spikes.shape[1]} frames at "
                      f"{cfg.fs:g} Hz) and {truth}", highlight=False)
