"""Cells extracted from a movie (`calscope.extract.Sources`) to and from a results bundle.

The bundle (``.npz`` or ``.zarr``, `calscope.io.bundle`) holds every array of the result, the
footprints as the three arrays of their CSC matrix (``footprints_data``, ``_indices``,
``_indptr``) and the quality measures as ``quality_<name>``; its metadata holds the frame
shape, the rate and what the caller adds (settings, source). Beside it,
`write_sources` writes the ΔF/F of the accepted cells as ``<name>.dff.npy`` (cells × frames),
ready for ``calscope deconvolve``. The bundle itself is read as traces too (`read_cells`: the
accepted cells' ΔF/F and the rate), with the cells' outlines over the model's mean image as its
field of view (`read_cells_fov`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from calscope.errors import InputError
from calscope.io.bundle import read_bundle, write_bundle
from calscope.io.fov import FieldOfView, footprint_labels
from calscope.io.writers import write_spikes

#: the bundle group (Zarr) extraction results are written to
SOURCES_GROUP = "sources"
_ARRAYS = ("traces", "raw_traces", "spikes", "dff", "background_footprints",
           "background_traces", "noise_map", "accepted")


def dff_path(path: str | Path) -> Path:
    """Where `write_sources` puts the accepted cells' ΔF/F for a bundle at ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.dff.npy")


def write_sources(path: str | Path, sources: Any, meta: dict[str, Any],
                  dff: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``sources`` (a `calscope.extract.Sources`) to ``path`` (.npz or .zarr) and the
    accepted cells' (cells, T) float32 ΔF/F to ``dff`` (default: `dff_path`); both
    atomically.

    Returns:
        (the bundle, the ΔF/F file).
    """
    footprints = scipy.sparse.csc_matrix(sources.footprints)
    arrays = {name: np.asarray(getattr(sources, name)) for name in _ARRAYS}
    arrays.update(footprints_data=footprints.data, footprints_indices=footprints.indices,
                  footprints_indptr=footprints.indptr)
    arrays.update({f"quality_{field.name}": np.asarray(getattr(sources.quality, field.name))
                   for field in dataclasses.fields(sources.quality)})
    info = {**meta, "shape": list(sources.shape), "fs": sources.fs,
            "cells": int(footprints.shape[1]), "accepted": int(np.sum(sources.accepted))}
    bundle = write_bundle(path, arrays, info, group=SOURCES_GROUP)
    written = write_spikes(dff_path(path) if dff is None else dff,
                           np.asarray(sources.dff)[np.asarray(sources.accepted)])
    return bundle, written


def read_footprints(path: str | Path) -> tuple[scipy.sparse.csc_matrix, dict[str, np.ndarray],
                                               dict[str, Any]]:
    """The (Y*X, cells) footprints, the other arrays and the metadata of a bundle written by
    `write_sources`."""
    arrays, meta = _read_sources(path)
    height, width = meta["shape"]
    footprints = scipy.sparse.csc_matrix(
        (arrays.pop("footprints_data"), arrays.pop("footprints_indices"),
         arrays.pop("footprints_indptr")), shape=(height * width, meta["cells"]))
    return footprints, arrays, meta


def read_cells(path: str | Path, all_cells: bool = False
               ) -> tuple[np.ndarray, float, np.ndarray]:
    """The ΔF/F of the cells in a bundle written by `write_sources`.

    Args:
        path: the bundle (.npz or .zarr).
        all_cells: every component, not only the accepted ones.

    Returns:
        (cells, T) float32 ΔF/F, the frame rate (Hz) and the (cells,) int64 component indices.

    Raises:
        InputError: the bundle holds no extraction results, or no accepted cell.
    """
    arrays, meta = _read_sources(path)
    rows = (np.arange(meta["cells"]) if all_cells
            else np.flatnonzero(np.asarray(arrays["accepted"], dtype=bool)))
    if rows.size == 0:
        raise InputError(f"{path}: none of the {meta['cells']} components was accepted as a "
                         "cell; read them all (--all-rois) or extract again with lower "
                         "cnmf.min_snr / cnmf.min_spatial_r")
    return np.asarray(arrays["dff"], dtype=np.float32)[rows], float(meta["fs"]), rows


def read_cells_fov(path: str | Path, rows: np.ndarray) -> FieldOfView:
    """The field of view of the components ``rows`` of a `write_sources` bundle: their labels
    (`calscope.io.fov.footprint_labels`) over the model's mean image, A·mean(C) + B·mean(F)."""
    footprints, arrays, meta = read_footprints(path)
    shape = tuple(meta["shape"])
    labels, _ = footprint_labels(
        (footprints[:, int(row)].toarray().reshape(shape) for row in rows), shape)
    return FieldOfView(model_mean_image(footprints, arrays, shape), labels,
                       "mean image (CNMF model)")


def model_mean_image(footprints: scipy.sparse.spmatrix, arrays: dict[str, np.ndarray],
                     shape: tuple[int, ...]) -> np.ndarray:
    """(Y, X) float32 mean image of the CNMF model A·mean(C) + B·mean(F), from a
    `read_footprints` result (``footprints``, ``arrays``) of frame ``shape``."""
    mean = (footprints @ np.asarray(arrays["traces"]).mean(axis=1)
            + np.asarray(arrays["background_footprints"])
            @ np.asarray(arrays["background_traces"]).mean(axis=1))
    return np.asarray(mean, dtype=np.float32).reshape(shape)


def _read_sources(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and metadata of a `write_sources` bundle; InputError for another bundle."""
    arrays, meta = read_bundle(path, group=SOURCES_GROUP)
    if "footprints_indptr" not in arrays or "cells" not in meta:
        raise InputError(f"{path}: holds no cells extracted by `calscope extract`; traces are "
                         "read from an .npz or .zarr only when it holds such cells")
    return arrays, meta
