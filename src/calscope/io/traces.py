"""Read fluorescence traces from files: NPY, CSV, MATLAB, HDF5, CASCADE, CaImAn, NWB and Suite2p.

``read_traces`` picks a reader from the file extension (a folder is read as Suite2p output),
checks what it read and returns a ``TraceData`` with traces as ``(cells, T)`` float32, NaN
marking missing samples or padding. Every problem with the input raises ``InputError`` with a
one-line message naming the file, what is wrong and what to do.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from calscope.errors import InputError, unreadable
from calscope.io.caiman import is_caiman, read_caiman
from calscope.io.cascade import cascade_trial_table
from calscope.io.matlab import load_mat
from calscope.io.nwb import read_nwb
from calscope.io.sources import read_cells
from calscope.validation import as_trace_matrix, check_fs, check_usable, unusable_rows

NEUROPIL_COEFF = 0.7
SUPPORTED = (".npy, .csv, .mat, .h5, .hdf5 (a dataset, or CaImAn results), .nwb (ROI traces), "
             "a Suite2p folder, or the cells of `calscope extract` (.npz, .zarr)")


@dataclass(frozen=True)
class TraceData:
    """Traces read from a file.

    Attributes:
        traces: (cells, T) float32; a 1-D input becomes (1, T). NaN = missing sample/padding.
        fs: sampling rate in Hz if the format carries it (or it was given), else None.
        rows: (cells,) int64, which rows / ROIs / columns / trials of the input these are.
        names: a label per row (CSV header, "roi 12", "trial 0", "row 3").
        source: the path read.
        fmt: "npy", "csv", "mat", "h5", "caiman", "nwb", "suite2p", "cascade" or "cells".
        was_1d: the input was a single 1-D trace.
        raw_fluorescence: the format says the traces are fluorescence, not ΔF/F (Suite2p's F,
            an NWB ``Fluorescence`` series), so the supervised method needs ΔF/F computed.
    """

    traces: np.ndarray
    fs: float | None
    rows: np.ndarray
    names: tuple[str, ...]
    source: str
    fmt: str
    was_1d: bool
    raw_fluorescence: bool = False


@dataclass(frozen=True)
class _Read:
    """What a format reader found, before checks: values (cells, T) or (T,)."""

    values: np.ndarray
    fmt: str
    fs: float | None = None
    rows: np.ndarray | None = None
    names: tuple[str, ...] | None = None
    raw_fluorescence: bool = False


def read_traces(
    path: str | Path,
    *,
    fs: float | None = None,
    key: str | None = None,
    all_rois: bool = False,
    require_fs: bool = True,
) -> TraceData:
    """Read fluorescence traces from a file or a Suite2p output folder.

    Args:
        path: ``.npy`` (cells × T or T); ``.csv`` in the Spikefinder layout (a header row of
            neuron names, one column per neuron, one row per frame, empty or NaN fields as
            padding); ``.mat`` with a 2-D numeric variable, or a CASCADE ground-truth file
            (its trials become rows, NaN-padded to the longest); ``.h5``/``.hdf5`` with a 2-D
            dataset, or a CaImAn results file (``cnm.save``: ``estimates/F_dff``, ΔF/F, else
            ``C + YrA`` with a warning; fs from ``params/data/fr``); ``.nwb``, the ROI traces
            of a ``DfOverF`` container, else of a ``Fluorescence`` one (− 0.7 × its neuropil
            series), fs from the series' rate or timestamps (:func:`calscope.io.nwb.read_nwb`);
            a Suite2p folder (``F.npy``, optional ``Fneu.npy``, ``iscell.npy``, ``ops.npy``;
            F − 0.7·Fneu when Fneu is present); or the cells written by ``calscope extract``
            (``.npz`` or ``.zarr``: the accepted cells' ΔF/F, fs from the file).
        fs: sampling rate in Hz; overrides the one stored in the file.
        key: the variable (``.mat``), dataset (``.h5``) or series (``.nwb``) to read, when the
            file holds several (given for a CaImAn file, that dataset is read as a plain HDF5
            one).
        all_rois: Suite2p, CaImAn, NWB and extracted cells: keep every ROI, not only those ``iscell.npy`` (an
            NWB segmentation's ``iscell`` column) marks as cells (the components of CaImAn's
            ``idx_components``).
        require_fs: raise when neither the file nor ``fs`` gives a sampling rate.

    Returns:
        TraceData with traces (cells, T) float32. Unusable rows (all NaN, constant, or fewer
        than 10 finite samples) are kept (see ``bad_rows``); only a file in which every row
        is unusable is refused.
    """
    if fs is not None:
        fs = check_fs(fs, f"{path}: fs")
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path")
    read = _dispatch(path, key, all_rois)
    rate = fs if fs is not None else read.fs
    checked = validate_traces(read.values, rate, str(path), require_fs=require_fs)
    traces = checked.astype(np.float32)
    rows = np.arange(len(traces)) if read.rows is None else read.rows
    names = read.names or tuple(f"row {row}" for row in rows)
    return TraceData(
        traces=traces,
        fs=rate,
        rows=np.asarray(rows, dtype=np.int64),
        names=tuple(names),
        source=str(path),
        fmt=read.fmt,
        was_1d=np.ndim(read.values) == 1,
        raw_fluorescence=read.raw_fluorescence,
    )


def bad_rows(traces: np.ndarray) -> np.ndarray:
    """Indices (int64) of the unusable rows of ``traces`` ((cells, T) or (T,)).

    Unusable: all NaN, constant over the finite samples, or fewer than 10 finite samples (see
    ``calscope.validation.unusable_rows``). A 1-D trace counts as one row.
    """
    return np.flatnonzero(unusable_rows(traces)).astype(np.int64)


def validate_traces(
    traces: np.ndarray, fs: float | None, source: str, *, require_fs: bool = True
) -> np.ndarray:
    """Check that ``traces`` ((cells, T) or (T,), any units) and ``fs`` (Hz) can be analysed.

    Returns the traces as a new (cells, T) float64 array. Raises InputError (message starting
    with ``source``) when traces are not real numbers, not 1-D or 2-D, hold no cell, have
    fewer than 10 samples, contain ±inf, or every row is unusable (see ``bad_rows``); when
    ``fs`` is not a finite positive number; or when ``fs`` is None and ``require_fs`` is set.
    """
    values = as_trace_matrix(traces, source)
    if np.isinf(values).any():
        raise InputError(f"{source}: contains infinite values; mark missing samples as NaN")
    if fs is None:
        if require_fs:
            raise InputError(f"{source}: no sampling rate is known: pass --fs HZ (fs= in Python)")
    else:
        check_fs(fs, f"{source}: fs")
    check_usable(values, source)
    return values


def _dispatch(path: Path, key: str | None, all_rois: bool) -> _Read:
    """Run the reader that fits ``path``."""
    suffix = path.suffix.lower()
    if suffix in (".npz", ".zarr"):
        return _only_for(key, path, "cells from `calscope extract`") or _read_cells(path,
                                                                                  all_rois)
    if path.is_dir():
        return _only_for(key, path, "a Suite2p folder") or _read_suite2p(path, all_rois)
    if suffix == ".npy":
        return _only_for(key, path, ".npy files") or _Read(_load_npy(path), fmt="npy")
    if suffix == ".csv":
        return _only_for(key, path, ".csv files") or _read_csv(path)
    if suffix == ".mat":
        return _read_mat(path, key)
    if suffix in (".h5", ".hdf5"):
        return _read_hdf5(path, key, fmt="h5", all_rois=all_rois)
    if suffix == ".nwb":
        return _read_nwb(path, key, all_rois)
    raise InputError(f"{path}: unknown trace format '{suffix}'; use {SUPPORTED}")


def _read_cells(path: Path, all_cells: bool) -> _Read:
    """The ΔF/F of the cells `calscope extract` wrote (`calscope.io.sources.read_cells`)."""
    dff, fs, rows = read_cells(path, all_cells)
    return _Read(dff, fmt="cells", fs=fs, rows=rows,
                 names=tuple(f"cell {row}" for row in rows))


def _only_for(key: str | None, path: Path, kind: str) -> None:
    """Refuse ``key`` for formats holding a single array."""
    if key is not None:
        raise InputError(f"{path}: key={key!r} does not apply to {kind}; leave it out")


def _load_npy(path: Path, *, allow_pickle: bool = False) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except (OSError, ValueError, EOFError) as error:
        raise unreadable(path, "NPY", error) from error


def _read_csv(path: Path) -> _Read:
    """Spikefinder layout: header of names, one column per neuron, rows = frames."""
    samples: list[list[float]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: the file is empty; expected a header row of names")
            names = tuple(name.strip() for name in header)
            for record in reader:
                if record:
                    samples.append(_csv_row(path, reader.line_num, record, names))
    except (UnicodeDecodeError, csv.Error) as error:
        raise unreadable(path, "CSV", error) from error
    if not samples:
        raise InputError(f"{path}: has a header row but no data rows")
    return _Read(np.array(samples, dtype=np.float64).T, fmt="csv", names=names)


def _csv_row(path: Path, line: int, record: list[str], names: tuple[str, ...]) -> list[float]:
    """One CSV line as floats (empty field = NaN); InputError pointing at the bad field."""
    if len(record) != len(names):
        raise InputError(
            f"{path}: line {line} has {len(record)} fields but the header has {len(names)}; "
            "write one column per neuron with the same number of fields on every line"
        )
    try:
        return [float(field) if field.strip() else math.nan for field in record]
    except ValueError:
        column = next(i for i, field in enumerate(record) if not _is_number(field))
        raise InputError(
            f"{path}: line {line}, column {column + 1} ({names[column]!r}): "
            f"{record[column]!r} is not a number; leave missing samples empty or write NaN"
        ) from None


def _is_number(field: str) -> bool:
    try:
        float(field or "nan")
    except ValueError:
        return False
    return True


def _is_matrix(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """A 2-D real numeric array with more than one element."""
    numeric = np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
    return numeric and len(shape) == 2 and math.prod(shape) > 1


def _pick(path: Path, key: str | None, arrays: dict[str, tuple[tuple[int, ...], np.dtype]]) -> str:
    """The name of the array to read: ``key``, else the only 2-D numeric one.

    ``arrays`` maps every name in the file to (shape, dtype). A single matrix (both sides > 1)
    wins over vectors, so a file holding traces and a time vector needs no key.
    """
    if key is not None:
        if key not in arrays:
            held = ", ".join(sorted(arrays)) or "nothing"
            raise InputError(
                f"{path}: no array named {key!r} (it holds {held}); pass one of those as --key"
            )
        return key
    candidates = [name for name, (shape, dtype) in arrays.items() if _is_matrix(shape, dtype)]
    matrices = [name for name in candidates if min(arrays[name][0]) > 1]
    for choice in (matrices, candidates):
        if len(choice) == 1:
            return choice[0]
    if not candidates:
        raise InputError(
            f"{path}: holds no 2-D numeric array; save traces as a cells × time matrix"
        )
    listing = ", ".join(f"{name} {arrays[name][0]}" for name in sorted(candidates))
    raise InputError(
        f"{path}: holds several 2-D numeric arrays ({listing}); pick one with key (--key)"
    )


def _read_mat(path: Path, key: str | None) -> _Read:
    try:
        variables = load_mat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5 files
        return _read_hdf5(path, key, fmt="mat")
    if key is None and "CAttached" in variables:
        return _read_cascade(path)
    name = _pick(path, key, {n: (np.shape(v), np.asarray(v).dtype) for n, v in variables.items()})
    values = np.asarray(variables[name])
    if values.ndim == 2 and 1 in values.shape:  # MATLAB stores a vector as 1 × T or T × 1
        values = values.ravel()
    return _Read(values, fmt="mat")


def _read_hdf5(path: Path, key: str | None, *, fmt: str, all_rois: bool = False) -> _Read:
    """A dataset of an HDF5 file, or with ``fmt="h5"`` and no ``key`` a CaImAn results file's
    ΔF/F (else C + YrA) of the accepted components (all with ``all_rois``); MATLAB v7.3 files
    (``fmt="mat"``) store arrays transposed."""
    arrays: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

    def collect(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset) and not name.startswith("#refs#"):
            arrays[name] = (item.shape, item.dtype)

    try:
        with h5py.File(path, "r") as handle:
            if fmt == "h5" and key is None and is_caiman(handle):
                found = read_caiman(handle, path, all_rois)
                return _Read(found.values, fmt="caiman", fs=found.fs, rows=found.rows,
                             names=tuple(f"component {row}" for row in found.rows))
            handle.visititems(collect)
            name = _pick(path, None if key is None else key.strip("/"), arrays)
            values = np.asarray(handle[name][()])
    except OSError as error:
        raise unreadable(path, "HDF5", error) from error
    return _Read(values.T if fmt == "mat" else values, fmt=fmt)


def _read_nwb(path: Path, key: str | None, all_rois: bool) -> _Read:
    """An NWB file's ROI traces (:func:`calscope.io.nwb.read_nwb`), rows named by ROI id."""
    found = read_nwb(path, key, all_rois, NEUROPIL_COEFF)
    return _Read(found.values, fmt="nwb", fs=found.fs, rows=found.rows,
                 names=tuple(f"roi {roi}" for roi in found.ids),
                 raw_fluorescence=not found.is_dff)


def _read_cascade(path: Path) -> _Read:
    """A CASCADE ground-truth file: trials as rows, NaN-padded to the longest trial."""
    values, rate, rows = cascade_trial_table(path)
    names = tuple(f"trial {row}" for row in rows)
    return _Read(values, fmt="cascade", fs=rate, rows=rows, names=names)


def _read_suite2p(folder: Path, all_rois: bool) -> _Read:
    """F (− 0.7·Fneu), the ROIs ``iscell.npy`` marks as cells, fs from ``ops.npy``."""
    planes = (folder, folder / "plane0", folder / "suite2p" / "plane0")
    plane = next((candidate for candidate in planes if (candidate / "F.npy").is_file()), None)
    if plane is None:
        raise InputError(f"{folder}: a folder must be Suite2p output, but it has no F.npy")
    fluorescence = _load_npy(plane / "F.npy")
    if fluorescence.ndim != 2:
        raise InputError(
            f"{plane / 'F.npy'}: expected ROIs × frames, got shape {fluorescence.shape}"
        )
    if (plane / "Fneu.npy").is_file():
        neuropil = _load_npy(plane / "Fneu.npy")
        if neuropil.shape != fluorescence.shape:
            raise InputError(
                f"{plane / 'Fneu.npy'}: shape {neuropil.shape} differs from F.npy's "
                f"{fluorescence.shape}; both must come from the same Suite2p run"
            )
        fluorescence = fluorescence - NEUROPIL_COEFF * neuropil
    rows = np.arange(len(fluorescence))
    if (plane / "iscell.npy").is_file() and not all_rois:
        iscell = np.asarray(_load_npy(plane / "iscell.npy"), dtype=np.float64)
        if len(iscell) != len(fluorescence):
            raise InputError(
                f"{plane / 'iscell.npy'}: {len(iscell)} entries for {len(fluorescence)} ROIs "
                "in F.npy; both must come from the same Suite2p run"
            )
        rows = np.flatnonzero(iscell.reshape(len(iscell), -1)[:, 0] > 0.5)
        if rows.size == 0:
            raise InputError(
                f"{plane / 'iscell.npy'}: marks no ROI as a cell; pass --all-rois to keep all"
            )
    return _Read(
        fluorescence[rows],
        fmt="suite2p",
        fs=_suite2p_rate(plane / "ops.npy"),
        rows=rows,
        names=tuple(f"roi {row}" for row in rows),
        raw_fluorescence=True,
    )


def _suite2p_rate(ops_path: Path) -> float | None:
    """``ops['fs']`` (Hz) when ``ops.npy`` exists and holds it, else None."""
    if not ops_path.is_file():
        return None
    ops = _load_npy(ops_path, allow_pickle=True)
    settings = ops.item() if ops.dtype == object and ops.size == 1 else {}
    rate = settings.get("fs") if isinstance(settings, dict) else None
    return None if rate is None else check_fs(rate, f"{ops_path}: fs")
