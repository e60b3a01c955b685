"""The `calscope` app and what every command shares: consoles, error handling, settings,
progress bars. The CLI is the only part of calscope that talks to a person."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import calscope
from calscope.config import Settings
from calscope.errors import CalscopeError

#: The `--method` of `deconvolve` and `analyze` when none is given: the shipped supervised
#: network, better than calscope's OASIS on every one of the 27 ground-truth datasets it never
#: trained on (docs/supervised.md). The Python `calscope.deconvolve` keeps method="oasis": the
#: library's own stages build on it, and it takes raw fluorescence as well as ΔF/F.
DEFAULT_METHOD = "supervised"

#: help texts of options shared by `deconvolve`, `analyze` and `train`
KEY_HELP = "Variable (.mat), dataset (.h5) or ROI series (.nwb) to read."
ALL_ROIS_HELP = ("Suite2p, CaImAn, NWB and `calscope extract` cells: every ROI, not only those "
                 "accepted as cells (iscell.npy or an NWB iscell column; CaImAn's "
                 "idx_components; the cells file's accepted).")
CELL_TYPE_HELP = ("supervised: which shipped model, by the cells imaged: excitatory (the "
                  "default; principal neurons), inhibitory (labelled interneurons: their spike "
                  "counts) or any (trained on both); see docs/supervised.md.")
DEVICE_HELP = ("amortized, supervised: where the network runs: auto (the default: a GPU when "
               "torch sees one, else the CPU), cpu, cuda, cuda:N or mps.")

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="calscope: calcium imaging traces → spikes → population dynamics.")
out_console = Console()
err_console = Console(stderr=True)


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
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


def settings_from(config: Optional[Path]) -> Settings:
    """The settings in ``config`` (YAML), or the defaults."""
    return Settings.load(config) if config is not None else Settings()


@app.command("config")
@friendly
def config_command(
    show: Annotated[bool, typer.Option("--show", help="Print the settings as YAML.")] = False,
    config: Annotated[Optional[Path], typer.Option(help="A settings YAML to check and show.")] = None,
) -> None:
    """Show the default settings (or a settings file, validated) as YAML."""
    settings = settings_from(config)
    if show or config is not None:
        out_console.print(settings.to_yaml(), highlight=False, markup=False, end="")
    else:
        out_console.print("use `calscope config --show` to print the default settings")


@contextlib.contextmanager
def epoch_progress(label: str, epochs: int, score: str
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


@contextlib.contextmanager
def count_progress(label: str, total: int, unit: str = "cells"
                   ) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr over ``total`` items (cells, frames, ...); yields
    ``update(done, total)``."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn(f"{{task.completed}}/{{task.total}} {unit}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(label, total=total)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@contextlib.contextmanager
def step_progress(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr for a job of named steps; yields ``update(step, i, n)``
    (the ``progress`` callback of `pipeline.analysis.analyze`)."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(label, total=1)

        def update(step: str, i: int, n: int) -> None:
            progress.update(task, description=f"{label}: {step}", completed=i, total=n)

        yield update
