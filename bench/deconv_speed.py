"""Speed of calscope's deconvolution against oasis-deconv and Suite2p, with accuracy alongside.

Simulated traces (default 1000 cells × 10,000 samples at 30 Hz), AR(1) with g = 0.95 and an
AR(2) case. In one run, on one machine, median over repeats (numba compilation excluded by one
untimed warm-up call):

(a) solver alone, same noise-constrained problem with known g and σ: oasis-deconv's
    ``constrained_oasisAR1/AR2`` looped over cells vs calscope's solver on the whole matrix,
    without and with baseline optimization;
(b) the full default call, which also estimates σ and g: oasis-deconv ``deconvolve(y,
    penalty=1)`` per cell vs ``calscope.deconvolve(Y, fs, order=1|2)``;
(c) Suite2p's ``oasis`` (AR(1), no sparsity penalty) in its own venv (bench/.venvs/suite2p,
    created on first use; it needs torch),
    alone on baseline-free traces with the true tau, and after its own baseline preprocessing
    on traces with a drifting baseline; against calscope on the same terms.

Accuracy column: mean over cells of the Pearson r between inferred and true spikes, both
smoothed with the protocol's σ = 50 ms Gaussian. Writes bench/results/deconv_speed.json.

Run: ``python bench/deconv_speed.py [--quick] [--repeats 3] [--no-suite2p]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from importlib import metadata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BENCH_DIR, RESULTS_DIR, SimulatedTraces, format_table, quiet_warnings, simulate_ar,
    time_call, write_json,
)

from calscope import metrics  # noqa: E402

FS = 30.0
CASES = {"AR(1)": (0.95,), "AR(2)": (1.467, -0.489)}  # AR(2): decay 0.7 s, rise 0.05 s
BASELINE = 1.0  # constant baseline added for the baseline-optimizing runs (trace units)
SUITE2P_VENV = BENCH_DIR / ".venvs" / "suite2p"

# Runs inside the Suite2p venv (CPU torch: its maximin baseline runs on torch.device("cpu")).
_SUITE2P_RUNNER = r"""
import json, sys, time
from importlib.metadata import version
import numpy as np
import torch
from suite2p.extraction import dcnv
src, out, tau, fs, repeats, preprocess = sys.argv[1:7]
tau, fs, repeats, preprocess = float(tau), float(fs), int(repeats), preprocess == "1"
F = np.load(src).astype(np.float32)
def run(x):
    if preprocess:
        x = dcnv.preprocess(x.copy(), baseline="maximin", win_baseline=60.0, sig_baseline=10.0,
                            fs=fs, device=torch.device("cpu"))
    return dcnv.oasis(x, batch_size=3000, tau=tau, fs=fs)
run(F[:2])  # numba warm-up
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); s = run(F); times.append(time.perf_counter() - t0)
np.save(out, s)
print(json.dumps({"times_s": times, "suite2p": version("suite2p"),
                  "numba": version("numba"), "numpy": version("numpy")}))
