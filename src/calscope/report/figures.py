"""What every report figure shares: the "not run" convention, display order, cell choice and the
block-averaging that keeps images small on big recordings.

Convention: a figure function whose analysis did not run raises `FigureUnavailable` (a
``ValueError``) whose ``reason`` is the one in ``result.meta["skipped"]`` when there is one, so
the HTML page can list "not run: <reason>". Figures are `matplotlib.figure.Figure` objects made
directly (no pyplot state); render them with ``fig.savefig`` or ``FigureCanvasAgg``.

The figures themselves live in `figures_activity` (field of view, traces, raster, coupling,
overview) and `figures_structure` (correlations, PCA, embedding, assemblies, events, quality).
"""

from __future__ import annotations

import warnings

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from calscope.population.result import AnalysisResult

MAX_IMAGE_ROWS = 2000
"""Most rows (neurons) an image panel is given; more are block-averaged."""
MAX_IMAGE_COLS = 2000
"""Most columns (frames) an image panel is given; more are block-averaged."""
_CHUNK_ELEMENTS = 1 << 22
"""Input elements block-averaged at once (bounds the temporary memory to ~16 MB)."""

#: Okabe & Ito colour-blind-safe palette (black left out: it is the trace colour).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
TRACE_COLOUR = "#222222"
SPIKE_COLOUR = "#D55E00"
HIGHLIGHT_COLOUR = "#56B4E9"

#: figure name → (analysis name used in ``meta["skipped"]``, result fields it needs).
REQUIREMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fov": ("field of view", ("fov_image",)),
    "coupling": ("coupling", ("coupling",)),
    "correlation": ("correlations", ("corr_cells", "corr_r")),
    "pca": ("dimensionality", ("pca_explained_ratio",)),
    "embedding": ("dimensionality", ("pca_scores",)),
    "assemblies": ("assemblies", ("assembly_patterns", "assembly_members",
                                  "assembly_activation", "assembly_eigenvalues",
                                  "mp_threshold")),
    "events": ("events", ("population_rate", "events", "event_threshold")),
    "quality": ("quality", ("quality",)),
}

_FIELD_WORDS = {"quality": "per-cell quality measures"}


class FigureUnavailable(ValueError):
    """A figure's analysis did not run. ``figure`` names the figure, ``reason`` says why."""

    def __init__(self, figure: str, reason: str) -> None:
        super().__init__(f"{figure} figure: not run: {reason}")
        self.figure = figure
        self.reason = reason


def unavailable_reason(result: AnalysisResult, figure: str) -> str | None:
    """Why ``figure`` cannot be drawn from ``result`` (None when it can).

    The reason is ``meta["skipped"]``'s for that analysis, else the missing fields.
    """
    if figure not in REQUIREMENTS:
        return None
    step, fields = REQUIREMENTS[figure]
    missing = [name for name in fields if getattr(result, name) is None
               or (name == "quality" and not result.quality)]
    if not missing:
        return None
    words = [_FIELD_WORDS.get(name, name) for name in missing]
    return result.skipped.get(step) or f"the result holds no {', '.join(words)}"


def require(result: AnalysisResult, figure: str) -> None:
    """Raise `FigureUnavailable` when ``figure`` cannot be drawn from ``result``."""
    reason = unavailable_reason(result, figure)
    if reason is not None:
        raise FigureUnavailable(figure, reason)


def display_order(result: AnalysisResult) -> np.ndarray:
    """(cells,) int64 row order for display: ``result.order``, or input order without one."""
    order = result.order
    if order is None or len(order) != result.n_cells:
        return np.arange(result.n_cells)
    return np.asarray(order, dtype=np.int64)


def order_label(result: AnalysisResult) -> str:
    """Axis label for neurons shown in `display_order`."""
    if result.order is None or len(result.order) != result.n_cells:
        return "neurons (input order)"
    return "neurons (sorted)"


def cell_names(result: AnalysisResult) -> list[str]:
    """A display name per row: the input's ROI numbers (``meta["rows"]``) when given."""
    rows = result.meta.get("rows")
    if rows is not None and len(rows) == result.n_cells:
        return [str(row) for row in rows]
    return [str(i) for i in range(result.n_cells)]


