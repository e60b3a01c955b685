"""Open each movie format for lazy reading (used by :func:`calscope.io.movies.read_movie`).

Every opener takes ``(path, key)`` and returns an :class:`OpenedArray`: an array-like that
reads only what it is sliced with (a Zarr view of a TIFF, an HDF5 or Zarr dataset, a memory
map, an NWB series' dataset), its axis letters, the frame rate the file states, a description
and the function that closes the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calscope.errors import InputError, unreadable
from calscope.io.nwb import series_rate

#: attributes of an HDF5 dataset or Zarr array (or its file) read as the frame rate (Hz)
RATE_ATTRIBUTES = ("fs", "rate", "frame_rate", "fr")
#: NWB types whose data are frames
NWB_MOVIE_TYPES = ("TwoPhotonSeries", "OnePhotonSeries", "ImageSeries")


@dataclass(frozen=True)
class OpenedArray:
    """A movie's data, opened.

    Attributes:
        array: sliceable like a numpy array, read on slicing.
        axes: one letter per dimension (tifffile's for TIFF, else "TYX" by default).
        fs: frame rate (Hz) stated by the file, or None.
        source: what was opened, for messages.
        close: closes the file; None when nothing stays open.
        imaging: "one-photon" or "two-photon" when the file says so (an NWB
            OnePhotonSeries or TwoPhotonSeries), else None.
    """

    array: Any
    axes: str
    fs: float | None
    source: str
    close: Callable[[], None] | None
    imaging: str | None = None


def open_tiff(path: Path, key: str | None) -> OpenedArray:
    import tifffile
    import zarr

    _no_key(path, key, "TIFF")
    try:
        tif = tifffile.TiffFile(path)
    except (OSError, ValueError, tifffile.TiffFileError) as error:
        raise unreadable(path, "TIFF", error) from error
    try:
        series = tif.series[0]
        array = zarr.open_array(series.aszarr(), mode="r")
    except BaseException:
        tif.close()
        raise
    return OpenedArray(array, series.axes, _tiff_rate(tif), "TIFF", tif.close)


def _tiff_rate(tif: Any) -> float | None:
    """ImageJ's ``finterval`` (s) or ``fps``, ScanImage's frame rate, or the ``fs`` that
    calscope writes into tifffile's JSON description (Hz)."""
    shaped = tif.shaped_metadata or ({},)
    if _positive(shaped[0].get("fs")):
        return float(shaped[0]["fs"])
    imagej = tif.imagej_metadata or {}
    if _positive(imagej.get("finterval")):
        return 1.0 / float(imagej["finterval"])
    if _positive(imagej.get("fps")):
        return float(imagej["fps"])
    scanimage = tif.scanimage_metadata or {}
    frame_data = scanimage.get("FrameData", {}) if isinstance(scanimage, dict) else {}
    rate = frame_data.get("SI.hRoiManager.scanFrameRate")
    return float(rate) if _positive(rate) else None


def open_hdf5(path: Path, key: str | None) -> OpenedArray:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise unreadable(path, "HDF5", error) from error
    try:
        found: dict[str, Any] = {}

        def collect(name: str, item: Any) -> None:  # returns None: visititems goes on
            if isinstance(item, h5py.Dataset) and item.ndim >= 3:
                found[name] = item

        handle.visititems(collect)
        name = _choose(path, key, found, "HDF5 dataset", "--key")
        dataset = found[name]
        rate = _attribute_rate(dataset.attrs) or _attribute_rate(handle.attrs)
    except BaseException:
        handle.close()
        raise
    return OpenedArray(dataset, "TYX", rate, f"HDF5 dataset {name!r}", handle.close)


def open_zarr(path: Path, key: str | None) -> OpenedArray:
    import zarr

    try:
        store = zarr.open(str(path), mode="r")
    except (OSError, ValueError, KeyError) as error:
        raise unreadable(path, "Zarr", error) from error
    if isinstance(store, zarr.Array):
        _no_key(path, key, "Zarr array")
        return OpenedArray(store, "TYX", _attribute_rate(store.attrs), "Zarr array", None)
    found = {name: item for name, item in store.members(max_depth=None)
             if isinstance(item, zarr.Array) and item.ndim >= 3}
    name = _choose(path, key, found, "Zarr array", "--key")
    rate = _attribute_rate(found[name].attrs) or _attribute_rate(store.attrs)
    return OpenedArray(found[name], "TYX", rate, f"Zarr array {name!r}", None)


def open_npy(path: Path, key: str | None) -> OpenedArray:
    _no_key(path, key, "NPY")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise unreadable(path, "NPY", error) from error
    return OpenedArray(array, "TYX", None, "NPY", None)


def open_nwb(path: Path, key: str | None) -> OpenedArray:
    from pynwb import NWBHDF5IO

    try:
        io = NWBHDF5IO(str(path), "r", load_namespaces=True)
        nwbfile = io.read()
    except Exception as error:  # pynwb raises many types for a file that is not NWB
        raise unreadable(path, "NWB", error) from error
    try:
        found = {name: series for name, series in _nwb_image_series(nwbfile)}
        name = _choose(path, key, found, "NWB image series", "--key")
        series = found[name]
        if series.external_file is not None or series.data is None or series.data.ndim != 3:
            raise InputError(f"{path}: the image series {name!r} keeps no 3-D frames in the "
                             "file (external files or another shape); open the frames' own "
                             "files instead")
        rate = series_rate(series)
    except BaseException:
        io.close()
        raise
    kind = type(series).__name__
    imaging = {"OnePhotonSeries": "one-photon", "TwoPhotonSeries": "two-photon"}.get(kind)
    return OpenedArray(series.data, "TYX", rate, f"NWB {kind} {name!r}", io.close, imaging)


def _nwb_image_series(nwbfile: Any) -> list[tuple[str, Any]]:
    """(name, series) of every image series in acquisition and in the processing modules."""
    found = [(name, item) for name, item in nwbfile.acquisition.items()
             if type(item).__name__ in NWB_MOVIE_TYPES]
    for module_name, module in nwbfile.processing.items():
        found += [(f"{module_name}/{name}", item) for name, item in module.data_interfaces.items()
                  if type(item).__name__ in NWB_MOVIE_TYPES]
    return found


def _choose(path: Path, key: str | None, found: dict[str, Any], kind: str, option: str) -> str:
    """The name of the one candidate, or of the one ``key`` names; else an InputError."""
    if key is not None:
        if key in found:
            return key
        names = ", ".join(sorted(found)) or "none"
        raise InputError(f"{path}: no {kind} named {key!r} with 3 or more dimensions; "
                         f"candidates: {names}")
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise InputError(f"{path}: no {kind} with 3 or more dimensions (a movie); check the file")
    raise InputError(f"{path}: several {kind}s could be the movie ({', '.join(sorted(found))}); "
                     f"choose one with {option}")


def _no_key(path: Path, key: str | None, kind: str) -> None:
    if key is not None:
        raise InputError(f"{path}: a {kind} holds one movie; leave --key out")


def _attribute_rate(attrs: Any) -> float | None:
    """A frame rate (Hz) stored as an attribute (`RATE_ATTRIBUTES`), or None."""
    for name in RATE_ATTRIBUTES:
        if name in attrs:
            try:
                value = float(np.asarray(attrs[name]).reshape(-1)[0])
            except (TypeError, ValueError, IndexError):
                continue
            if _positive(value):
                return value
    return None


def _positive(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(number) and number > 0)


OPENERS: dict[str, Callable[[Path, str | None], OpenedArray]] = {
    ".tif": open_tiff, ".tiff": open_tiff, ".h5": open_hdf5, ".hdf5": open_hdf5,
    ".hdf": open_hdf5, ".zarr": open_zarr, ".npy": open_npy, ".nwb": open_nwb,
}
