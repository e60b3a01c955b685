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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from calscope.config import CnmfSettings
from calscope.extract.factorize import Factors, factorize
from calscope.extract.merge import merge_components
from calscope.extract.store import PixelStore

#: map_patches(function, arguments): function(*args) for each tuple of a lazy iterable, the
#: results yielded in order.
PatchMap = Callable[[Callable[..., Any], Iterable[tuple[Any, ...]]], Iterable[Any]]


@dataclass(frozen=True)
class Patch:
    """One patch: rows and columns of the frame it covers, and those it owns (the owned
    parts of all patches tile the frame)."""

    rows: slice
    cols: slice
    own_rows: slice
    own_cols: slice

    @property
    def shape(self) -> tuple[int, int]:
        """(h, w) of the patch."""
        return (self.rows.stop - self.rows.start, self.cols.stop - self.cols.start)

    def pixels(self, width: int) -> np.ndarray:
        """(p,) indices (C order, frame of ``width`` columns) of the patch's pixels."""
        ys, xs = np.mgrid[self.rows, self.cols]
        return (ys * width + xs).ravel()


def patch_grid(shape: tuple[int, int], patch_px: int, overlap_px: int) -> list[Patch]:
    """The patches of a (Y, X) frame, row by row: along each axis as few as cover it with
    sides of at most ``patch_px`` overlapping by at least ``overlap_px``, each as long as
    that needs and no longer (so overlaps are about ``overlap_px``, not what a full
    ``patch_px`` would leave), spread evenly; the frame's side where it is no more than
    ``patch_px``."""
    rows, cols = (_spans(side, patch_px, overlap_px) for side in shape)
    return [Patch(slice(r0, r1), slice(c0, c1), slice(ro0, ro1), slice(co0, co1))
            for r0, r1, ro0, ro1 in rows for c0, c1, co0, co1 in cols]


def _spans(length: int, size: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(start, stop, own_start, own_stop) of each patch along an axis of ``length``."""
    if length <= size:
        return [(0, length, 0, length)]
    count = int(np.ceil((length - overlap) / max(size - overlap, 1)))
    side = min(size, int(np.ceil((length + (count - 1) * overlap) / count)))
    starts = np.round(np.linspace(0, length - side, count)).astype(int)
    stops = starts + side
    cuts = [0] + [(int(stops[i]) + int(starts[i + 1])) // 2 for i in range(count - 1)] + [length]
    return [(int(starts[i]), int(stops[i]), cuts[i], cuts[i + 1]) for i in range(count)]


def factorize_patches(store: PixelStore, inside: np.ndarray, fs: float,
                      settings: CnmfSettings, patches: list[Patch], *, seed: int = 0,
                      on_patch: Callable[[int], None] | None = None,
                      map_patches: PatchMap | None = None) -> Factors:
    """The CNMF factors of the whole frame from its ``patches``, each read from ``store``
    into memory and factorised alone (`fit_patch`), then joined.

    Args:
        store: the movie (`calscope.extract.store.PixelStore`).
        inside: (Y*X,) bool, the pixels a cell may be centred on and occupy.
        fs: frame rate (Hz).
        settings: `CnmfSettings`.
        patches: from `patch_grid`.
        seed: patch i's background starts from seed + i.
        on_patch: called with each patch's index once it is factorised.
        map_patches: runs `fit_patch` over the patches' arguments (a lazy iterable, read one
            patch at a time as it is consumed) and yields the results in order; None: one
            after another in this process (`calscope.pipeline.compute.patch_map` gives a
            parallel one).

    Returns:
        `Factors` with (Y*X, K) CSC footprints (unit columns) and (Y*X, nb · patches) CSC
        background images.
    """
    height, width = store.shape

    def arguments() -> Iterator[tuple[Any, ...]]:
        for index, patch in enumerate(patches):
            pixels = patch.pixels(width)
            yield (np.ascontiguousarray(store.pixels[pixels]), patch.shape,
                   store.noise[patch.rows, patch.cols], inside[pixels], _owned(patch), fs,
                   settings, seed + index)

    cells, traces, backgrounds, background_traces = [], [], [], []
    results = (map_patches or _one_by_one)(fit_patch, arguments())
    for index, (patch, (a, c, b, f)) in enumerate(zip(patches, results)):
        pixels = patch.pixels(width)
        cells.append(_embed(a, pixels, height * width))
        traces.append(c)
        backgrounds.append(_embed(b, pixels, height * width))
        background_traces.append(f)
        if on_patch is not None:
            on_patch(index)
    a = scipy.sparse.hstack(cells, format="csc")
    c = np.vstack(traces)
    a, c, _ = merge_components(a, c, settings.merge_threshold)
    a, c = _unit_columns(scipy.sparse.csc_matrix(a), c)
    return Factors(footprints=a, traces=c,
                   background_footprints=scipy.sparse.hstack(backgrounds, format="csc"),
                   background_traces=np.vstack(background_traces))


def fit_patch(data: np.ndarray, shape: tuple[int, int], noise: np.ndarray,
              inside: np.ndarray, owned: np.ndarray, fs: float, settings: CnmfSettings,
              seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One patch's part of the frame's factors (`calscope.extract.factorize`, then what the
    patch owns).

    Args:
        data: (p, T) float32 the patch's pixels × frames.
        shape: (h, w) of the patch.
        noise: (h, w) per-pixel noise σ.
        inside: (p,) bool, the pixels a cell may be centred on and occupy.
        owned: (p,) bool, the pixels the patch owns.
        fs, settings, seed: as for `calscope.extract.factorize.factorize`.

    Returns:
        (p, k) footprints of the components whose centroid the patch owns, their (k, T)
        traces, the (p, nb) background images zeroed outside what the patch owns, and their
        (nb, T) traces.
    """
    part = factorize(data, shape, noise, inside, fs, settings, seed=seed)
    keep = owned[_centroids(part.footprints, shape)]
    return (part.footprints[:, keep], part.traces[keep],
            part.background_footprints * owned[:, None], part.background_traces)


def _one_by_one(function: Callable[..., Any], arguments: Iterable[tuple[Any, ...]]
                ) -> Iterator[Any]:
    return (function(*args) for args in arguments)


def _owned(patch: Patch) -> np.ndarray:
    """(p,) bool over the patch's pixels: those the patch owns."""
    owned = np.zeros(patch.shape, dtype=bool)
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
