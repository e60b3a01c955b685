"""NWB files (Neurodata Without Borders, the format of the DANDI archive): ROI traces and ROIs.

An optical-physiology NWB file keeps each ROI's trace in a ``RoiResponseSeries`` (data
frames × ROIs, a ``rate`` or ``timestamps``, ``rois`` pointing at rows of a
``PlaneSegmentation``), inside a ``DfOverF`` container (ΔF/F) or a ``Fluorescence`` one (raw
fluorescence; Suite2p's export adds ``Neuropil`` and ``Deconvolved`` series of the same
type). The ROIs' shapes are the segmentation's ``image_mask`` (ROIs × Y × X) or
``pixel_mask`` (x = column, y = row, weight); Suite2p adds an ``iscell`` column. Read with
pynwb, so any file that pynwb opens (its cached extensions included) can be read.

Results go back as a copy of the file read with one more container, `RESULTS_CONTAINER`, in
the module of the series read (:func:`write_nwb_result`); the file read is never changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calscope.errors import InputError, unreadable
from calscope.io.fov import FieldOfView, footprint_labels
from calscope.io.writers import atomic_path

#: series (or containers) with these words in their name are not a cell's own fluorescence
NEUROPIL_WORDS, NOT_FLUORESCENCE_WORDS = ("neuropil",), ("neuropil", "deconv", "spike", "spks")
#: the container (of type Fluorescence, as Suite2p's "Deconvolved") results are written to
RESULTS_CONTAINER = "calscope"
#: fields of a spike inference result in spikes per frame (OASIS's are in the input's units)
COUNT_FIELDS = ("spikes", "lower", "upper")


@dataclass(frozen=True)
class NwbTraces:
    """Traces read from an NWB file.

    Attributes:
        values: (ROIs, T) float64: ΔF/F (``is_dff``), else fluorescence (minus 0.7 × neuropil
            when ``neuropil_series`` is set).
        fs: sampling rate (Hz): the series' ``rate``, else 1 / median step of its
            ``timestamps``.
        rows: (ROIs,) int64 positions in the plane segmentation of the ROIs read.
        ids: (ROIs,) int64 the ROIs' ids in that segmentation.
        series: the series read, as "module/container/series".
        is_dff: read from a ``DfOverF`` container.
        neuropil_series: the neuropil series subtracted, or None.
    """

    values: np.ndarray
    fs: float
    rows: np.ndarray
    ids: np.ndarray
    series: str
    is_dff: bool
    neuropil_series: str | None


def read_nwb(path: str | Path, key: str | None = None, all_rois: bool = False,
             neuropil_coeff: float = 0.7) -> NwbTraces:
    """The ROI traces of an NWB file.

    Without ``key``: the one ``RoiResponseSeries`` of a ``DfOverF`` container; else the one
    fluorescence series of a ``Fluorescence`` container (names with "neuropil", "deconv",
    "spike" or "spks" left aside), minus ``neuropil_coeff`` × the neuropil series of the same
    shape when there is exactly one. ``key`` names a series ("RoiResponseSeries",
    "DfOverF/RoiResponseSeries" or "ophys/DfOverF/RoiResponseSeries"). Unless ``all_rois``,
    only the ROIs an ``iscell`` column of the segmentation marks as cells.

    Raises:
        InputError: the file cannot be read, holds no ROI traces, several fit (pick one with
            ``key``), ``key`` names none, or the series disagrees with its ROIs.
    """
    path = Path(path)
    with _opened(path) as (_, nwbfile):
        found = _roi_series(nwbfile)
        series, is_dff = _choose(found, key, path)
        values = _as_rois_by_time(series, path)
        neuropil = None if is_dff else _neuropil(found, series, values.shape)
        if neuropil is not None:
            values = values - neuropil_coeff * _as_rois_by_time(neuropil, path)
        region = np.asarray(series.rois.data[:], dtype=np.int64)
        if len(region) != len(values):
            raise InputError(f"{path}: series {_name(series)} has {len(values)} ROIs but points "
                             f"at {len(region)} rows of its segmentation; the file is "
                             "inconsistent")
        table = series.rois.table
        keep = np.arange(len(region))
        if not all_rois and "iscell" in table.colnames:
            iscell = np.asarray(table["iscell"].data[:], dtype=np.float64)
            keep = np.flatnonzero(iscell.reshape(len(iscell), -1)[region, 0] > 0.5)
            if keep.size == 0:
                raise InputError(f"{path}: the iscell column of {table.name} marks no ROI of "
                                 f"{_name(series)} as a cell; pass --all-rois (all_rois=True) "
                                 "to read every ROI")
        ids = np.asarray(table.id.data[:], dtype=np.int64)[region[keep]]
        return NwbTraces(values[keep], _rate(series, path), region[keep], ids, _name(series),
                         is_dff, None if neuropil is None else _name(neuropil))


def write_nwb_result(path: str | Path, result: Any, source: str | Path, rows: np.ndarray,
                     key: str | None = None) -> Path:
    """Write a copy of the NWB file ``source`` with ``result`` added, atomically.

    The series :func:`read_nwb` reads from ``source`` (with ``key``) fixes the module, the
    plane segmentation and the frames. Every array field of ``result`` shaped like its
    ``spikes``, (cells, T) (``spikes``, ``lower``, ``upper``, ``calcium``, ...), becomes a
    ``RoiResponseSeries`` of that name (data frames × cells, float32) over the segmentation
    rows ``rows`` (:attr:`NwbTraces.rows`), with the source series' rate or timestamps, in a
    container `RESULTS_CONTAINER` of that module.

    Raises:
        InputError: ``path`` is ``source`` itself, the module already holds results, or the
            result's frames differ from the series'.
    """
    from pynwb import NWBHDF5IO
    from pynwb.ophys import Fluorescence, RoiResponseSeries

    path, source = Path(path), Path(source)
    if path.resolve() == source.resolve():
        raise InputError(f"--out {path}: is the NWB file read; write the results to a new file "
                         "(a copy of it with the results added)")
    with _opened(source) as (io, nwbfile):
        series, _ = _choose(_roi_series(nwbfile), key, source)
        module = series.parent.parent
        if RESULTS_CONTAINER in module.data_interfaces:
            raise InputError(f"{source}: module {module.name!r} already holds calscope results "
                             f"({RESULTS_CONTAINER!r}); start from the file without them")
        shape = (len(rows), _as_shape(series)[1])
        if np.shape(result.spikes) != shape:
            raise InputError(f"{source}: spikes of shape {np.shape(result.spikes)} do not match "
                             f"{shape[0]} ROIs × the {shape[1]} frames of {_name(series)}")
        arrays = {field.name: np.asarray(getattr(result, field.name))
                  for field in dataclasses.fields(result)
                  if np.shape(getattr(result, field.name)) == shape}
        timing = ({"timestamps": series} if series.timestamps is not None
                  else {"rate": float(series.rate), "starting_time": series.starting_time})
        region = series.rois.table.create_roi_table_region(
            region=[int(r) for r in rows], description="the ROIs calscope inferred spikes for")
        counts = hasattr(result, "lower")  # spike inference: expected spikes per frame
        made = [RoiResponseSeries(name=name, data=values.T.astype(np.float32), rois=region,
                                  unit="spikes per frame" if counts and name in COUNT_FIELDS
                                  else "n.a.", description=f"calscope {name}", **timing)
                for name, values in arrays.items()]
        module.add(Fluorescence(name=RESULTS_CONTAINER, roi_response_series=made))
        with atomic_path(path) as temporary, NWBHDF5IO(str(temporary), mode="w") as out:
            out.export(src_io=io, nwbfile=nwbfile)
    return path


def read_nwb_fov(path: str | Path, rows: np.ndarray) -> FieldOfView | None:
    """The field of view of the segmentation ROIs ``rows`` (positions in the plane segmentation
    that the traces read by :func:`read_nwb` point at): labels from their masks
    (`calscope.io.fov.footprint_labels`), over a 2-D image of the processing module (Suite2p's
    ``meanImg`` first) or else the masks' own weights; None when the file has no segmentation
    with masks.
    """
    from pynwb.base import Images
    from pynwb.ophys import PlaneSegmentation

    with _opened(Path(path)) as (_, nwbfile):
        segmentations = [obj for obj in nwbfile.objects.values()
                         if isinstance(obj, PlaneSegmentation)]
        if len(segmentations) != 1:
            return None
        masks = _masks(segmentations[0], rows)
        if masks is None:
            return None
        images = [(name, np.asarray(image.data[:], dtype=np.float32))
                  for container in nwbfile.objects.values() if isinstance(container, Images)
                  for name, image in container.images.items()]
        images = sorted((item for item in images if item[1].ndim == 2
                         and all(np.greater_equal(item[1].shape, masks.shape[1:]))),
                        key=lambda item: ("mean" not in item[0].lower(), item[1].size))
        # pixel masks carry no frame size: an image of the plane, at least as large, gives it
        shape = images[0][1].shape if images else masks.shape[1:]
        masks = np.pad(masks, [(0, 0)] + [(0, n - m) for n, m in zip(shape, masks.shape[1:])])
        labels, weights = footprint_labels(masks, shape)
        if images:
            name, image = images[0]
            return FieldOfView(image, labels, "mean image" if "mean" in name.lower()
                               else f"image {name!r}")
        return FieldOfView(weights, labels, "ROI masks (no image in the file)")


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple[Any, Any]]:
    """The pynwb reader of ``path`` and the file it read, closed on exit."""
    from pynwb import NWBHDF5IO

    try:
        io = NWBHDF5IO(str(path), mode="r")
        nwbfile = io.read()
    except Exception as error:  # pynwb and h5py raise many kinds for a file they cannot read
        raise unreadable(path, "NWB", error) from error
    try:
        yield io, nwbfile
    finally:
        io.close()


def _roi_series(nwbfile: object) -> list:
    from pynwb.ophys import RoiResponseSeries

    return [obj for obj in nwbfile.objects.values() if isinstance(obj, RoiResponseSeries)]


def _name(series: object) -> str:
    """"module/container/series" (as far as the series has parents)."""
    parts, node = [], series
    while node is not None and node.parent is not None:
        parts.append(node.name)
        node = node.parent
    return "/".join(reversed(parts))


def _has_word(series: object, words: tuple[str, ...]) -> bool:
    names = f"{series.name} {series.parent.name if series.parent else ''}".lower()
    return any(word in names for word in words)


def _choose(found: list, key: str | None, path: Path) -> tuple[object, bool]:
    """The series to read and whether it is ΔF/F."""
    from pynwb.ophys import DfOverF

    if not found:
        raise InputError(f"{path}: no ROI traces (RoiResponseSeries) in this NWB file; it may "
                         "hold only a movie, which calscope does not segment yet")
    names = ", ".join(_name(s) for s in found)
    if key is not None:
        matches = [s for s in found if _name(s) == key or _name(s).endswith("/" + key)]
        if len(matches) != 1:
            raise InputError(f"{path}: --key {key!r} names {len(matches) or 'no'} series; "
                             f"the file holds {names}")
        return matches[0], isinstance(matches[0].parent, DfOverF)
    inputs = [s for s in found if s.parent.name != RESULTS_CONTAINER]  # not calscope's output
    dff = [s for s in inputs if isinstance(s.parent, DfOverF)]
    fluorescence = [s for s in inputs if not isinstance(s.parent, DfOverF)
                    and not _has_word(s, NOT_FLUORESCENCE_WORDS)]
    candidates = dff or fluorescence
    if len(candidates) != 1:
        kind = "ΔF/F" if dff else "fluorescence"
        raise InputError(f"{path}: {len(candidates) or 'no'} {kind} series to read ({names}); "
                         "name one with --key (key= in Python)")
    return candidates[0], bool(dff)


def _neuropil(found: list, series: object, shape: tuple[int, ...]) -> object | None:
    """The one neuropil series of the same shape as ``series``, or None."""
    same = [s for s in found if s is not series and _has_word(s, NEUROPIL_WORDS)
            and _as_shape(s) == shape]
    return same[0] if len(same) == 1 else None


def _as_shape(series: object) -> tuple[int, ...]:
    shape = tuple(series.data.shape)
    return (1, shape[0]) if len(shape) == 1 else (shape[1], shape[0])


def _as_rois_by_time(series: object, path: Path) -> np.ndarray:
    """The series' data (frames, ROIs) or (frames,) as (ROIs, T) float64, in its units × its
    ``conversion`` + ``offset``."""
    data = np.asarray(series.data[:])
    if data.ndim not in (1, 2) or data.dtype.kind not in "biuf":
        raise InputError(f"{path}: series {_name(series)} holds {data.dtype} data of shape "
                         f"{data.shape}; expected numbers, frames × ROIs")
    values = (data.T if data.ndim == 2 else data[None, :]).astype(np.float64)
    conversion = float(getattr(series, "conversion", 1.0) or 1.0)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    return values * conversion + offset


def series_rate(series: Any) -> float | None:
    """The sampling rate (Hz) of an NWB time series: its ``rate``, else 1 / the median step
    of its increasing timestamps; None when it has neither (ROI traces and image series
    alike)."""
    if series.rate is not None and series.rate > 0:
        return float(series.rate)
    stamps = None if series.timestamps is None else np.asarray(series.timestamps[:], float)
    steps = np.diff(stamps) if stamps is not None else np.array([])
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return float(1.0 / np.median(steps)) if steps.size else None


def _rate(series: object, path: Path) -> float:
    rate = series_rate(series)
    if rate is None:
        raise InputError(f"{path}: series {_name(series)} has neither a rate nor increasing "
                         "timestamps; pass --fs HZ")
    return rate


def _masks(segmentation: object, rows: np.ndarray) -> np.ndarray | None:
    """(len(rows), Y, X) float masks of the segmentation's ROIs ``rows``, or None. Pixel masks
    carry no image size: it is the smallest that holds every ROI read."""
    if "image_mask" in segmentation.colnames:
        column = segmentation["image_mask"]
        return np.stack([np.asarray(column[int(r)], dtype=np.float64) for r in rows])
    if "pixel_mask" not in segmentation.colnames:
        return None
    pixels = [np.asarray([tuple(p) for p in segmentation["pixel_mask"][int(r)]], dtype=float)
              .reshape(-1, 3) for r in rows]
    height = int(max((p[:, 1].max(initial=-1) for p in pixels), default=-1)) + 1
    width = int(max((p[:, 0].max(initial=-1) for p in pixels), default=-1)) + 1
    if height == 0 or width == 0:
        return None
    masks = np.zeros((len(rows), height, width))
    for i, p in enumerate(pixels):
        masks[i, p[:, 1].astype(int), p[:, 0].astype(int)] = p[:, 2]
    return masks
