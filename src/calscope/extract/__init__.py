"""From movies and raw fluorescence to ΔF/F (cell extraction will live here too)."""

from calscope.extract.dff import delta_f_over_f

__all__ = ["delta_f_over_f"]
