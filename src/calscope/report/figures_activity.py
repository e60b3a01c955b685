"""The standard activity figure: field of view, traces, raster and coupling over time.

Each ``*_figure`` function returns a new `matplotlib.figure.Figure`; ``overview_figure`` puts
the four panels together, time axes aligned. Functions raise `FigureUnavailable` when their
analysis did not run (see `calscope.report.figures`).
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from calscope.population.result import AnalysisResult
from calscope.report.figures import (
    HIGHLIGHT_COLOUR,
    SPIKE_COLOUR,
    TRACE_COLOUR,
    block_nanmean,
    cell_names,
    display_order,
    diverging_map,
    duration_s,
    image_over_time,
    order_label,
    pick_cells,
    require,
    robust_max,
    side_colorbar,
    unavailable_reason,
)

_ROW_SPACING = 1.6
"""Vertical distance between stacked cells, in units of the trace height."""
_SPIKE_HEIGHT = 0.45
"""Height of the spike ticks below each trace, in units of the trace height."""
_NUMBER_STYLE = [patheffects.withStroke(linewidth=2.5, foreground="black")]


def fov_figure(result: AnalysisResult, cells: np.ndarray | None = None) -> Figure:
    """Mean image of the field of view, grey between its 1st and 99.5th percentiles, with the
    contours of ``cells`` (label ``i + 1`` of ``fov_labels`` for row ``i``) numbered.

    Args:
        result: needs ``fov_image`` (Y, X); ``fov_labels`` (Y, X) for the contours.
        cells: rows to outline (default: `pick_cells`).

    Raises:
        FigureUnavailable: ``fov_image`` is None (no footprints in the input).
    """
    require(result, "fov")
    fig = Figure(figsize=(6.0, 6.0), layout="constrained")
    _draw_fov(fig.add_subplot(), result, _cells(result, cells))
    return fig


def traces_figure(result: AnalysisResult, cells: np.ndarray | None = None) -> Figure:
    """ΔF/F of ``cells`` stacked top to bottom (one shared scale, scale bar at the right end),
    each with its inferred spikes (expected spikes per frame) as ticks just below it; time in
    seconds. Without traces (the input held spikes) the spikes alone are shown, taller."""
    cells = _cells(result, cells)
    fig = Figure(figsize=(11.0, 0.55 + 0.75 * max(len(cells), 1)), layout="constrained")
    _draw_traces(fig.add_subplot(), result, cells)
    return fig


def raster_figure(result: AnalysisResult) -> Figure:
    """Spike probability of every neuron (rows in `display_order`) over time (s), block-averaged
    to at most 2000 × 2000, grey scale from 0 to the 99th percentile."""
    fig = Figure(figsize=(11.0, 4.5), layout="constrained")
    _draw_raster(fig.add_subplot(), result)
    return fig


def coupling_figure(result: AnalysisResult) -> Figure:
    """Coupling over time (each neuron's windowed correlation with the rest), same row order as
    the raster; 'RdBu_r' symmetric about 0 (±99th percentile of |r|), NaN white.

    Raises:
        FigureUnavailable: ``coupling`` is None.
    """
    require(result, "coupling")
    fig = Figure(figsize=(11.0, 4.5), layout="constrained")
    _draw_coupling(fig.add_subplot(), result)
    return fig


def overview_figure(result: AnalysisResult, cells: np.ndarray | None = None) -> Figure:
    """The four panels in one figure: field of view (left) beside traces, raster and coupling
    (right, one shared time axis). Panels whose analysis did not run are left out and named,
    with the reason, in a footnote; without a field of view the time panels take the width."""
    cells = _cells(result, cells)
    missing = {name: unavailable_reason(result, key)
               for name, key in (("field of view", "fov"), ("coupling over time", "coupling"))}
    missing = {name: reason for name, reason in missing.items() if reason is not None}
    with_fov = "field of view" not in missing
    with_coupling = "coupling over time" not in missing
    heights = [1.5, 1.0] + ([1.0] if with_coupling else [])
    fig = Figure(figsize=(13.0 if with_fov else 11.0, 8.0 if with_coupling else 6.0))
    bottom = 0.07 + (0.035 * len(missing) if missing else 0.0)
    grid = fig.add_gridspec(len(heights), 2 if with_fov else 1, height_ratios=heights,
                            width_ratios=[1.0, 2.1] if with_fov else None,
                            left=0.015 if with_fov else 0.09, right=0.88, top=0.95,
                            bottom=bottom, wspace=0.12, hspace=0.18)
    column = 1 if with_fov else 0
    if with_fov:
        _draw_fov(fig.add_subplot(grid[:, 0]), result, cells)
    time_axes = [fig.add_subplot(grid[0, column])]
    time_axes += [fig.add_subplot(grid[i, column], sharex=time_axes[0])
                  for i in range(1, len(heights))]
    _draw_traces(time_axes[0], result, cells)
    _draw_raster(time_axes[1], result)
    if with_coupling:
        _draw_coupling(time_axes[2], result)
    for ax in time_axes[:-1]:
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
    for i, (name, reason) in enumerate(missing.items()):
        line = textwrap.shorten(f"Not shown: {name} — {reason}", width=190, placeholder=" …")
        fig.text(0.01, 0.012 + 0.035 * i, line, fontsize=9, color="#444444")
    return fig


def _cells(result: AnalysisResult, cells: np.ndarray | None) -> np.ndarray:
    return pick_cells(result) if cells is None else np.asarray(cells, dtype=np.int64)


def _draw_fov(ax: Axes, result: AnalysisResult, cells: np.ndarray) -> None:
    image = np.asarray(result.fov_image, dtype=np.float32)
    finite = image[np.isfinite(image)]
    low, high = np.percentile(finite, [1.0, 99.5]) if finite.size else (0.0, 1.0)
    ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    labels = result.fov_labels
    names = cell_names(result)
    if labels is not None:
        for cell in cells:
            _outline(ax, np.asarray(labels) == cell + 1, names[cell])
    kind = result.meta.get("fov_kind", "mean image")
    ax.set_title(f"field of view ({kind})" if labels is not None
                 else "field of view (no ROI labels)", fontsize=10, loc="left")
    ax.set_axis_off()
    ax.set_anchor("N")


def _outline(ax: Axes, mask: np.ndarray, name: str) -> None:
    """Contour one ROI (cropped to its bounding box, so large images stay fast) and number it."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return
    y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, mask.shape[0])
    x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, mask.shape[1])
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    ax.contour(np.arange(x0, x1), np.arange(y0, y1), crop, levels=[0.5],
               colors=[HIGHLIGHT_COLOUR], linewidths=1.3)
    ax.text(xs.max() + 1.5, ys.min(), name, color="white", fontsize=8, fontweight="bold",
            ha="left", va="bottom", path_effects=_NUMBER_STYLE, clip_on=True)


