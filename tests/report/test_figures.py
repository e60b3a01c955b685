"""Report figures: panels present, NaN drawn white, unavailable analyses raise, big data shrunk."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from calscope.population.result import AnalysisResult
from calscope.report import (
    FigureUnavailable,
    assemblies_figure,
    block_nanmean,
    correlation_figure,
    coupling_figure,
    embedding_figure,
    events_figure,
    fov_figure,
    overview_figure,
    pca_figure,
    pick_cells,
    quality_figure,
    raster_figure,
    traces_figure,
)

#: figure function → panels (axes, colorbars included) on the full fixture
PANELS: dict[Callable[[AnalysisResult], Figure], int] = {
    fov_figure: 1, traces_figure: 1, raster_figure: 2, coupling_figure: 2, overview_figure: 6,
    correlation_figure: 3, pca_figure: 1, embedding_figure: 3, assemblies_figure: 4,
    events_figure: 1, quality_figure: 3,
}


def _panels(fig: Figure) -> list[Axes]:
    """The figure's axes and their inset axes (colorbars)."""
    return [*fig.axes, *(child for ax in fig.axes for child in ax.child_axes)]


def _rgba(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


@pytest.mark.parametrize("draw", list(PANELS), ids=lambda f: f.__name__)
def test_every_figure_draws_its_panels(draw, result: AnalysisResult) -> None:
    fig = draw(result)
    assert isinstance(fig, Figure)
    assert len(_panels(fig)) == PANELS[draw]
    assert _rgba(fig).shape[2] == 4


@pytest.mark.parametrize("draw", [fov_figure, coupling_figure, correlation_figure, pca_figure,
                                  embedding_figure, assemblies_figure, events_figure,
                                  quality_figure], ids=lambda f: f.__name__)
def test_figures_of_analyses_that_did_not_run_raise_with_the_reason(
        draw, sparse_result: AnalysisResult) -> None:
    with pytest.raises(FigureUnavailable) as caught:
        draw(sparse_result)
    assert isinstance(caught.value, ValueError)
    reasons = {*sparse_result.skipped.values(), "the result holds no per-cell quality measures"}
    assert caught.value.reason in reasons


def test_figures_without_optional_fields_still_draw(sparse_result: AnalysisResult) -> None:
    traces = traces_figure(sparse_result)
    assert "no ΔF/F" in traces.axes[0].get_title(loc="left")
    assert raster_figure(sparse_result).axes[0].get_ylabel() == "neurons (input order)"
    overview = overview_figure(sparse_result)
    assert len(_panels(overview)) == 3  # traces, raster and its colorbar
    footnotes = " ".join(text.get_text() for text in overview.texts)
    assert sparse_result.skipped["field of view"] in footnotes and "coupling" in footnotes


def test_coupling_shows_nan_white_and_positive_red(result: AnalysisResult) -> None:
    coupling = np.full((result.n_cells, result.n_frames), 0.8, dtype=np.float32)
    coupling[:, : result.n_frames // 2] = np.nan
    coupling[0, -10:] = -0.8  # something negative, so the colour range is symmetric anyway
    fig = coupling_figure(result.replace(coupling=coupling))
    rgba = _rgba(fig)
    ax = fig.axes[0]
    height = rgba.shape[0]
    for x_fraction, expect_white in ((0.25, True), (0.75, False)):
        x, y = ax.transAxes.transform((x_fraction, 0.5))
        r, g, b, _ = rgba[int(height - y), int(x)].astype(int)
        if expect_white:
            assert (r, g, b) == (255, 255, 255)
        else:
            assert r > g + 60 and r > b + 60  # dark red: the top of 'RdBu_r'


def test_block_nanmean_matches_a_direct_block_mean() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(23, 37)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    rows = rng.permutation(23)
    values[rows[:3], :4] = np.nan  # the first block is all missing
    before = values.copy()
    got = block_nanmean(values, rows=rows, max_rows=10, max_cols=10)
    np.testing.assert_array_equal(values, before)  # the input is left alone
    taken = values[rows]
    expected = np.full((8, 10), np.nan)  # blocks of 3 rows × 4 columns, last ones partial
    for i in range(8):
        for j in range(10):
            block = taken[3 * i:3 * i + 3, 4 * j:4 * j + 4]
            if np.isfinite(block).any():
                expected[i, j] = np.nanmean(block)
    assert got.shape == (8, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    assert np.isnan(got[0, 0])


def test_block_nanmean_keeps_small_arrays_and_takes_columns() -> None:
    values = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(block_nanmean(values), values)
    np.testing.assert_array_equal(block_nanmean(values, rows=[2, 0], cols=[3, 1]),
                                  [[11.0, 9.0], [3.0, 1.0]])


def test_big_recordings_reach_imshow_downsampled() -> None:
    cells, frames = 2500, 4500
    rng = np.random.default_rng(2)
    spikes = rng.random((cells, frames), dtype=np.float32)
    big = AnalysisResult(fs=30.0, spikes=spikes, order=rng.permutation(cells),
                         coupling=spikes - 0.5)
    for draw in (raster_figure, coupling_figure):
        shape = draw(big).axes[0].images[0].get_array().shape
        assert shape == (1250, 1500)


def test_pick_cells_takes_the_most_active_usable_cells_in_display_order(
        result: AnalysisResult) -> None:
    cells = pick_cells(result, n=5)
    rate = result.quality["rate_hz"]
    dead = np.flatnonzero(np.isnan(result.spikes).all(axis=1))
    assert len(dead) == 1 and len(cells) == 5 and dead[0] not in cells
    assert set(cells) == set(np.argsort(-np.nan_to_num(rate, nan=-1))[:5])
    position = np.argsort(result.order)
    assert np.all(np.diff(position[cells]) > 0)


def test_embedding_is_drawn_in_3d_when_three_components_exist(result: AnalysisResult) -> None:
    both = embedding_figure(result)
    assert [ax.name for ax in both.axes[:2]] == ["rectilinear", "3d"]
    assert both.axes[1].get_zlabel() == "PC 3"
    flat = embedding_figure(result.replace(pca_scores=result.pca_scores[:2]))
    assert len(_panels(flat)) == 2 and all(ax.name != "3d" for ax in flat.axes)


def test_assemblies_figure_marks_one_frame_components(result: AnalysisResult) -> None:
    eigen = np.asarray(result.assembly_eigenvalues)
    flags = np.zeros(eigen.size, dtype=bool)
    flags[len(result.assembly_patterns)] = True  # the next eigenvalue, set aside
    bumped = eigen.copy()
    bumped[flags] = result.mp_threshold + 0.5
    marked = dataclasses.replace(result, assembly_one_frame=flags, assembly_eigenvalues=bumped)
    labels = assemblies_figure(marked).axes[0].get_legend_handles_labels()[1]
    assert "one frame: not counted" in labels and "assembly" in labels
    plain = assemblies_figure(result).axes[0].get_legend_handles_labels()[1]
    assert "one frame: not counted" not in plain