def pick_cells(result: AnalysisResult, n: int = 8) -> np.ndarray:
    """The ``n`` most active cells (highest ``quality["rate_hz"]``, else mean activity) among
    those with any finite activity, returned as (≤ n,) int64 rows in display order."""
    rate = result.quality.get("rate_hz")
    if rate is None or len(rate) != result.n_cells:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, as wanted
            rate = np.nanmean(result.spikes, axis=1)
    rate = np.asarray(rate, dtype=np.float64)
    candidates = np.flatnonzero(np.isfinite(rate))
    top = candidates[np.argsort(-rate[candidates], kind="stable")[:n]]
    position = np.empty(result.n_cells, dtype=np.int64)
    position[display_order(result)] = np.arange(result.n_cells)
    return top[np.argsort(position[top])].astype(np.int64)


def block_nanmean(values: np.ndarray, *, rows: np.ndarray | None = None,
                  cols: np.ndarray | None = None, max_rows: int = MAX_IMAGE_ROWS,
                  max_cols: int = MAX_IMAGE_COLS) -> np.ndarray:
    """Average (n, T) ``values`` over blocks so the result has at most ``max_rows × max_cols``.

    Args:
        values: (n, T) array, NaN where missing.
        rows, cols: optional row / column indices (e.g. a display order) taken before
            averaging, chunk by chunk, so no reordered copy of the whole array is made.
        max_rows, max_cols: size limits of the output.

    Returns:
        (ceil(m / br), ceil(c / bc)) float32, m = len(rows) or n, c = len(cols) or T, with
        block sizes br = ceil(m / max_rows) and bc = ceil(c / max_cols); each entry is the mean
        of the finite values in its block (the last blocks may be partial), NaN where a block
        has none. The input is not modified.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values: expected a 2-D (n, T) array, got shape {values.shape}")
    index = np.arange(values.shape[0]) if rows is None else np.asarray(rows)
    n, t = len(index), values.shape[1] if cols is None else len(cols)
    block_rows, block_cols = -(-n // max_rows) or 1, -(-t // max_cols) or 1
    out_rows, out_cols = -(-n // block_rows), -(-t // block_cols)
    out = np.empty((out_rows, out_cols), dtype=np.float32)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(1, block_rows * t))
    for first in range(0, out_rows, per_chunk):
        last = min(out_rows, first + per_chunk)
        taken = values[index[first * block_rows:last * block_rows]]
        if cols is not None:
            taken = taken[:, cols]
        shape = (last - first, block_rows, out_cols, block_cols)
        chunk = _padded(taken.astype(np.float32, copy=False), shape)
        bad = ~np.isfinite(chunk)
        counts: np.ndarray | int = block_rows * block_cols
        if bad.any():
            chunk[bad] = 0.0
            counts = (~bad).reshape(shape).sum(axis=3, dtype=np.int32).sum(axis=1)
        sums = chunk.reshape(shape).sum(axis=3).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[first:last] = np.where(np.asarray(counts) > 0, sums / counts, np.nan)
    return out


def _padded(taken: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """``taken`` (a fresh copy) NaN-padded to whole blocks of ``shape`` = (chunk rows, block
    rows, columns, block columns); itself when it already fits."""
    rows, cols = shape[0] * shape[1], shape[2] * shape[3]
    if taken.shape == (rows, cols):
        return taken
    chunk = np.full((rows, cols), np.nan, dtype=np.float32)
    chunk[:taken.shape[0], :taken.shape[1]] = taken
    return chunk


def robust_max(values: np.ndarray, percentile: float = 99.0) -> float:
    """The ``percentile`` of the finite values; the largest one when that is 0; 1 when none."""
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    high = float(np.percentile(finite, percentile))
    if high <= 0:
        high = float(finite.max())
    return high if high > 0 else 1.0


def image_over_time(ax: Axes, image: np.ndarray, duration_s: float, n_rows: int,
                    cmap: str | Colormap, vmin: float, vmax: float) -> AxesImage:
    """Show a (rows, time bins) image spanning 0 … ``duration_s`` seconds and ``n_rows`` rows
    (whole-numbered row ticks)."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return ax.imshow(image, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                     interpolation="nearest", extent=(0.0, duration_s, n_rows, 0.0))


def side_colorbar(ax: Axes, mappable: AxesImage, label: str) -> Axes:
    """A thin colorbar just right of ``ax`` (inset, so stacked time axes stay aligned)."""
    cax = ax.inset_axes((1.012, 0.0, 0.014, 1.0))
    bar = ax.figure.colorbar(mappable, cax=cax)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return cax


def diverging_map() -> Colormap:
    """'RdBu_r' (blue negative, red positive) with NaN drawn white."""
    return mpl.colormaps["RdBu_r"].with_extremes(bad="white")


def duration_s(result: AnalysisResult) -> float:
    """Recording length in seconds (frames / fs)."""
    return result.n_frames / result.fs

