"""A small, realistic `AnalysisResult` built from a seeded simulation, for the report tests.

The analyses are imitated here with plain numpy (not `calscope.population`), so these tests
check the drawing and the page only: 40 cells × 3000 frames at 30 Hz, two assemblies, one
all-NaN cell, a field of view with one disk ROI per cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d
from scipy.special import erfc

from calscope.population.result import AnalysisResult
from calscope.report import write_report

FS = 30.0
N_CELLS, N_FRAMES = 40, 3000
ASSEMBLIES = (np.arange(0, 8), np.arange(8, 16))
WINDOW = 90
DEAD_CELL = 39
FOV_SHAPE = (96, 128)
ALL_SKIPPED = {
    "field of view": "no footprints in the input (a Suite2p folder with stat.npy, a CaImAn file or an NWB file with ROI masks gives them)",
    "order": "rastermap failed: too few neurons",
    "coupling": "only 12 frames; the window needs 100",
    "correlations": "fewer than 2 usable neurons <in the window>",
    "dimensionality": "too few frames for PCA",
    "assemblies": "no eigenvalue above the Marchenko–Pastur bound",
    "events": "12 frames are too few for circular shifts",
}


def _spikes(rng: np.random.Generator) -> np.ndarray:
    """(cells, T) spike counts: 0.3 Hz background plus co-firing bursts of each assembly."""
    counts = (rng.random((N_CELLS, N_FRAMES)) < 0.3 / FS).astype(np.float64)
    for members in ASSEMBLIES:
        for start in rng.choice(N_FRAMES - 20, 25, replace=False):
            fire = rng.random((len(members), 6)) < 0.5
            counts[members, start:start + 6] += fire
    return counts


def _traces(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ΔF/F: each spike adds a 0.6·exp(−t / 0.5 s) transient; Gaussian noise σ = 0.08."""
    decay = np.exp(-1.0 / (0.5 * FS))
    calcium = np.zeros_like(counts)
    for t in range(N_FRAMES):
        calcium[:, t] = (calcium[:, t - 1] * decay if t else 0.0) + 0.6 * counts[:, t]
    return calcium + rng.normal(0.0, 0.08, counts.shape)


