"""`calscope register` and `calscope extract`: motion correction of a movie, written chunk by
chunk, and cells extracted from it by CNMF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, TypeVar

import numpy as np
import typer
from pydantic import ValidationError
from rich.table import Table

from calscope.cli.common import (app, count_progress, err_console, friendly, out_console,
                                 settings_from, step_progress)
from calscope.config import CnmfSettings, ComputeSettings, MotionSettings, Settings
from calscope.errors import InputError
from calscope.extract import cnmf
from calscope.io.bundle import STORES, read_bundle, write_bundle
from calscope.io.movie_writers import WRITABLE_MOVIES, write_movie
from calscope.io.movies import read_movie
from calscope.io.sources import write_sources
from calscope.motion import (RegisteredMovie, Registration, RegistrationMetrics, register,
                             registration_metrics)
from calscope.motion.metrics import MetricsGatherer
from calscope.pipeline.compute import patch_map

MOVIE_KEY_HELP = "Dataset (.h5), array (.zarr) or image series (.nwb) holding the frames."
AXES_HELP = ("Stored axis order when it is not T, Y, X, e.g. YXT (an HDF5 dataset stored "
             "height × width × frames) or TCYX with --channel. TIFF files name their own.")


#: Options shared by the commands that read a movie.
MovieFs = Annotated[Optional[float], typer.Option("--fs", help="Frame rate (Hz); default: "
                                                  "the file's.")]
MovieKey = Annotated[Optional[str], typer.Option("--key", help=MOVIE_KEY_HELP)]
MovieAxes = Annotated[Optional[str], typer.Option("--axes", help=AXES_HELP)]
MovieChannel = Annotated[Optional[int], typer.Option("--channel", help="The channel to use, "
                                                     "for a movie with several.")]
CellRadius = Annotated[Optional[float], typer.Option("--cell-radius", help="Typical cell "
                                                     "radius (pixels); default 6.")]
Background = Annotated[Optional[str], typer.Option(
    "--background", help="CNMF's background model: low_rank (two-photon; the default) or "
    "ring (one-photon movies' out-of-focus light, after CNMF-E).")]
Scheduler = Annotated[Optional[str], typer.Option("--scheduler", help="Where CNMF's spatial "
                                                  "patches run: 'local' (worker processes on "
                                                  "this machine) or a dask scheduler's "
                                                  "address; default: here, one after another "
                                                  "(compute section of --config).")]

Rigid = Annotated[bool, typer.Option("--rigid", help="Rigid registration only (no "
                                     "piecewise-rigid blocks).")]
BidiOffset = Annotated[Optional[str], typer.Option(
    "--bidi-offset", help="Undo a bidirectional scan's line offset before registering: "
    "'auto' (measured), or the odd rows' offset in pixels (positive: to the right); default "
    "none (motion section of --config).")]
#: A line offset left in the template from this size on (pixels) is pointed out.
LINE_OFFSET_HINT_PX = 0.5


def motion_settings(motion: MotionSettings, *, rigid: bool, bidi_offset: str | None,
                    max_shift: float | None = None) -> MotionSettings:
    """The motion settings with the command line's overrides (checked)."""
    overrides: dict[str, object] = {"nonrigid": False} if rigid else {}
    if max_shift is not None:
        overrides["max_shift"] = max_shift
    if bidi_offset is not None:
        overrides["bidi_offset"] = bidi_offset
    return overridden(motion, overrides, {
        "max_shift": "--max-shift", "bidi_offset": "--bidi-offset (give 'auto' or a number "
        "of pixels)"})


def line_offset_hint(registration: Registration) -> str | None:
    """A hint to undo the line offset left in the registered frames when it reaches
    `LINE_OFFSET_HINT_PX`; None otherwise."""
    left = registration.line_offset_left
    if abs(left) < LINE_OFFSET_HINT_PX:
        return None
    return (f"the movie's odd rows sit {left:+.2f} px from its even rows (after the "
            f"{registration.bidi_offset:.2f} px undone), as a bidirectional scan's do: rerun "
            "with --bidi-offset auto (or motion.bidi_offset: auto in --config) to undo it")


