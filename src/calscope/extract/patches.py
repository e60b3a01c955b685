"""CNMF on spatial patches: the frame cut into overlapping squares, each factorised alone in
memory, the results joined into one set of cells for the whole frame.

Each patch owns the part of the frame nearer its own centre than any other patch's (the
overlaps are split down the middle), and keeps the components whose footprint centroid lies
in what it owns. With an overlap of at least a cell's diameter plus its radius, every cell
lies wholly inside the patch that owns it. A cell on a seam may still be found by both of its
patches with centroids on either side; such pairs overlap and their traces correlate, and are
merged (`calscope.extract.merge`). Each patch's background images are kept over what it owns,
so the whole frame's background is the patches' pieced together (nb per patch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from calscope.config import CnmfSettings
from calscope.extract.factorize import Factors, factorize
from calscope.extract.merge import merge_components
from calscope.extract.store import PixelStore


@dataclass(frozen=True)
class Patch:
    """One patch: rows and columns of the frame it covers, and those it owns (the owned
    parts of all patches tile the frame)."""

    rows: slice
    cols: slice
    own_rows: slice
    own_cols: slice

    def pixels(self, width: int) -> np.ndarray:
        """(p,) indices (C order, frame of ``width`` columns) of the patch's pixels."""
        ys, xs = np.mgrid[self.rows, self.cols]
        return (ys * width + xs).ravel()


def patch_grid(shape: tuple[int, int], patch_px: int, overlap_px: int) -> list[Patch]:
    """The patches of a (Y, X) frame: squares of ``patch_px`` (the frame's side where it is
    smaller) overlapping by at least ``overlap_px``, spread evenly, row by row."""
    rows, cols = (_spans(side, patch_px, overlap_px) for side in shape)
    return [Patch(slice(r0, r1), slice(c0, c1), slice(ro0, ro1), slice(co0, co1))
            for r0, r1, ro0, ro1 in rows for c0, c1, co0, co1 in cols]


def _spans(length: int, size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, stop, own_start, own_stop) of each patch along an axis of ``length``."""
    if length <= size:
        return [(0, length, 0, length)]
    step = max(size - overlap, 1)
    count = int(np.ceil((length - size) / step)) + 1
    starts = np.round(np.linspace(0, length - size, count)).astype(int)
    stops = starts + size
    cuts = [0] + [(int(stops[i]) + int(starts[i + 1])) // 2 for i in range(count - 1)] + [length]
    return [(int(starts[i]), int(stops[i]), cuts[i], cuts[i + 1]) for i in range(count)]


def factorize_patches(store: PixelStore, inside: np.ndarray, fs: float,
                      settings: CnmfSettings, patches: list[Patch], *, seed: int = 0,
                      on_patch: Callable[[int], None] | None = None) -> Factors:
    """The CNMF factors of the whole frame from its ``patches``, each read from ``store``
    into memory and factorised alone (`calscope.extract.factorize`), then joined.

    Args:
        store: the movie (`calscope.extract.store.PixelStore`).
        inside: (Y*X,) bool, the pixels a cell may be centred on and occupy.
        fs: frame rate (Hz).
        settings: `CnmfSettings`.
        patches: from `patch_grid`.
        seed: patch i's background starts from seed + i.
        on_patch: called with each patch's index before it is factorised.

    Returns:
        `Factors` with (Y*X, K) CSC footprints (unit columns) and (Y*X, nb · patches) CSC
        background images.
    """
    height, width = store.shape
    cells, traces, backgrounds, background_traces = [], [], [], []
    for index, patch in enumerate(patches):
        if on_patch is not None:
            on_patch(index)
        pixels = patch.pixels(width)
        local_shape = (patch.rows.stop - patch.rows.start, patch.cols.stop - patch.cols.start)
        data = np.ascontiguousarray(store.pixels[pixels])
        part = factorize(data, local_shape, store.noise[patch.rows, patch.cols],
                         inside[pixels], fs, settings, seed=seed + index)
        del data
        owned = _owned(patch, local_shape, width)
        keep = owned[_centroids(part.footprints, local_shape)]
        cells.append(_embed(part.footprints[:, keep], pixels, height * width))
        traces.append(part.traces[keep])
        backgrounds.append(_embed(part.background_footprints * owned[:, None], pixels,
                                  height * width))
        background_traces.append(part.background_traces)
    a = scipy.sparse.hstack(cells, format="csc")
    c = np.vstack(traces)
    a, c, _ = merge_components(a, c, settings.merge_threshold)
    a, c = _unit_columns(scipy.sparse.csc_matrix(a), c)
    return Factors(footprints=a, traces=c,
                   background_footprints=scipy.sparse.hstack(backgrounds, format="csc"),
                   background_traces=np.vstack(background_traces))


def _owned(patch: Patch, local_shape: tuple[int, int], width: int) -> np.ndarray:
    """(p,) bool over the patch's pixels: those the patch owns."""
    owned = np.zeros(local_shape, dtype=bool)
    owned[patch.own_rows.start - patch.rows.start: patch.own_rows.stop - patch.rows.start,
          patch.own_cols.start - patch.cols.start: patch.own_cols.stop - patch.cols.start] = True
    return owned.ravel()


def _centroids(footprints: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(K,) the pixel index (C order in ``shape``) nearest each (P, K) footprint's
    weighted centroid."""
    if footprints.shape[1] == 0:
        return np.zeros(0, dtype=int)
    ys, xs = np.divmod(np.arange(footprints.shape[0]), shape[1])
    weight = np.maximum(footprints.sum(axis=0), 1e-300)
    cy = np.clip(np.round(ys @ footprints / weight), 0, shape[0] - 1).astype(int)
    cx = np.clip(np.round(xs @ footprints / weight), 0, shape[1] - 1).astype(int)
    return cy * shape[1] + cx


def _embed(columns: np.ndarray, pixels: np.ndarray, n_pixels: int) -> scipy.sparse.csc_matrix:
    """(p, n) columns over a patch's ``pixels`` as an (n_pixels, n) CSC matrix of the
    frame."""
    local = scipy.sparse.coo_matrix(columns)
    return scipy.sparse.csc_matrix((local.data, (pixels[local.row], local.col)),
                                   shape=(n_pixels, columns.shape[1]))


def _unit_columns(a: scipy.sparse.csc_matrix, c: np.ndarray
                  ) -> tuple[scipy.sparse.csc_matrix, np.ndarray]:
    """Footprints scaled to unit L2 norm and traces by the same factor (A C unchanged);
    empty footprints are dropped."""
    norms = np.sqrt(np.asarray(a.multiply(a).sum(axis=0))).ravel()
    keep = norms > 0
    scale = scipy.sparse.diags(1.0 / norms[keep])
    return scipy.sparse.csc_matrix(a[:, keep] @ scale), c[keep] * norms[keep, None]