"""


def _accuracy(spikes: np.ndarray, truth: np.ndarray) -> float:
    """Mean over cells of the smoothed (σ = 50 ms) Pearson r of spikes vs true spikes."""
    rs = [metrics.smoothed_correlation(s, t, FS) for s, t in zip(spikes, truth)]
    return float(np.nanmean(rs))


def _row(case: str, part: str, method: str, fn: Callable[[], np.ndarray], n_samples: int,
         truth: np.ndarray, repeats: int) -> dict[str, Any]:
    """Time ``fn`` (→ (cells, T) spikes) and score its output."""
    with quiet_warnings():
        timing = time_call(fn, repeats=repeats, warmup=1)
        spikes = fn()
    return {
        "case": case, "part": part, "method": method, "median_s": timing.median_s,
        "times_s": list(timing.times_s), "samples_per_s": n_samples / timing.median_s,
        "accuracy_r": _accuracy(spikes, truth),
    }


def solver_rows(sim: SimulatedTraces, case: str, repeats: int) -> list[dict[str, Any]]:
    """(a) The constrained solver alone, known g and σ, without and with a baseline."""
    from oasis.oasis_methods import constrained_oasisAR1, constrained_oasisAR2

    from calscope.deconv.oasis import solve_constrained

    g, sn = sim.g, sim.sn
    rows = []
    for with_b in (False, True):
        y = sim.y + BASELINE if with_b else sim.y
        part = "solver, b optimized" if with_b else "solver, b = 0"
        if g.size == 1:
            def peer() -> np.ndarray:
                return np.stack([constrained_oasisAR1(yi, g[0], s, optimize_b=with_b)[1]
                                 for yi, s in zip(y, sn)])
        else:
            def peer() -> np.ndarray:
                return np.stack([constrained_oasisAR2(yi, g[0], g[1], s, optimize_b=with_b)[1]
                                 for yi, s in zip(y, sn)])
        gm = np.tile(g, (y.shape[0], 1))

        def ours() -> np.ndarray:
            return solve_constrained(y, gm, sn, baseline=with_b)[1]

        rows.append(_row(case, part, "oasis-deconv (loop)", peer, y.size, sim.spikes, repeats))
        rows.append(_row(case, part, "calscope", ours, y.size, sim.spikes, repeats))
    return rows


def full_rows(sim: SimulatedTraces, case: str, repeats: int) -> list[dict[str, Any]]:
    """(b) The full default call: σ, g, baseline and λ all estimated."""
    from oasis.functions import deconvolve as oasis_deconvolve

    from calscope import deconvolve

    order = sim.g.size
    extra = {"tau_r": None} if order == 2 else {}  # oasis-deconv's AR(2): g = (None, None)
    y = sim.y + BASELINE

    def peer() -> np.ndarray:
        return np.stack([oasis_deconvolve(yi, penalty=1, **extra)[1] for yi in y])

    def ours() -> np.ndarray:
        return deconvolve(y, FS, order=order).spikes

    part = "full default call"
    return [_row(case, part, "oasis-deconv (loop)", peer, y.size, sim.spikes, repeats),
            _row(case, part, "calscope", ours, y.size, sim.spikes, repeats)]


def ensure_suite2p_venv() -> Path:
    """Create bench/.venvs/suite2p: torch pinned to the dev venv's release, then suite2p.

    Pinning torch first keeps pip from pulling the newest torch with its CUDA libraries
    (a local ``+cpu`` build of the same release is preferred when pip can find one).
    """
    python = SUITE2P_VENV / "bin" / "python"
    if not python.exists():
        torch = "torch==" + metadata.version("torch").split("+")[0]
        print(f"creating {SUITE2P_VENV} (suite2p, {torch}) …", flush=True)
        venv.create(SUITE2P_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", torch, "suite2p"], check=True)
    return python


def _drifting(sim: SimulatedTraces, seed: int = 1) -> np.ndarray:
    """Traces with a slow random baseline drift (period ~ minutes) on top of BASELINE."""
    rng = np.random.default_rng(seed)
    t = np.arange(sim.y.shape[1]) / FS
    phase = rng.uniform(0, 2 * np.pi, (sim.y.shape[0], 1))
    return sim.y + BASELINE + 0.3 * np.sin(2 * np.pi * t / 200.0 + phase)


def suite2p_rows(sim: SimulatedTraces, repeats: int) -> list[dict[str, Any]]:
    """(c) Suite2p's λ-free AR(1) OASIS vs calscope, each on its own terms (AR(1) case only)."""
    from calscope import deconvolve

    python = ensure_suite2p_venv()
    g = float(sim.g[0])
    tau = -1.0 / (FS * np.log(g))
    rows, versions = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for preprocess, y in ((False, sim.y), (True, _drifting(sim))):
            src, out = Path(tmp) / "F.npy", Path(tmp) / "spks.npy"
            np.save(src, y.astype(np.float32))
            proc = subprocess.run(
                [str(python), "-c", _SUITE2P_RUNNER, str(src), str(out), str(tau), str(FS),
                 str(repeats), "1" if preprocess else "0"],
                capture_output=True, text=True, check=True,
            )
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            versions = {k: info[k] for k in ("suite2p", "numba", "numpy")}
            part = ("suite2p terms: its baseline preprocessing + oasis, drifting baseline"
                    if preprocess else "suite2p terms: oasis alone, lam = 0, true tau, b = 0")
            median = float(np.median(info["times_s"]))
            rows.append({
                "case": "AR(1)", "part": part, "method": "suite2p (subprocess, float32)",
                "median_s": median, "times_s": info["times_s"], "samples_per_s": y.size / median,
                "accuracy_r": _accuracy(np.load(out), sim.spikes),
            })
            if preprocess:
                def ours() -> np.ndarray:
                    return deconvolve(y, FS, order=1).spikes
            else:
                def ours() -> np.ndarray:
                    return deconvolve(y, FS, order=1, g=g, lam=0.0, baseline=False).spikes
            rows.append(_row("AR(1)", part, "calscope", ours, y.size, sim.spikes, repeats))
    for r in rows:
        r["suite2p_env"] = versions
    return rows


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Add calscope's speed-up over the peer of the same (case, part) to calscope rows."""
    for r in rows:
        if r["method"] != "calscope":
            continue
        peers = [p for p in rows if (p["case"], p["part"]) == (r["case"], r["part"])
                 and p["method"] != "calscope"]
        if peers:
            r["speedup_vs_peer"] = r["samples_per_s"] / peers[0]["samples_per_s"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=1000)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke run: 50 cells × 3000, 1 repeat")
    p.add_argument("--no-suite2p", action="store_true", help="skip part (c)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "deconv_speed.json")
    args = p.parse_args(argv)
    if args.quick:
        args.cells, args.samples, args.repeats = 50, 3000, 1

    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for case, g in CASES.items():
        sim = simulate_ar(args.cells, args.samples, FS, g, seed=0)
        print(f"{case}: {args.cells} cells × {args.samples} samples …", flush=True)
        rows += solver_rows(sim, case, args.repeats)
        rows += full_rows(sim, case, args.repeats)
        if case == "AR(1)" and not args.no_suite2p:
            rows += suite2p_rows(sim, args.repeats)
    _ratios(rows)

    header = ["case", "part", "method", "median s", "Msamples/s", "calscope speed-up", "acc. r"]
    table = [[r["case"], r["part"], r["method"], r["median_s"], r["samples_per_s"] / 1e6,
              r.get("speedup_vs_peer", float("nan")), r["accuracy_r"]] for r in rows]
    print()
    print(format_table(header, table))
    out = write_json(args.out, {
        "settings": {
            "cells": args.cells, "samples": args.samples, "fs": FS, "repeats": args.repeats,
            "ar_cases": {k: list(v) for k, v in CASES.items()}, "sn": 0.25, "rate_hz": 0.5,
            "baseline": BASELINE, "warmup": "1 untimed call per timing (numba JIT excluded)",
            "threads": "numba/BLAS defaults (all cores) for every method",
        },
        "wall_s": time.perf_counter() - t0,
        "table": {"header": header, "rows": table},
        "rows": rows,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
