"""From movies to cells and ΔF/F: summary images, CNMF cell extraction, ΔF/F of raw traces."""

from calscope.extract.cnmf import Sources, cnmf
from calscope.extract.dff import delta_f_over_f
from calscope.extract.evaluate import Quality
from calscope.extract.summary import SummaryImages, summary_images

__all__ = ["Quality", "Sources", "SummaryImages", "cnmf", "delta_f_over_f", "summary_images"]
