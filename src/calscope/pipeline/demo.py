"""The demo job: simulate a population → deconvolve → score the spikes → analyse the population
→ score the assemblies found → write everything, ending with the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from calscope import simulate
from calscope.config import Settings, SimulateSettings
from calscope.deconv import Deconvolution
from calscope.dispatch import deconvolve
from calscope.io.writers import atomic_open, write_result, write_spikes
from calscope.metrics import assembly_match, pearson, smoothed_correlations
from calscope.pipeline.analysis import STEPS, Progress, analyze, write_analysis
from calscope.population.result import AnalysisResult


@dataclass(frozen=True)
class DemoResult:
    """Outputs of `run_demo`.

    Attributes:
        simulation: the simulated recording (truth and fluorescence).
        planted: (assemblies,) member cell indices of each planted assembly (may be empty).
        result: the deconvolution of its fluorescence.
        analysis: the population analysis of the inferred spikes.
        spike_r: (cells,) Pearson r of inferred and true spikes, both smoothed with a 50 ms
            Gaussian (the ground-truth protocol's score).
        calcium_r: (cells,) Pearson r of inferred calcium + baseline and the noise-free signal.
        files: paths written.
    """

    simulation: simulate.Simulation
    planted: tuple[np.ndarray, ...]
    result: Deconvolution
    analysis: AnalysisResult
    spike_r: np.ndarray
    calcium_r: np.ndarray
    files: tuple[Path, ...]

    def summary(self) -> dict:
        """JSON-ready summary of settings and scores."""
        sim = self.simulation
        mask = self.analysis.assembly_members  # (assemblies, cells) bool
        found = None if mask is None else [np.flatnonzero(row) for row in mask]
        return {
            "cells": int(sim.spikes.shape[0]),
            "frames": int(sim.spikes.shape[1]),
            "fs_hz": sim.fs,
            "indicator": sim.indicator,
            "true_spikes": int(sim.spikes.sum()),
            "spike_correlation_median": float(np.nanmedian(self.spike_r)),
            "spike_correlation_mean": float(np.nanmean(self.spike_r)),
            "calcium_correlation_median": float(np.nanmedian(self.calcium_r)),
            "noise_sigma_true_median": float(np.median(sim.sn)),
            "noise_sigma_estimated_median": float(np.nanmedian(self.result.sn)),
            "assemblies_planted": len(self.planted),
            "assemblies_found": None if found is None else len(found),
            "assembly_membership_match": (None if found is None
                                          else assembly_match(found, list(self.planted))),
        }


def simulated_recording(cfg: SimulateSettings) -> tuple[simulate.Simulation, tuple]:
    """The demo's recording and its planted assemblies: with as many of ``cfg.n_assemblies``
    as fit in ``cfg.n_cells``, spikes come from `simulate.population` (``rate_hz`` the mean
    background rate); without any, from `simulate.traces` itself (``bursty`` applies)."""
    n_frames = int(round(cfg.duration_s * cfg.fs))
    n_assemblies = min(cfg.n_assemblies, cfg.n_cells // cfg.assembly_size)
    spikes, planted = None, ()
    if n_assemblies:
        pop = simulate.population(cfg.n_cells, n_frames, cfg.fs, n_assemblies=n_assemblies,
                                  assembly_size=cfg.assembly_size, base_rate_hz=cfg.rate_hz,
                                  seed=cfg.seed)
        spikes, planted = pop.spikes, pop.members
    sim = simulate.traces(cfg.n_cells, n_frames, cfg.fs, indicator=cfg.indicator,
                          rate_hz=cfg.rate_hz, bursty=cfg.bursty, snr=cfg.snr, drift=cfg.drift,
                          spikes=spikes, seed=cfg.seed)
    return sim, planted


def run_demo(settings: Settings, out_dir: str | Path,
             progress: Progress | None = None) -> DemoResult:
    """Simulate a population, deconvolve it with ``settings.deconv``, score it, analyse the
    population with ``settings.population`` and write files.

    Writes to ``out_dir``: ``fluorescence.npy`` (input, cells × T), ``spikes.npy`` (inferred,
    cells × T), ``deconvolution.npz`` (every result field), ``truth.npz`` (true spikes and
    calcium), ``summary.json``, and the analysis: ``results.npz``, ``report.html`` and
    ``figures/*.png``. ``progress`` is passed to `pipeline.analysis.analyze`.
    """
    if progress is not None:
        progress("simulating and inferring spikes", 0, len(STEPS))
    sim, planted = simulated_recording(settings.simulate)
    dec = settings.deconv
    result = deconvolve(sim.fluorescence, sim.fs, method=dec.method, order=dec.order,
                        penalty=dec.penalty, lam=dec.lam, baseline=dec.baseline,
                        baseline_window_s=dec.baseline_window_s, optimize_g=dec.optimize_g)
    spike_r = smoothed_correlations(result.spikes, sim.spikes, sim.fs)
    calcium_r = np.array([pearson(c, t) for c, t in zip(result.calcium, sim.calcium)])
    analysis = analyze(result.spikes, sim.fs, traces=sim.fluorescence,
                       settings=settings.population, progress=progress,
                       meta={"input": "calscope demo (simulated)", "method": dec.method,
                             "skipped": {"field of view": "a simulated recording has no "
                                                         "footprints"}})
    out = Path(out_dir)
    rows = np.arange(sim.spikes.shape[0])
    files = (
        write_spikes(out / "fluorescence.npy", sim.fluorescence),
        write_spikes(out / "spikes.npy", result.spikes),
        write_result(out / "deconvolution.npz", result, rows),
        write_result(out / "truth.npz", sim, rows),
    )
    demo = DemoResult(sim, planted, result, analysis, spike_r, calcium_r, files)
    summary_path = out / "summary.json"
    with atomic_open(summary_path, text=True) as handle:
        json.dump({"settings": settings.model_dump(mode="json"), "scores": demo.summary()},
                  handle, indent=2)
    return replace(demo, files=(*files, summary_path, *write_analysis(analysis, out)))
