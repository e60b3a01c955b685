"""`calscope register`: motion correction of a movie, written chunk by chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from calscope.cli.common import (app, count_progress, err_console, friendly, out_console,
                                 settings_from)
from calscope.errors import InputError
from calscope.io.bundle import write_bundle
from calscope.io.movie_writers import WRITABLE_MOVIES, write_movie
from calscope.io.movies import read_movie
from calscope.motion import (RegisteredMovie, Registration, RegistrationMetrics, register,
                             registration_metrics)

MOVIE_KEY_HELP = "Dataset (.h5), array (.zarr) or image series (.nwb) holding the frames."
AXES_HELP = ("Stored axis order when it is not T, Y, X, e.g. YXT (an HDF5 dataset stored "
             "height × width × frames) or TCYX with --channel. TIFF files name their own.")


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
    key: Annotated[Optional[str], typer.Option(help=MOVIE_KEY_HELP)] = None,
    axes: Annotated[Optional[str], typer.Option(help=AXES_HELP)] = None,
    channel: Annotated[Optional[int], typer.Option(help="The channel to register, for a "
                                                   "movie with several.")] = None,
    rigid: Annotated[bool, typer.Option("--rigid", help="Rigid registration only (no "
                                        "piecewise-rigid blocks).")] = False,
    max_shift: Annotated[Optional[float], typer.Option(help="Largest rigid shift searched "
                                                       "(pixels); default 10% of the frame's "
                                                       "smaller side.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (motion section).")]
    = None,
) -> None:
    """Correct a movie's motion (rigid, then piecewise-rigid) and write the registered movie."""
    if out.suffix.lower() not in WRITABLE_MOVIES:
        raise InputError(f"{out}: a registered movie is written as "
                         f"{', '.join(WRITABLE_MOVIES)}; choose one of these suffixes")
    settings = settings_from(config).motion
    overrides = {"nonrigid": False} if rigid else {}
    if max_shift is not None:
        overrides["max_shift"] = max_shift
    settings = settings.model_validate({**settings.model_dump(), **overrides})
    shifts_path = registration_path(out)
    with read_movie(movie, key=key, axes=axes, channel=channel, fs=fs) as frames:
        if out.resolve() == movie.resolve() or shifts_path.resolve() == movie.resolve():
            raise InputError(f"{out}: the output would overwrite the movie read; choose "
                             "another --out")
        with count_progress(f"estimating the motion of {movie.name}", len(frames),
                            "frames") as update:
            registration = register(frames, settings, progress=update)
        with count_progress(f"writing {out.name}", len(frames), "frames") as update:
            write_movie(out, RegisteredMovie(frames, registration), fs=frames.fs,
                        chunk_frames=settings.chunk_frames, progress=update)
        metrics = registration_metrics(frames, registration)
        write_bundle(shifts_path, _arrays(registration),
                     {"movie": str(movie), "source": frames.source, "fs": frames.fs,
                      "registered_movie": str(out), "settings": settings.model_dump(mode="json"),
                      "metrics": metrics.as_dict()})
    _summary(registration, metrics, out, shifts_path)


def _arrays(registration: Registration) -> dict[str, np.ndarray]:
    """The registration's arrays, as stored in <name>.registration.npz."""
    arrays = {"shifts": registration.shifts, "template": registration.template,
              "correlation": registration.correlation}
    if registration.block_shifts is not None and registration.block_centers is not None:
        arrays["block_shifts"] = registration.block_shifts
        arrays["block_center_rows"], arrays["block_center_columns"] = registration.block_centers
    return arrays


def _summary(registration: Registration, metrics: RegistrationMetrics, out: Path,
             shifts_path: Path) -> None:
    table = Table(title=f"motion correction of {registration.n_frames} frames")
    table.add_column("measure")
    table.add_column("value", justify="right")
    largest = np.abs(registration.shifts).max(axis=0)
    table.add_row("largest rigid shift, rows / columns (px)",
                  f"{largest[0]:.2f} / {largest[1]:.2f}")
    for name, value in metrics.as_dict().items():
        table.add_row(name.replace("_", " "), f"{value:.3f}")
    out_console.print(table)
    err_console.print(f"wrote {out} and {shifts_path}", highlight=False)