def cnmf_settings(cnmf: CnmfSettings, *, cell_radius: float | None, background: str | None,
                  border_px: int | None = None, imaging: str | None = None) -> CnmfSettings:
    """The CNMF settings with the command line's overrides (checked); ``border_px``, from a
    registration, applies when the settings leave the border at 0; a movie the file calls
    one-photon (``imaging``, `calscope.io.Movie.imaging`) gets the ring background unless
    the option or the settings file chose one (said on the console)."""
    overrides: dict[str, object] = {}
    if cell_radius is not None:
        overrides["cell_radius_px"] = cell_radius
    if background is not None:
        overrides["background"] = background
    elif imaging == "one-photon" and "background" not in cnmf.model_fields_set:
        overrides["background"] = "ring"
        err_console.print("a one-photon movie (so its file says): CNMF with the ring "
                          "background (--background low_rank for the other)", highlight=False)
    if border_px is not None and cnmf.border_px == 0:
        overrides["border_px"] = border_px
    return overridden(cnmf, overrides, {"cell_radius_px": "--cell-radius",
                                        "background": "--background"})


Stage = TypeVar("Stage", MotionSettings, CnmfSettings)


def overridden(settings: Stage, overrides: dict[str, object], options: dict[str, str]
               ) -> Stage:
    """``settings`` with the command line's ``overrides`` (field: value), checked; a value
    refused raises InputError naming its option (``options``, field: option)."""
    try:
        return type(settings).model_validate({**settings.model_dump(), **overrides})
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"][:1])
        raise InputError(f"{options.get(field, field)}: {problem['msg']}") from error


def compute_settings(settings: Settings, scheduler: str | None) -> ComputeSettings:
    """The compute settings, with ``--scheduler`` when given (checked)."""
    if scheduler is None:
        return settings.compute
    try:
        return ComputeSettings.model_validate({**settings.compute.model_dump(),
                                               "scheduler": scheduler})
    except ValidationError as error:
        raise InputError(f"--scheduler {scheduler!r}: use 'local' or a scheduler address "
                         "such as tcp://host:8786") from error


def registration_path(out: Path) -> Path:
    """Where the shifts and template of a movie registered to ``out`` are written."""
    return out.with_name(f"{out.stem}.registration.npz")


@app.command("register")
@friendly
def register_command(
    movie: Annotated[Path, typer.Argument(help="The movie: .tif/.tiff, .h5/.hdf5, .zarr, .npy "
                                          "or .nwb; read a chunk at a time.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The registered movie (float32): "
                                      + ", ".join(WRITABLE_MOVIES) + ". The shifts, template "
                                      "and quality go beside it as <name>.registration.npz.")],
    fs: Annotated[Optional[float], typer.Option(help="Frame rate (Hz), stored with the "
                                                "results; default: the file's.")] = None,
    key: MovieKey = None,
    axes: MovieAxes = None,
    channel: Annotated[Optional[int], typer.Option(help="The channel to register, for a "
                                                   "movie with several.")] = None,
    rigid: Rigid = False,
    max_shift: Annotated[Optional[float], typer.Option(help="Largest rigid shift searched "
                                                       "(pixels); default 10% of the frame's "
                                                       "smaller side.")] = None,
    bidi_offset: BidiOffset = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (motion section).")]
    = None,
) -> None:
    """Correct a movie's motion (rigid, then piecewise-rigid) and write the registered movie."""
    if out.suffix.lower() not in WRITABLE_MOVIES:
        raise InputError(f"{out}: a registered movie is written as "
                         f"{', '.join(WRITABLE_MOVIES)}; choose one of these suffixes")
    settings = motion_settings(settings_from(config).motion, rigid=rigid,
                               bidi_offset=bidi_offset, max_shift=max_shift)
    shifts_path = registration_path(out)
    with read_movie(movie, key=key, axes=axes, channel=channel, fs=fs) as frames:
        if out.resolve() == movie.resolve() or shifts_path.resolve() == movie.resolve():
            raise InputError(f"{out}: the output would overwrite the movie read; choose "
                             "another --out")
        with count_progress(f"estimating the motion of {movie.name}", len(frames),
                            "frames") as update:
            registration = register(frames, settings, progress=update)
        gathered = MetricsGatherer(registration)  # while writing: no third read of the movie
        with count_progress(f"writing {out.name}", len(frames), "frames") as update:
            write_movie(out, RegisteredMovie(frames, registration, on_read=gathered.add),
                        fs=frames.fs, chunk_frames=settings.chunk_frames, progress=update)
        metrics = (gathered.result() if gathered.complete
                   else registration_metrics(frames, registration))
        write_bundle(shifts_path, registration.arrays(),
                     {"movie": str(movie), "source": frames.source, "fs": frames.fs,
                      "registered_movie": str(out), "settings": settings.model_dump(mode="json"),
                      "metrics": metrics.as_dict()})
    _summary(registration, metrics, out, shifts_path)