def _windowed_coupling(act: np.ndarray) -> np.ndarray:
    """Correlation of each row with the sum of the others in a centred WINDOW; NaN at the
    edges and for NaN rows."""
    finite = np.nan_to_num(act)
    rest = finite.sum(axis=0, keepdims=True) - finite
    mean = lambda x: uniform_filter1d(x, WINDOW, axis=1, mode="nearest")  # noqa: E731
    cov = mean(finite * rest) - mean(finite) * mean(rest)
    var = (mean(finite**2) - mean(finite) ** 2) * (mean(rest**2) - mean(rest) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(var)
    r[:, : WINDOW // 2] = np.nan
    r[:, N_FRAMES - WINDOW // 2:] = np.nan
    r[~np.isfinite(act).any(axis=1)] = np.nan
    return r.astype(np.float32)


def _fov(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A mean image with one bright disk (radius 4 px) per cell, and its label image."""
    yy, xx = np.mgrid[: FOV_SHAPE[0], : FOV_SHAPE[1]]
    image = 100.0 + 10.0 * np.sin(xx / 20.0) + rng.normal(0.0, 6.0, FOV_SHAPE)
    labels = np.zeros(FOV_SHAPE, dtype=np.int32)
    grid = [(y, x) for y in range(8, FOV_SHAPE[0] - 8, 14) for x in range(8, FOV_SHAPE[1] - 8, 14)]
    for cell, pick in enumerate(rng.choice(len(grid), N_CELLS, replace=False)):
        cy, cx = np.array(grid[pick]) + rng.integers(-2, 3, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 16
        labels[disk] = cell + 1
        image[disk] += rng.uniform(30.0, 80.0)
    return image.astype(np.float32), labels


def _per_usable_row(values: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(cells,) float32: ``values`` on the usable rows, NaN on the others."""
    full = np.full(len(usable), np.nan, dtype=np.float32)
    full[usable] = values
    return full


def _result() -> AnalysisResult:
    rng = np.random.default_rng(7)
    counts = _spikes(rng)
    traces = _traces(counts, rng)
    spikes = np.clip(uniform_filter1d(counts, 3, axis=1) + rng.normal(0, 0.01, counts.shape),
                     0, None)
    spikes[DEAD_CELL] = np.nan
    traces[DEAD_CELL] = np.nan
    spikes[3, 1000:1100] = np.nan
    usable = np.isfinite(spikes).any(axis=1)
    act = np.where(np.isfinite(spikes), spikes, 0.0)[usable]
    z = (act - act.mean(axis=1, keepdims=True)) / act.std(axis=1, keepdims=True)
    corr = z @ z.T / N_FRAMES
    eigenvalues, vectors = np.linalg.eigh(corr)
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    members = np.zeros((len(ASSEMBLIES), N_CELLS), dtype=bool)
    for k, cells in enumerate(ASSEMBLIES):
        members[k, cells] = True
    patterns = np.where(usable, members + rng.normal(0.0, 0.05, members.shape), 0.0)
    patterns /= np.linalg.norm(patterns, axis=1, keepdims=True)
    r = np.full((N_CELLS, N_CELLS), np.nan)
    r[np.ix_(usable, usable)] = corr
    p = erfc(np.abs(r) * np.sqrt(N_FRAMES / 2.0))
    population = act.sum(axis=0)
    threshold = float(population.mean() + 4 * population.std())
    coupling_whole = np.full(N_CELLS, np.nan)
    coupling_whole[usable] = [np.corrcoef(row, population - row)[0, 1] for row in act]
    cov_spectrum = np.linalg.eigvalsh(np.cov(act))[::-1]
    fov_image, fov_labels = _fov(rng)
    meta = {"cells": N_CELLS, "usable_cells": int(usable.sum()), "frames": N_FRAMES,
            "duration_s": N_FRAMES / FS, "fs": FS, "version": "0.1.0", "method": "oasis",
            "input": "simulated <b>recording</b>.npy",
            "settings": {"coupling_window": WINDOW, "sort": "pc1", "n_surrogates": 200,
                         "alpha": 0.05, "seed": 0},
            "correlation_test": "circular-shift surrogates (200), Benjamini–Hochberg FDR 0.05",
            "notes": ["neurons sorted by pc1",
                      "1 neuron(s) are all NaN <script>alert(1)</script> and were left out"],
            "skipped": {}}
    return AnalysisResult(
        fs=FS, spikes=spikes.astype(np.float32), traces=traces.astype(np.float32),
        order=np.argsort(-patterns[0] + patterns[1], kind="stable").astype(np.int64),
        coupling=_windowed_coupling(spikes), coupling_window=WINDOW,
        population_coupling=coupling_whole.astype(np.float32),
        corr_cells=np.arange(N_CELLS, dtype=np.int64), corr_r=r.astype(np.float32),
        corr_p=p.astype(np.float32), corr_significant=np.nan_to_num(p, nan=1.0) < 1e-3,
        pca_explained_ratio=(cov_spectrum / cov_spectrum.sum()).astype(np.float32),
        pca_scores=(vectors[:, :3].T @ z).astype(np.float32), n_significant_dims=3,
        participation_ratio=float(cov_spectrum.sum() ** 2 / (cov_spectrum**2).sum()),
        assembly_patterns=patterns.astype(np.float32), assembly_members=members,
        assembly_activation=((patterns[:, usable] @ z) ** 2).astype(np.float32),
        assembly_eigenvalues=eigenvalues.astype(np.float32),
        mp_threshold=float((1 + np.sqrt(usable.sum() / N_FRAMES)) ** 2),
        population_rate=population.astype(np.float32), events=population > threshold,
        event_threshold=threshold,
        quality={"rate_hz": _per_usable_row(np.nanmean(spikes[usable], axis=1) * FS, usable),
                 "observed_fraction": np.isfinite(spikes).mean(axis=1).astype(np.float32),
                 "noise_sigma": _per_usable_row(np.std(np.diff(traces[usable]), axis=1)
                                                / np.sqrt(2), usable)},
        fov_image=fov_image, fov_labels=fov_labels, meta=meta)


@pytest.fixture(scope="session")
def result() -> AnalysisResult:
    """Every analysis present (see the module docstring)."""
    return _result()


@pytest.fixture(scope="session")
def sparse_result(result: AnalysisResult) -> AnalysisResult:
    """Only spikes: no traces, no field of view, no analyses; every one in ``meta["skipped"]``."""
    return AnalysisResult(fs=result.fs, spikes=result.spikes,
                          meta={**result.meta, "skipped": dict(ALL_SKIPPED), "notes": []})


@pytest.fixture(scope="session")
def written_report(result: AnalysisResult, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[Path, list[Path]]:
    """``write_report`` of the full result: (out folder, paths written)."""
    out = tmp_path_factory.mktemp("report")
    return out, write_report(result, out)
