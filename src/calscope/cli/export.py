"""`calscope export-nwb`: the cells of a movie (and their spikes and motion) as a new NWB
file."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from calscope.cli.common import app, err_console, friendly
from calscope.errors import InputError
from calscope.io.nwb_export import SubjectInfo, write_cells_nwb
from calscope.pipeline.movie import cells_for_nwb


@app.command("export-nwb")
@friendly
def export_nwb_command(
    source: Annotated[Path, typer.Argument(help="A `calscope run` folder, or the cells of "
                                           "`calscope extract` (cells.npz / .zarr).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The new NWB file (.nwb).")],
    description: Annotated[str, typer.Option(help="The session description.")]
    = "calcium imaging, cells extracted by calscope",
    session_start: Annotated[Optional[str], typer.Option(
        help="When the recording started, ISO 8601 (e.g. 2026-03-01T14:05:00+01:00); "
             "default: the movie file's modification time.")] = None,
    location: Annotated[str, typer.Option(help="The imaged brain area, e.g. VISp (Allen "
                                          "CCF).")] = "unknown",
    indicator: Annotated[str, typer.Option(help="The calcium indicator, e.g. GCaMP6f.")]
    = "unknown",
    subject_id: Annotated[str, typer.Option(help="The animal's identifier.")] = "unknown",
    species: Annotated[Optional[str], typer.Option(help="The animal's species, e.g. 'Mus "
                                                   "musculus'.")] = None,
    sex: Annotated[str, typer.Option(help="M, F, U (unknown) or O (other).")] = "U",
    age: Annotated[Optional[str], typer.Option(help="The animal's age, ISO 8601 duration "
                                               "(e.g. P90D). DANDI asks for the subject's "
                                               "id, species, sex and age.")] = None,
) -> None:
    """Write the cells (footprints, ΔF/F, quality, mean image), and the spikes and motion of
    a `calscope run` folder, to a new NWB file that DANDI's tools and `calscope analyze`
    read."""
    if out.suffix.lower() != ".nwb":
        raise InputError(f"--out {out}: an NWB file is named *.nwb")
    if sex not in ("M", "F", "U", "O"):
        raise InputError(f"--sex {sex!r}: use M, F, U (unknown) or O (other)")
    given_start = None if session_start is None else _parsed_time(session_start)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    cells, movie = cells_for_nwb(source)
    start = given_start or _file_time(Path(movie))
    subject = SubjectInfo(subject_id=subject_id, species=species, sex=sex, age=age)
    written = write_cells_nwb(out, cells, session_start=start, description=description,
                              source=movie, subject=subject, location=location,
                              indicator=indicator)
    parts = ["footprints", "ΔF/F", "mean image"]
    parts += ["spikes"] if cells.spikes is not None else []
    parts += ["motion"] if cells.shifts is not None else []
    err_console.print(f"wrote {written}: {cells.accepted.size} components "
                      f"({int(cells.accepted.sum())} cells); {', '.join(parts)}",
                      highlight=False)


def _parsed_time(given: str) -> datetime:
    """``given`` (ISO 8601) as a time; UTC when it names no zone."""
    try:
        start = datetime.fromisoformat(given)
    except ValueError:
        raise InputError(f"--session-start {given!r}: not an ISO 8601 time; write e.g. "
                         "2026-03-01T14:05:00+01:00") from None
    return start if start.tzinfo else start.replace(tzinfo=timezone.utc)


def _file_time(movie: Path) -> datetime:
    """The movie's modification time, else now (the movie was moved or is not a file)."""
    if movie.is_file():
        return datetime.fromtimestamp(movie.stat().st_mtime, tz=timezone.utc)
    return datetime.now(tz=timezone.utc)