def _summary(registration: Registration, metrics: RegistrationMetrics, out: Path,
             shifts_path: Path) -> None:
    table = Table(title=f"motion correction of {registration.n_frames} frames")
    table.add_column("measure")
    table.add_column("value", justify="right")
    largest = np.abs(registration.shifts).max(axis=0)
    table.add_row("largest rigid shift, rows / columns (px)",
                  f"{largest[0]:.2f} / {largest[1]:.2f}")
    table.add_row("line offset measured / undone (px)",
                  f"{registration.raw_line_offset:.2f} / {registration.bidi_offset:.2f}")
    for name, value in metrics.as_dict().items():
        table.add_row(name.replace("_", " "), f"{value:.3f}")
    out_console.print(table)
    hint = line_offset_hint(registration)
    if hint is not None:
        err_console.print(f"note: {hint}", highlight=False)
    err_console.print(f"wrote {out} and {shifts_path}", highlight=False)


def registered_border(movie: Path) -> int | None:
    """For a movie written by `calscope register`: the width (pixels) of the edge strip its
    registration filled by repeating the edge (the largest shift, rigid plus block, rounded
    up); None when the movie has no <name>.registration.npz beside it."""
    path = registration_path(movie)
    if not path.is_file():
        return None
    arrays, meta = read_bundle(path)
    settings = MotionSettings.model_validate(meta.get("settings", {}))
    return Registration.from_arrays(arrays, settings).edge_px()


@app.command("extract")
@friendly
def extract_command(
    movie: Annotated[Path, typer.Argument(help="A motion-corrected movie (e.g. from `calscope "
                                          "register`): .tif/.tiff, .h5/.hdf5, .zarr, .npy or "
                                          ".nwb.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The cells (.npz or .zarr): "
                                      "footprints, traces, spikes, ΔF/F, quality. The accepted "
                                      "cells' ΔF/F also goes beside it as <name>.dff.npy.")],
    fs: MovieFs = None,
    key: MovieKey = None,
    axes: MovieAxes = None,
    channel: MovieChannel = None,
    cell_radius: CellRadius = None,
    background: Background = None,
    scheduler: Scheduler = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (cnmf, compute "
                                                   "sections).")] = None,
) -> None:
    """Extract cells from a motion-corrected movie by CNMF: footprints, traces, spikes, ΔF/F."""
    if out.suffix not in STORES:
        raise InputError(f"{out}: cells are written to an .npz file or a .zarr folder; name "
                         "it e.g. cells.npz")
    everything = settings_from(config)
    compute = compute_settings(everything, scheduler)
    border = registered_border(movie)
    with read_movie(movie, key=key, axes=axes, channel=channel, fs=fs) as frames:
        if frames.fs is None:
            raise InputError(f"{movie}: the file states no frame rate; pass --fs (Hz)")
        settings = cnmf_settings(everything.cnmf, cell_radius=cell_radius,
                                 background=background, border_px=border,
                                 imaging=frames.imaging)
        with (patch_map(compute) as map_patches,
              step_progress(f"extracting cells from {movie.name}") as update):
            sources = cnmf(frames, frames.fs, settings, progress=update,
                           map_patches=map_patches)
        bundle, dff = write_sources(out, sources, {
            "movie": str(movie), "source": frames.source,
            "settings": settings.model_dump(mode="json")})
    if border is not None:
        err_console.print(f"no cell centred within {settings.border_px} px of the edge (the "
                          f"strip registration filled; {registration_path(movie).name})",
                          highlight=False)
    accepted = int(sources.accepted.sum())
    table = Table(title=f"cells of {movie.name}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("components found", str(sources.accepted.size))
    table.add_row("accepted as cells", str(accepted))
    if accepted:
        table.add_row("median SNR of the accepted",
                      f"{np.median(sources.quality.snr[sources.accepted]):.1f}")
        table.add_row("median spatial r of the accepted",
                      f"{np.median(sources.quality.spatial_r[sources.accepted]):.2f}")
    out_console.print(table)
    err_console.print(f"wrote {bundle} and {dff} (ΔF/F of the {accepted} accepted cells); "
                      f"next: calscope analyze {bundle} --out results (spikes, population, "
                      f"report), or calscope deconvolve {bundle} --out spikes.npz",
                      highlight=False)
