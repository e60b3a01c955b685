"""`calscope run`: from a movie to cells, spikes, population analysis and the report, in one
command whose finished stages a rerun reuses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from calscope.cli.analysis import analyze_command
from calscope.cli.common import (CELL_TYPE_HELP, DEFAULT_METHOD, DEVICE_HELP, app,
                                 count_progress, err_console, friendly, settings_from,
                                 step_progress)
from calscope.cli.movie import (Background, BidiOffset, CellRadius, MovieAxes, MovieChannel,
                                MovieFs, MovieKey, Rigid, Scheduler, cnmf_settings,
                                compute_settings, line_offset_hint, motion_settings)
from calscope.cli.spikes import check_cell_type_option, check_device_option
from calscope.dispatch import METHODS
from calscope.errors import InputError
from calscope.extract.data import extraction_shape
from calscope.io.movies import read_movie
from calscope.pipeline.compute import patch_map
from calscope.pipeline.movie import (STORE_NAME, cells_stage, motion_stage,
                                     movie_fingerprint)


@app.command("run")
@friendly
def run_command(
    movie: Annotated[Path, typer.Argument(help="The movie: .tif/.tiff, .h5/.hdf5, .zarr, .npy "
                                          "or .nwb; read a chunk at a time.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything: the "
                                      "results store calscope.zarr (groups motion, sources, "
                                      "population), cells.dff.npy, report.html and figures/.")],
    fs: MovieFs = None,
    key: MovieKey = None,
    axes: MovieAxes = None,
    channel: MovieChannel = None,
    rigid: Rigid = False,
    bidi_offset: BidiOffset = None,
    cell_radius: CellRadius = None,
    background: Background = None,
    scheduler: Scheduler = None,
    method: Annotated[str, typer.Option(help=f"Spike inference: {', '.join(METHODS)}.")]
    = DEFAULT_METHOD,
    model: Annotated[Optional[Path], typer.Option(help="amortized/supervised model file.")]
    = None,
    cell_type: Annotated[Optional[str], typer.Option(help=CELL_TYPE_HELP)] = None,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP)] = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (every section).")]
    = None,
) -> None:
    """Run everything on a movie: motion correction, cell extraction (CNMF), spike inference,
    population analysis and the HTML report. Motion and cells already computed in OUT from
    the same movie and settings are reused, so a stopped or extended run picks up there."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder; give a folder name")
    # the spike options are checked before the movie's hours of work, not after
    if method not in METHODS:
        raise InputError(f"--method: unknown method {method!r}; choose one of "
                         f"{', '.join(METHODS)}")
    check_cell_type_option(cell_type, method, model)
    check_device_option(device, method)
    settings = settings_from(config)
    compute = compute_settings(settings, scheduler)
    motion = motion_settings(settings.motion, rigid=rigid, bidi_offset=bidi_offset)
    store = out / STORE_NAME
    with read_movie(movie, key=key, axes=axes, channel=channel, fs=fs) as frames:
        if frames.fs is None:
            raise InputError(f"{movie}: the file states no frame rate; pass --fs (Hz)")
        extraction_shape(frames, str(movie))  # too short to extract cells from: say so now
        cells = cnmf_settings(settings.cnmf, cell_radius=cell_radius, background=background,
                              imaging=frames.imaging)
        out.mkdir(parents=True, exist_ok=True)
        upstream = movie_fingerprint(movie, key=key, axes=axes, channel=channel, fs=frames.fs)
        with count_progress(f"motion of {movie.name}", len(frames), "frames") as update:
            registration, moved = motion_stage(frames, store, motion, upstream,
                                               progress=update)
        _said("motion", moved.reused, f"largest shift {registration.edge_px()} px")
        hint = line_offset_hint(registration)
        if hint is not None:
            err_console.print(f"note: {hint}", highlight=False)
        with (patch_map(compute) as map_patches,
              step_progress(f"cells of {movie.name}") as update):
            found = cells_stage(frames, registration, frames.fs, store, cells,
                                moved.fingerprint, progress=update, map_patches=map_patches)
        _said("cells", found.reused,
              f"{found.meta['accepted']} accepted of {found.meta['cells']} components")
    analyze_command(input=store, out=out, fs=None, method=method, model=model, native_fs=None,
                    cell_type=cell_type, device=device, spikes=False, key=None,
                    all_rois=False, dff=None, config=config, stimulus=None, store="zarr")


def _said(stage: str, reused: bool, what: str) -> None:
    how = "reused from the earlier run in this folder" if reused else "done"
    err_console.print(f"{stage}: {how} ({what})", highlight=False)
