"""Figures of population structure: correlations, PCA spectrum and embedding, assemblies,
synchrony events and per-cell quality.

Each function returns a new `matplotlib.figure.Figure` and raises `FigureUnavailable` when its
analysis did not run (see `calscope.report.figures`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from calscope.population.result import AnalysisResult
from calscope.report.figures import (
    HIGHLIGHT_COLOUR,
    PALETTE,
    SPIKE_COLOUR,
    TRACE_COLOUR,
    block_nanmean,
    display_order,
    diverging_map,
    duration_s,
    order_label,
    require,
    robust_max,
    side_colorbar,
)

MAX_ASSEMBLIES_SHOWN = 6
"""Assemblies given a pattern panel; the rest are named in the title."""
MAX_EIGENVALUES_SHOWN = 40
"""Leading eigenvalues drawn against the null bound."""
EMBEDDING_BIN_S = 0.25
"""The embedding trajectory is averaged in bins of this length (display only)."""
MAX_EMBEDDING_POINTS = 4000
"""Most points in the embedding trajectory (longer recordings get longer bins)."""
_QUALITY_LABELS = {"rate_hz": "firing rate (Hz)", "observed_fraction": "fraction of frames "
                   "observed", "noise_sigma": "noise σ (ΔF/F)"}


def correlation_figure(result: AnalysisResult) -> Figure:
    """Pairwise Pearson r of ``corr_cells`` in display order ('RdBu_r', symmetric about 0 at
    the 99th percentile of |r|, diagonal and NaN white; block-averaged beyond 2000 rows), and
    the distribution of r over all pairs and the FDR-significant ones.

    Raises:
        FigureUnavailable: the correlations did not run.
    """
    require(result, "correlation")
    cells = np.asarray(result.corr_cells, dtype=np.int64)
    where = np.full(result.n_cells, -1, dtype=np.int64)
    where[cells] = np.arange(len(cells))
    shown = where[display_order(result)]
    shown = shown[shown >= 0]
    r = np.array(result.corr_r, dtype=np.float32)
    np.fill_diagonal(r, np.nan)
    image = block_nanmean(r, rows=shown, cols=shown)
    fig = Figure(figsize=(11.0, 4.8), layout="constrained")
    matrix_ax, hist_ax = fig.subplots(1, 2, width_ratios=[1.15, 1.0])
    limit = robust_max(np.abs(image), 99.0)
    drawn = matrix_ax.imshow(image, cmap=diverging_map(), vmin=-limit, vmax=limit,
                             interpolation="nearest", extent=(0, len(shown), len(shown), 0))
    side_colorbar(matrix_ax, drawn, "Pearson r")
    matrix_ax.set_xlabel(order_label(result), fontsize=9)
    matrix_ax.set_ylabel(order_label(result), fontsize=9)
    upper = np.triu_indices(len(cells), k=1)
    values = np.asarray(result.corr_r)[upper]
    finite = np.isfinite(values)
    title = f"pairwise correlations of {len(cells)} neurons"
    bins = np.linspace(np.nanmin(values[finite]), np.nanmax(values[finite]), 60) \
        if finite.any() else 10
    hist_ax.hist(values[finite], bins=bins, color="#999999", label="all pairs")
    if result.corr_significant is not None:
        significant = np.asarray(result.corr_significant)[upper] & finite
        fraction = significant.sum() / max(finite.sum(), 1)
        title += f"; {100 * fraction:.1f}% of pairs significant"
        hist_ax.hist(values[significant], bins=bins, color=HIGHLIGHT_COLOUR,
                     label="significant (FDR)")
    hist_ax.set_yscale("log")
    hist_ax.set_xlabel("Pearson r", fontsize=9)
    hist_ax.set_ylabel("pairs", fontsize=9)
    hist_ax.legend(fontsize=8, frameon=False)
    for ax in (matrix_ax, hist_ax):
        ax.tick_params(labelsize=8)
    hist_ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    return fig


def pca_figure(result: AnalysisResult) -> Figure:
    """Fraction of variance per principal component (log scale); the components above the
    shuffled-data spectrum filled, the participation ratio stated.

    Raises:
        FigureUnavailable: the dimensionality analysis did not run.
    """
    require(result, "pca")
    ratio = np.asarray(result.pca_explained_ratio, dtype=np.float64)
    rank = np.arange(1, len(ratio) + 1)
    n_sig = int(result.n_significant_dims or 0)
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(rank, ratio, color="#999999", linewidth=0.8, zorder=1)
    ax.scatter(rank[n_sig:], ratio[n_sig:], s=14, facecolors="white", edgecolors="#777777",
               label="not above shuffled data", zorder=2)
    ax.scatter(rank[:n_sig], ratio[:n_sig], s=22, color=PALETTE[0],
               label="above shuffled data", zorder=3)
    if 0 < n_sig < len(ratio):
        ax.axvline(n_sig + 0.5, color=PALETTE[0], linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("principal component", fontsize=9)
    ax.set_ylabel("fraction of variance", fontsize=9)
    facts = [f"significant dimensions: {n_sig}" if result.n_significant_dims is not None
             else "significant dimensions: not computed"]
    if result.participation_ratio is not None:
        facts.append(f"participation ratio: {result.participation_ratio:.1f}")
    ax.text(0.98, 0.97, "\n".join(facts), transform=ax.transAxes, ha="right", va="top",
            fontsize=9, bbox={"facecolor": "white", "edgecolor": "#cccccc"})
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("variance spectrum of the population activity", fontsize=10, loc="left")
    return fig


def embedding_figure(result: AnalysisResult) -> Figure:
    """Population state over time on the first principal components: PC1 × PC2, and beside it
    PC1 × PC2 × PC3 in 3-D when a third component exists. Lines are coloured by time
    (viridis) and averaged in 0.25 s bins (longer beyond 4000 points) so the path stays
    readable.

    Raises:
        FigureUnavailable: the dimensionality analysis did not run.
    """
    require(result, "embedding")
    scores = np.asarray(result.pca_scores, dtype=np.float32)
    if scores.shape[0] < 2:
        raise ValueError(f"pca_scores: need ≥ 2 components for the embedding, got {scores.shape}")
    n_dims = min(3, scores.shape[0])
    per_bin = max(1, round(EMBEDDING_BIN_S * result.fs))
    binned = block_nanmean(scores[:n_dims], max_cols=min(MAX_EMBEDDING_POINTS,
                                                         -(-result.n_frames // per_bin)))
    keep = np.isfinite(binned).all(axis=0)
    points = binned[:, keep].T
    times = np.linspace(0.0, duration_s(result), binned.shape[1])[keep]
    fig = Figure(figsize=(6.8 if n_dims == 2 else 12.0, 5.6), layout="constrained")
    flat = fig.add_subplot(1, n_dims - 1, 1)
    path = _time_coloured_path(flat, points[:, :2], times)
    flat.set_title("population state on the first two components", fontsize=10, loc="left")
    if n_dims == 3:
        solid = fig.add_subplot(1, 2, 2, projection="3d")
        _time_coloured_path(solid, points, times)
        solid.set_zlabel("PC 3", fontsize=9)
        solid.set_title("… and on the first three", fontsize=10, loc="left")
    bar = fig.colorbar(path, ax=fig.axes, shrink=0.8)
    bar.set_label("time (s)", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    return fig


def _time_coloured_path(ax, points: np.ndarray, times: np.ndarray) -> LineCollection:
    """Draw (n, 2) or (n, 3) ``points`` on ``ax`` as a line coloured by ``times`` (n,), with the
    start marked; returns the line (for the colour bar)."""
    segments = np.stack([points[:-1], points[1:]], axis=1)
    solid = points.shape[1] == 3
    if solid:
        path = Line3DCollection(segments, cmap="viridis", linewidths=0.8)
        ax.add_collection3d(path)
        for axis, values in zip("xyz", points.T):
            getattr(ax, f"set_{axis}lim")(*_padded_range(values))
    else:
        path = LineCollection(segments, cmap="viridis", linewidths=1.0)
        ax.add_collection(path)
        ax.autoscale_view()
    ax.plot(*points[:1].T, "o", color=TRACE_COLOUR, markersize=5, label="start")
    if not solid:  # one legend for the figure, on the flat panel
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    path.set_array(times[:-1])
    ax.set_xlabel("PC 1", fontsize=9)
    ax.set_ylabel("PC 2", fontsize=9)
    ax.tick_params(labelsize=8)
    return path


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    """(low, high) of ``values`` widened by 5 % (1 on each side when they are constant)."""
    low, high = float(np.min(values)), float(np.max(values))
    pad = 0.05 * (high - low) or 1.0
    return low - pad, high + pad


def assemblies_figure(result: AnalysisResult) -> Figure:
    """Cell assemblies: the leading correlation eigenvalues against the null bound,
    each assembly's activation strength over time, and its weights over the neurons (display
    order; members as coloured dots). At most 6 assemblies get a weights panel.

    Raises:
        FigureUnavailable: the assembly analysis did not run.
    """
    require(result, "assemblies")
    patterns = np.asarray(result.assembly_patterns, dtype=np.float32)
    members = np.asarray(result.assembly_members, dtype=bool)
    n_shown = min(len(patterns), MAX_ASSEMBLIES_SHOWN)
    fig = Figure(figsize=(11.0, 3.4 + 1.3 * n_shown), layout="constrained")
    grid = fig.add_gridspec(1 + n_shown, 2, width_ratios=[1.0, 2.6],
                            height_ratios=[2.2] + [1.0] * n_shown)
    eigen_ax = fig.add_subplot(grid[0, 0])
    eigen = np.asarray(result.assembly_eigenvalues, dtype=np.float64)[:MAX_EIGENVALUES_SHOWN]
    one_frame = np.zeros(len(eigen), dtype=bool)
    if result.assembly_one_frame is not None:  # results written before the rule lack it
        flags = np.asarray(result.assembly_one_frame, dtype=bool)[:len(eigen)]
        one_frame[:len(flags)] = flags
    above = (eigen > result.mp_threshold) & ~one_frame
    rank = np.arange(1, len(eigen) + 1)
    below = ~above & ~one_frame
    eigen_ax.scatter(rank[below], eigen[below], s=12, facecolors="white", edgecolors="#777777")
    eigen_ax.scatter(rank[above], eigen[above], s=18, color=PALETTE[0], label="assembly")
    if one_frame.any():
        eigen_ax.scatter(rank[one_frame], eigen[one_frame], s=18, marker="x",
                         color=PALETTE[0], label="one frame: not counted")
    eigen_ax.axhline(result.mp_threshold, color=SPIKE_COLOUR, linestyle="--", linewidth=1.0,
                     label="null bound")
    eigen_ax.set_xlabel("rank", fontsize=9)
    eigen_ax.set_ylabel("eigenvalue", fontsize=9)
    eigen_ax.legend(fontsize=8, frameon=False)
    activation_ax = fig.add_subplot(grid[0, 1])
    time = np.arange(result.n_frames) / result.fs
    for k in range(n_shown):
        activation_ax.plot(time, result.assembly_activation[k], color=PALETTE[k % len(PALETTE)],
                           linewidth=0.6, label=f"A{k + 1}")
    activation_ax.set_xlim(0.0, duration_s(result))
    activation_ax.set_xlabel("time (s)", fontsize=9)
    activation_ax.set_ylabel("activation strength", fontsize=9)
    if n_shown:
        activation_ax.legend(fontsize=8, frameon=False, ncol=n_shown, loc="upper right")
    else:
        activation_ax.text(0.5, 0.5, "no eigenvalue above the bound: no assemblies",
                           transform=activation_ax.transAxes, ha="center", fontsize=10)
    position = np.empty(result.n_cells, dtype=np.int64)
    position[display_order(result)] = np.arange(result.n_cells)
    weight_axes = [fig.add_subplot(grid[1 + k, :]) for k in range(n_shown)]
    for k, ax in enumerate(weight_axes):
        colour = PALETTE[k % len(PALETTE)]
        ax.vlines(position, 0.0, patterns[k], color="#aaaaaa", linewidth=0.8)
        member = members[k]
        ax.plot(position[member], patterns[k][member], "o", color=colour, markersize=4,
                label=f"{member.sum()} members")
        ax.axhline(0.0, color="#666666", linewidth=0.5)
        ax.set_xlim(-0.5, result.n_cells - 0.5)
        ax.set_ylabel(f"A{k + 1} weight", fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="best")
        ax.tick_params(labelbottom=k == n_shown - 1)
    if weight_axes:
        weight_axes[-1].set_xlabel(order_label(result), fontsize=9)
    for ax in fig.axes:
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    extra = f" ({n_shown} shown)" if n_shown < len(patterns) else ""
    fig.suptitle(f"{len(patterns)} cell assemblies{extra}", fontsize=10, x=0.01, ha="left")
    return fig


def events_figure(result: AnalysisResult) -> Figure:
    """Population rate (summed activity of the usable neurons, spikes per frame) over time, the
    surrogate threshold dashed and the event frames shaded.

    Raises:
        FigureUnavailable: the event analysis did not run.
    """
    require(result, "events")
    rate = np.asarray(result.population_rate, dtype=np.float32)
    events = np.asarray(result.events, dtype=bool)
    time = np.arange(len(rate)) / result.fs
    fig = Figure(figsize=(11.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.vlines(time[events], 0.94, 1.0, transform=ax.get_xaxis_transform(),
              color=HIGHLIGHT_COLOUR, linewidth=1.0)
    ax.plot(time, rate, color=TRACE_COLOUR, linewidth=0.6, label="population rate")
    ax.plot(time[events], rate[events], "o", color=HIGHLIGHT_COLOUR, markersize=4,
            markeredgecolor=TRACE_COLOUR, markeredgewidth=0.4, label="event frames")
    ax.axhline(result.event_threshold, color=SPIKE_COLOUR, linestyle="--", linewidth=1.0,
               label="threshold")
    ax.set_xlim(0.0, duration_s(result))
    ax.set_xlabel("time (s)", fontsize=9)
    ax.set_ylabel("spikes / frame (all neurons)", fontsize=9)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize=8, frameon=False,
              borderaxespad=0.1)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    percent = 100.0 * events.mean() if events.size else 0.0
    ax.set_title(f"synchrony events: {int(events.sum())} frames ({percent:.1f}%)", fontsize=10,
                 loc="left")
    return fig


def quality_figure(result: AnalysisResult) -> Figure:
    """A histogram over cells of each per-cell measure in ``result.quality`` (NaN left out).

    Raises:
        FigureUnavailable: ``result.quality`` is empty.
    """
    require(result, "quality")
    names = ([name for name in _QUALITY_LABELS if name in result.quality]
             + sorted(set(result.quality) - set(_QUALITY_LABELS)))
    fig = Figure(figsize=(3.6 * len(names) + 0.4, 3.2), layout="constrained")
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        values = np.asarray(result.quality[name], dtype=np.float64)
        finite = values[np.isfinite(values)]
        ax.hist(finite, bins=min(40, max(5, finite.size // 4)), color=PALETTE[0])
        ax.set_xlabel(_QUALITY_LABELS.get(name, name), fontsize=9)
        ax.set_ylabel("cells", fontsize=9)
        missing = values.size - finite.size
        ax.set_title(f"{finite.size} cells" + (f", {missing} NaN" if missing else ""),
                     fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("per-cell quality", fontsize=10, x=0.01, ha="left")
    return fig