def _draw_traces(ax: Axes, result: AnalysisResult, cells: np.ndarray) -> None:
    time = np.arange(result.n_frames) / result.fs
    baselines = -np.arange(len(cells)) * _ROW_SPACING
    spikes = np.asarray(result.spikes)[cells]
    if result.traces is None:
        _spike_ticks(ax, time, spikes, baselines, height=1.0)
        title = f"inferred spikes of {len(cells)} active cells (no ΔF/F in the input)"
    else:
        _spike_ticks(ax, time, spikes, baselines - _SPIKE_HEIGHT - 0.05, height=_SPIKE_HEIGHT)
        traces = np.asarray(result.traces)[cells]
        scale = robust_max(np.abs(traces), 99.5)
        for row, (base, trace) in enumerate(zip(baselines, traces)):
            ax.plot(time, base + trace / scale, color=TRACE_COLOUR, linewidth=0.6,
                    label="ΔF/F" if row == 0 else None)
        _scale_bar(ax, _nice_length(0.8 * scale), scale)
        title = f"ΔF/F and inferred spikes of {len(cells)} active cells"
    names = cell_names(result)
    ax.set_yticks(baselines, [names[cell] for cell in cells], fontsize=8)
    ax.set_ylabel("cell", fontsize=9)
    ax.set_xlim(0.0, duration_s(result))
    ax.set_xlabel("time (s)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False,
              borderaxespad=0.1)


def _spike_ticks(ax: Axes, time: np.ndarray, spikes: np.ndarray, floors: np.ndarray,
                 height: float) -> None:
    """Each row of (cells, T) ``spikes`` as vertical ticks rising from its floor, ``height`` at
    the 99.9th percentile of all of them (capped at 1.2 × height; values under 5% of that
    percentile are not drawn). Ticks stay visible however many frames share a pixel."""
    scale = robust_max(spikes, 99.9)
    for row, (floor, spike) in enumerate(zip(floors, spikes)):
        drawn = np.flatnonzero(np.nan_to_num(spike) > 0.05 * scale)
        ax.vlines(time[drawn], floor, floor + height * np.minimum(spike[drawn] / scale, 1.2),
                  color=SPIKE_COLOUR, linewidth=0.9,
                  label="inferred spikes" if row == 0 else None)


def _scale_bar(ax: Axes, length: float, scale: float) -> None:
    """A vertical ΔF/F scale bar of ``length`` just right of the top trace (data / ``scale``)."""
    x = 1.012
    transform = ax.get_yaxis_transform()  # x in axes fractions, y in data
    ax.plot([x, x], [0.0, length / scale], color=TRACE_COLOUR, linewidth=2.0,
            transform=transform, clip_on=False, solid_capstyle="butt")
    ax.text(x + 0.006, 0.5 * length / scale, f"{length:g} ΔF/F", transform=transform,
            rotation=90, ha="left", va="center", fontsize=8, clip_on=False)


def _nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 × 10^k that is at most ``limit`` (> 0)."""
    exponent = np.floor(np.log10(limit))
    for step in (5.0, 2.0, 1.0):
        if step * 10**exponent <= limit:
            return float(step * 10**exponent)
    return float(10**exponent)


def _draw_raster(ax: Axes, result: AnalysisResult) -> None:
    image = block_nanmean(result.spikes, rows=display_order(result))
    low = min(0.0, float(np.nanpercentile(image, 1.0))) if np.isfinite(image).any() else 0.0
    shown = image_over_time(ax, image, duration_s(result), result.n_cells, "gray_r", low,
                            robust_max(image, 99.0))
    side_colorbar(ax, shown, "spikes / frame")
    ax.set_ylabel(order_label(result), fontsize=9)
    ax.set_xlabel("time (s)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_title(f"activity of all {result.n_cells} neurons", fontsize=10, loc="left")


def _draw_coupling(ax: Axes, result: AnalysisResult) -> None:
    image = block_nanmean(result.coupling, rows=display_order(result))
    limit = robust_max(np.abs(image), 99.0)
    shown = image_over_time(ax, image, duration_s(result), result.n_cells, diverging_map(),
                            -limit, limit)
    side_colorbar(ax, shown, "correlation with the rest\nof the population")
    window = result.coupling_window
    window_text = f" ({window / result.fs:.3g} s window)" if window else ""
    ax.set_ylabel(order_label(result), fontsize=9)
    ax.set_xlabel("time (s)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_title(f"coupling to the population over time{window_text}", fontsize=10, loc="left")
