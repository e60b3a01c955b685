"""`AnalysisResult`: everything the population analysis found, as plain arrays.

It is what `calscope analyze` stores in ``DIR/results.npz`` and what `calscope report` renders,
so a report can be re-made from the file alone. Fields are ``None`` when that analysis did not
run; ``meta["skipped"]`` then names it with the reason (analyses that cannot run are listed in
the report, never dropped).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Scalar fields, stored in ``meta["scalars"]`` rather than as arrays.
_SCALARS = ("fs", "coupling_window", "n_significant_dims", "participation_ratio",
            "mp_threshold", "event_threshold")
_QUALITY_PREFIX = "quality__"


@dataclass(frozen=True)
class AnalysisResult:
    """Population analysis of one recording. ``cells`` = rows of the input, ``T`` = frames.

    Attributes:
        fs: frame rate (Hz).
        spikes: (cells, T) float32 activity analysed (expected spikes per frame), NaN missing.
        traces: (cells, T) float32 ΔF/F the spikes came from; None when the input held spikes.
        order: (cells,) int64 neuron order for display (rastermap, or a simple order).
        coupling: (cells, T) float32 coupling over time (correlation of each neuron with the
            sum of the others in a centred sliding window), NaN where undefined.
        coupling_window: that window (frames).
        population_coupling: (cells,) float32 correlation with the rest over the whole recording.
        corr_cells: (m,) int64 rows the correlation matrix covers (all, or a random subset).
        corr_r, corr_p: (m, m) float32 Pearson r and surrogate p-values.
        corr_significant: (m, m) bool, significant after FDR.
        pca_explained_ratio: (k,) float32 fraction of variance per principal component.
        pca_scores: (≤ 3, T) float32 population state on the first components (embedding).
        n_significant_dims: components above the shuffled-data spectrum.
        participation_ratio: (Σλ)² / Σλ² of the covariance eigenvalues.
        assembly_patterns: (a, cells) float32 unit-norm ICA weights (0 on unusable rows).
        assembly_members: (a, cells) bool, the members of each assembly.
        assembly_activation: (a, T) float32 activation strength over time.
        assembly_eigenvalues: (k,) float32 top eigenvalues of the correlation matrix.
        mp_threshold: the bound those are compared with (Marchenko–Pastur, or higher from
            circularly shifted copies; see `population.assemblies`).
        assembly_one_frame: (k,) bool, eigenvalues above the bound set aside as one-frame
            events (not assemblies).
        population_rate: (T,) float32 summed activity of the usable neurons.
        events: (T,) bool, frames where it exceeds ``event_threshold`` (surrogate based).
        event_threshold: that threshold (same units as ``population_rate``).
        quality: per-cell (cells,) float32 measures (e.g. "noise_sigma", "rate_hz"), by name.
        fov_image: (Y, X) float32 mean image of the field of view, when footprints exist.
        fov_labels: (Y, X) int32 ROI label image: 0 background, i + 1 for row i.
        stimulus: (T,) int64 stimulus label per frame when correlations are noise correlations.
        meta: JSON-ready facts: "cells", "frames", "duration_s", "method", "settings",
            "version", "input", "notes" (list of str), "skipped" ({analysis: reason}),
            "correlation_test" (how p-values were obtained).
    """

    fs: float
    spikes: np.ndarray
    traces: np.ndarray | None = None
    order: np.ndarray | None = None
    coupling: np.ndarray | None = None
    coupling_window: int | None = None
    population_coupling: np.ndarray | None = None
    corr_cells: np.ndarray | None = None
    corr_r: np.ndarray | None = None
    corr_p: np.ndarray | None = None
    corr_significant: np.ndarray | None = None
    pca_explained_ratio: np.ndarray | None = None
    pca_scores: np.ndarray | None = None
    n_significant_dims: int | None = None
    participation_ratio: float | None = None
    assembly_patterns: np.ndarray | None = None
    assembly_members: np.ndarray | None = None
    assembly_activation: np.ndarray | None = None
    assembly_eigenvalues: np.ndarray | None = None
    mp_threshold: float | None = None
    assembly_one_frame: np.ndarray | None = None
    population_rate: np.ndarray | None = None
    events: np.ndarray | None = None
    event_threshold: float | None = None
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    fov_image: np.ndarray | None = None
    fov_labels: np.ndarray | None = None
    stimulus: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return int(self.spikes.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.spikes.shape[1])

    @property
    def skipped(self) -> dict[str, str]:
        """{analysis: reason} for the analyses that did not run."""
        return dict(self.meta.get("skipped", {}))

    def replace(self, **changes: Any) -> AnalysisResult:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)`` for :func:`calscope.io.bundle.write_bundle`: every array field
        that is not None, ``quality`` entries as ``quality__<name>``, and the scalars in
        ``meta["scalars"]``."""
        arrays: dict[str, np.ndarray] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SCALARS or f.name in ("quality", "meta") or value is None:
                continue
            arrays[f.name] = np.asarray(value)
        for name, value in self.quality.items():
            arrays[_QUALITY_PREFIX + name] = np.asarray(value)
        meta = dict(self.meta)
        meta["scalars"] = {name: _plain(getattr(self, name)) for name in _SCALARS}
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> AnalysisResult:
        """Inverse of :meth:`to_arrays`; unknown array names are ignored."""
        names = {f.name for f in dataclasses.fields(cls)} - set(_SCALARS) - {"quality", "meta"}
        values: dict[str, Any] = {k: v for k, v in arrays.items() if k in names}
        quality = {k[len(_QUALITY_PREFIX):]: v for k, v in arrays.items()
                   if k.startswith(_QUALITY_PREFIX)}
        meta = dict(meta)
        scalars = meta.pop("scalars", {})
        return cls(**values, **{k: scalars.get(k) for k in _SCALARS}, quality=quality, meta=meta)


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python number (JSON-ready); None stays None."""
    return value.item() if isinstance(value, np.generic) else value
