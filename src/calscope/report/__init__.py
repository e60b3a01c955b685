"""The report: matplotlib figures of an `AnalysisResult` and one self-contained HTML page.

    from calscope.report import render_report, write_report, raster_figure
    paths = write_report(result, "out/")          # out/report.html, out/figures/*.png
    fig = raster_figure(result)                    # a matplotlib Figure

Figure functions raise `FigureUnavailable` (a ValueError) when their analysis did not run.
"""

from calscope.report.figures import FigureUnavailable, block_nanmean, pick_cells
from calscope.report.figures_activity import (
    coupling_figure,
    fov_figure,
    overview_figure,
    raster_figure,
    traces_figure,
)
from calscope.report.figures_structure import (
    assemblies_figure,
    correlation_figure,
    embedding_figure,
    events_figure,
    pca_figure,
    quality_figure,
)
from calscope.report.html import FIGURES, render_report, write_report

__all__ = [
    "FIGURES", "FigureUnavailable", "assemblies_figure", "block_nanmean", "correlation_figure",
    "coupling_figure", "embedding_figure", "events_figure", "fov_figure", "overview_figure",
    "pca_figure", "pick_cells", "quality_figure", "raster_figure", "render_report",
    "traces_figure", "write_report",
]
