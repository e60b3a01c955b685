"""Write spikes and results to files, atomically.

Every writer writes into a temporary file beside the target (``.<name>.tmp-<random><suffix>``) and
renames it over the target only when complete, so a failed or interrupted write never leaves a
partial output: the target is either untouched or whole, and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from calscope.errors import InputError

SPIKE_FORMATS = (".npy", ".csv")
RESULT_FORMATS = (".npz", *SPIKE_FORMATS)
_CSV_CHUNK_ROWS = 4096


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (for writers that open files themselves);
    renamed to ``path`` on success.

    Creates the parent folder if missing. On any exception the temporary file is deleted and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def replace_folder(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``. An older ``target`` is moved aside
    first and deleted only after the rename, so ``target`` is at every moment either the old
    folder or the new one, whole."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{secrets.token_hex(6)}")
        os.replace(target, retired)
        os.replace(new, target)
        shutil.rmtree(retired)
    else:
        os.replace(new, target)


@contextlib.contextmanager
def atomic_open(path: str | Path, *, text: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; rename it to ``path`` on success
    (:func:`atomic_path`). Text mode writes UTF-8 with untranslated newlines.
    """
    with atomic_path(path) as temporary:
        if text:
            handle: IO[Any] = open(temporary, "x", encoding="utf-8", newline="")
        else:
            handle = open(temporary, "xb")
        with handle:
            yield handle


def write_spikes(
    path: str | Path, spikes: np.ndarray, *, names: Sequence[str] | None = None
) -> Path:
    """Write spikes (cells, T), or (T,) for one cell, to ``.npy`` or ``.csv``.

    ``.npy`` holds float32 spikes in the shape given: (cells, T), or (T,) for a 1-D array.
    ``.csv`` uses the Spikefinder layout: a header row of ``names`` (default "0", "1", ...),
    one column per cell, one row per frame, NaN written as an empty field. Returns the path
    written.
    """
    path = Path(path)
    suffix = _check_suffix(path, SPIKE_FORMATS)
    values = np.asarray(spikes, dtype=np.float32)
    if values.ndim not in (1, 2):
        raise InputError(f"{path}: spikes must be (cells, T) or (T,), got shape {values.shape}")
    by_cell = np.atleast_2d(values)
    labels = _labels(path, names, len(by_cell))
    if suffix == ".npy":
        with atomic_open(path) as handle:
            np.save(handle, values)
    else:
        with atomic_open(path, text=True) as handle:
            _write_csv(handle, by_cell, labels)
    return path


def write_result(
    path: str | Path,
    result: Any,
    rows: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    was_1d: bool = False,
) -> Path:
    """Write a result dataclass (e.g. ``Deconvolution``) for the input rows ``rows``.

    ``.npz``: every field of ``result`` as it is (scalars as 0-d arrays; fields that are None
    are left out; a dict field ``params`` becomes one array ``params_<key>`` per entry), plus ``rows`` (cells,) int64 and, when given, ``names`` (cells,) str.
    ``.npy``/``.csv``: ``result.spikes`` only, through ``write_spikes``. ``was_1d`` says the
    input was one (T,) trace: ``.npy`` output is then (T,) like the input, while ``.npz``
    keeps the result's (1, T) fields beside ``rows`` and ``.csv`` is one column either way.
    Returns the path.
    """
    path = Path(path)
    suffix = _check_suffix(path, RESULT_FORMATS)
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        raise TypeError(f"result must be a dataclass instance, got {type(result).__name__}")
    if suffix != ".npz":
        spikes = np.asarray(result.spikes)
        if was_1d:  # (1, T) → (T,); more than one cell cannot be reshaped and raises
            spikes = spikes.reshape(spikes.shape[-1])
        return write_spikes(path, spikes, names=names)
    arrays: dict[str, np.ndarray] = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, dict):  # e.g. per-cell parameters: one array per entry
            arrays.update({f"{field.name}_{key}": np.asarray(v) for key, v in value.items()})
        elif value is not None:
            arrays[field.name] = np.asarray(value)
    arrays["rows"] = np.asarray(rows, dtype=np.int64)
    if names is not None:
        arrays["names"] = np.asarray(_labels(path, names, len(arrays["rows"])), dtype=str)
    with atomic_open(path) as handle:
        np.savez_compressed(handle, **arrays)
    return path


def _check_suffix(path: Path, allowed: tuple[str, ...]) -> str:
    """The lower-case suffix of ``path``; InputError unless it is one of ``allowed``."""
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise InputError(
            f"{path}: cannot write '{suffix or 'no extension'}' files; "
            f"name the output with one of {', '.join(allowed)}"
        )
    return suffix


def _labels(path: Path, names: Sequence[str] | None, cells: int) -> list[str]:
    """Column labels: ``names`` as strings, or "0", "1", ...; InputError on a count mismatch."""
    if names is None:
        return [str(cell) for cell in range(cells)]
    labels = [str(name) for name in names]
    if len(labels) != cells:
        raise InputError(f"{path}: {len(labels)} names given for {cells} cells; give one per cell")
    return labels


def _write_csv(handle: IO[str], values: np.ndarray, labels: list[str]) -> None:
    """Spikefinder CSV of ``values`` (cells, T): header, then one line per frame."""
    csv.writer(handle, lineterminator="\n").writerow(labels)
    by_frame = values.T
    for start in range(0, len(by_frame), _CSV_CHUNK_ROWS):
        chunk = by_frame[start : start + _CSV_CHUNK_ROWS]
        fields = np.char.mod("%.9g", chunk)
        fields[np.isnan(chunk)] = ""
        handle.writelines(",".join(line) + "\n" for line in fields)
