"""CaImAn results files: the HDF5 that ``cnm.save(path)`` writes after CNMF or CNMF-E.

CaImAn stores the fitted object as nested groups: ``estimates/`` holds the traces of each
component (``C`` denoised, ``YrA`` the residual, ``F_dff`` ΔF/F once ``detrend_df_f`` has run),
``idx_components`` (the components its quality checks accepted), the footprints ``A`` (a sparse
pixels × components matrix stored as its CSC arrays, pixels in Fortran order of ``dims``), the
background ``b`` and, when computed, the correlation image ``Cn``; ``params/data/fr`` is the
frame rate. A field that was ``None`` is stored as the string ``"NoneType"``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse

from calscope.errors import InputError, unreadable
from calscope.io.fov import FieldOfView, footprint_labels

#: the trace CaImAn's ΔF/F is stored as, and the fallback without it
DFF_FIELD, DENOISED_FIELD, RESIDUAL_FIELD = "F_dff", "C", "YrA"


@dataclass(frozen=True)
class CaimanTraces:
    """Traces read from a CaImAn file.

    Attributes:
        values: (components, T) ΔF/F (``F_dff``), else ``C + YrA`` (fluorescence units with the
            background removed, baseline near 0: not ΔF/F).
        fs: the frame rate (Hz) of ``params/data/fr``, or None when the file has none.
        rows: (components,) int64 component indices in CaImAn's numbering.
        is_dff: whether ``values`` is CaImAn's ΔF/F.
    """

    values: np.ndarray
    fs: float | None
    rows: np.ndarray
    is_dff: bool


def is_caiman(handle: h5py.File) -> bool:
    """Whether an open HDF5 file is a CaImAn results file (``estimates/C`` is there)."""
    estimates = handle.get("estimates")
    return isinstance(estimates, h5py.Group) and isinstance(estimates.get(DENOISED_FIELD),
                                                            h5py.Dataset)


def read_caiman(handle: h5py.File, path: Path, all_rois: bool = False) -> CaimanTraces:
    """The traces of a CaImAn results file: ``F_dff`` when CaImAn computed it, else ``C + YrA``
    (with a warning: not ΔF/F), of the accepted components (``idx_components``) unless
    ``all_rois``.

    Raises:
        InputError: the traces are not a numeric (components, T) array, the accepted
            components are out of range, or none was accepted.
    """
    estimates = handle["estimates"]
    denoised = _numeric(estimates, DENOISED_FIELD)
    if denoised is None or denoised.ndim != 2:
        raise InputError(f"{path}: estimates/C should be components × frames, got "
                         f"{'no numbers' if denoised is None else denoised.shape}; is this a "
                         "CaImAn results file (cnm.save)?")
    dff = _numeric(estimates, DFF_FIELD)
    if dff is not None and dff.shape == denoised.shape:
        values, is_dff = dff, True
    else:
        residual = _numeric(estimates, RESIDUAL_FIELD)
        values = denoised if residual is None or residual.shape != denoised.shape \
            else denoised + residual
        is_dff = False
        warnings.warn(f"{path}: no ΔF/F in this CaImAn file (estimates/F_dff); read C + YrA, "
                      "which has its background removed and is not ΔF/F. For spike "
                      "inference run cnm.estimates.detrend_df_f() in CaImAn and save again, or "
                      "use --method oasis (any fluorescence units)", UserWarning, stacklevel=3)
    rows = np.arange(len(values))
    accepted = _numeric(estimates, "idx_components")
    if accepted is not None and not all_rois:
        rows = np.unique(accepted.astype(np.int64).ravel())
        if rows.size == 0:
            raise InputError(f"{path}: CaImAn accepted no component (idx_components is empty); "
                             "pass --all-rois (all_rois=True) to read every component")
        if rows[0] < 0 or rows[-1] >= len(values):
            raise InputError(f"{path}: idx_components names components up to {rows[-1]}, but "
                             f"the file has {len(values)}; the file is inconsistent")
    rate = _numeric(handle, "params/data/fr")
    fs = float(rate) if rate is not None and rate.size == 1 and float(rate) > 0 else None
    return CaimanTraces(values[rows], fs, rows, is_dff)


def read_caiman_fov(path: str | Path, rows: np.ndarray) -> FieldOfView | None:
    """The field of view of the CaImAn components ``rows``: labels from the footprints
    (`calscope.io.fov.footprint_labels`) over the correlation image (``Cn``), else the
    background (``b``), else the footprints' own weights; None when the file has no footprints
    or no 2-D ``dims``.

    Raises:
        InputError: the footprints do not cover ``rows`` or the ``dims``.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            estimates = handle["estimates"]
            dims = _numeric(estimates, "dims")
            parts = [_numeric(estimates, f"A/{name}") for name in ("data", "indices", "indptr",
                                                                   "shape")]
            if dims is None or dims.size != 2 or any(part is None for part in parts):
                return None
            correlation, background = _numeric(estimates, "Cn"), _numeric(estimates, "b")
    except OSError as error:
        raise unreadable(path, "HDF5", error) from error
    shape = (int(dims[0]), int(dims[1]))
    data, indices, indptr, size = parts
    footprints = scipy.sparse.csc_matrix((data, indices, indptr), shape=tuple(int(n) for n in size))
    if (footprints.shape[0] != shape[0] * shape[1]
            or np.max(rows, initial=-1) >= footprints.shape[1]):
        raise InputError(f"{path}: the footprints estimates/A ({footprints.shape[0]} pixels × "
                         f"{footprints.shape[1]} components) do not match dims {shape} and the "
                         f"{len(rows)} components read; the file is inconsistent")
    labels, weights = footprint_labels(
        (footprints[:, int(row)].toarray().reshape(shape, order="F") for row in rows), shape)
    if correlation is not None and correlation.shape == shape:
        return FieldOfView(correlation.astype(np.float32), labels, "correlation image")
    if background is not None and background.shape[0] == shape[0] * shape[1]:
        image = background.reshape(shape[0] * shape[1], -1).sum(axis=1)
        return FieldOfView(image.reshape(shape, order="F").astype(np.float32), labels,
                           "background image")
    return FieldOfView(weights, labels, "footprint weights (no Cn or b)")


def _numeric(group: h5py.Group, name: str) -> np.ndarray | None:
    """The numeric array stored at ``name``, or None when it is absent, a group, or a field
    CaImAn saved as None (the string "NoneType")."""
    item = group.get(name)
    if not isinstance(item, h5py.Dataset) or item.dtype.kind not in "biuf":
        return None
    return np.asarray(item[()])
