"""Cells extracted from a movie (`calscope.extract.Sources`) to and from a results bundle.

The bundle (``.npz`` or ``.zarr``, `calscope.io.bundle`) holds every array of the result, the
footprints as the three arrays of their CSC matrix (``footprints_data``, ``_indices``,
``_indptr``) and the quality measures as ``quality_<name>``; its metadata holds the frame
shape, the rate and what the caller adds (settings, source). Beside it,
`write_sources` writes the ΔF/F of the accepted cells as ``<name>.dff.npy`` (cells × frames),
ready for ``calscope deconvolve``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from calscope.io.bundle import read_bundle, write_bundle
from calscope.io.writers import write_spikes

#: the bundle group (Zarr) extraction results are written to
SOURCES_GROUP = "sources"
_ARRAYS = ("traces", "raw_traces", "spikes", "dff", "background_footprints",
           "background_traces", "noise_map", "accepted")


def dff_path(path: str | Path) -> Path:
    """Where `write_sources` puts the accepted cells' ΔF/F for a bundle at ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.dff.npy")


def write_sources(path: str | Path, sources: Any, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``sources`` (a `calscope.extract.Sources`) to ``path`` (.npz or .zarr) and the
    accepted cells' (cells, T) float32 ΔF/F to `dff_path`; both atomically.

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
    dff = write_spikes(dff_path(path), np.asarray(sources.dff)[np.asarray(sources.accepted)])
    return bundle, dff


def read_footprints(path: str | Path) -> tuple[scipy.sparse.csc_matrix, dict[str, np.ndarray],
                                               dict[str, Any]]:
    """The (Y*X, cells) footprints, the other arrays and the metadata of a bundle written by
    `write_sources`."""
    arrays, meta = read_bundle(path, group=SOURCES_GROUP)
    height, width = meta["shape"]
    footprints = scipy.sparse.csc_matrix(
        (arrays.pop("footprints_data"), arrays.pop("footprints_indices"),
         arrays.pop("footprints_indptr")), shape=(height * width, meta["cells"]))
    return footprints, arrays, meta
