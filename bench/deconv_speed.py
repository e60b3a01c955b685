"""Speed of calscope's deconvolution against oasis-deconv and Suite2p, with accuracy alongside.

Simulated traces (default 1000 cells × 10,000 samples at 30 Hz), AR(1) with g = 0.95 and an
AR(2) case. In one run, on one machine, median over up to ``--repeats`` timed calls (fewer once
they total 60 s); calscope's numba compilation is excluded by one untimed warm-up call:

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
from functools import partial
from importlib import metadata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BENCH_DIR, RESULTS_DIR, format_table, mean_spike_r, quiet_warnings, time_call, write_json,
)

from calscope import simulate  # noqa: E402
from calscope.deconv import deconvolve  # noqa: E402 - what calscope.deconvolve(Y, fs) runs

FS = 30.0
CASES = {"AR(1)": (0.95,), "AR(2)": (1.467, -0.489)}  # AR(2): decay 0.7 s, rise 0.05 s
SN = 0.25  # noise σ, in units of one spike's calcium jump (amplitude 1)
RATE_HZ = 0.5
BASELINE = 1.0  # constant baseline added for the baseline-optimizing runs (trace units)
DRIFT = 0.3  # peak slow baseline drift for Suite2p's preprocessing case (trace units)
SUITE2P_VENV = BENCH_DIR / ".venvs" / "suite2p"

# Runs inside the Suite2p venv (CPU torch: its maximin baseline runs on torch.device("cpu")).
# suite2p's package __init__ imports cellpose and torchvision, whose PyPI build does not load
# against a CPU torch; empty parent modules let suite2p.extraction.dcnv import without them.
_SUITE2P_RUNNER = r"""
import importlib.util, json, sys, time, types
from importlib.metadata import version
from pathlib import Path
import numpy as np
import torch
root = Path(importlib.util.find_spec("suite2p").submodule_search_locations[0])
for name, path in (("suite2p", root), ("suite2p.extraction", root / "extraction")):
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__path__ = [str(path)]
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


def _row(case: str, part: str, method: str, fn: Callable[[], np.ndarray], n_samples: int,
         truth: np.ndarray, repeats: int) -> dict[str, Any]:
    """Time ``fn`` (→ (cells, T) spikes) and score its output.

    calscope gets one untimed warm-up call (numba compilation); the peers, compiled ahead of
    time, get none, so their slow loops are not run needlessly.
    """
    warmup = 1 if method == "calscope" else 0
    with quiet_warnings():
        timing = time_call(fn, repeats=repeats, warmup=warmup)
    return {
        "case": case, "part": part, "method": method, "median_s": timing.median_s,
        "times_s": list(timing.times_s), "warmup_calls": warmup,
        "samples_per_s": n_samples / timing.median_s,
        "accuracy_r": mean_spike_r(timing.result, truth, FS),
    }


def simulated(n_cells: int, n_samples: int, g: tuple[float, ...], drift: float = 0.0,
              seed: int = 0) -> tuple[np.ndarray, simulate.Simulation]:
    """Traces with unit spike amplitude, noise SN, zero baseline → ((cells, T) float64, truth)."""
    sim = simulate.traces(n_cells, n_samples, FS, g=g, sn=SN, amplitude=1.0, rate_hz=RATE_HZ,
                          drift=drift, seed=seed)
    return sim.fluorescence.astype(np.float64), sim


def solver_rows(y0: np.ndarray, sim: simulate.Simulation, case: str,
                repeats: int) -> list[dict[str, Any]]:
    """(a) The noise-constrained solve alone, known g and σ, without and with a baseline.

    calscope is called through ``deconvolve(Y, fs, g=g, sn=σ, baseline=...)``: with g and σ
    given it only validates the input and runs the solver on the whole matrix.
    """
    g, sn = sim.g[0], sim.sn
    rows = []
    for with_b in (False, True):
        y = y0 + BASELINE if with_b else y0
        part = "solver, b optimized" if with_b else "solver, b = 0"
        peer = partial(_oasis_constrained_loop, y, g, sn, with_b)
        # the same problem as optimize_b: one constant baseline fitted jointly (exactly)
        ours = partial(_calscope_spikes, y, order=g.size, g=g, sn=sn,
                       baseline="constant" if with_b else False)
        rows.append(_row(case, part, "oasis-deconv (loop)", peer, y.size, sim.spikes, repeats))
        rows.append(_row(case, part, "calscope", ours, y.size, sim.spikes, repeats))
    return rows


def _oasis_constrained_loop(y: np.ndarray, g: np.ndarray, sn: np.ndarray,
                            optimize_b: bool) -> np.ndarray:
    """oasis-deconv's constrained AR(1)/AR(2) solver on each row of y → (cells, T) spikes."""
    from oasis.oasis_methods import constrained_oasisAR1, constrained_oasisAR2

    if g.size == 1:
        return np.stack([constrained_oasisAR1(yi, g[0], s, optimize_b=optimize_b)[1]
                         for yi, s in zip(y, sn)])
    return np.stack([constrained_oasisAR2(yi, g[0], g[1], s, optimize_b=optimize_b)[1]
                     for yi, s in zip(y, sn)])


def _calscope_spikes(y: np.ndarray, **settings: Any) -> np.ndarray:
    """calscope's deconvolution of all rows of y at 30 Hz → (cells, T) spikes."""
    return deconvolve(y, FS, **settings).spikes


def full_rows(y0: np.ndarray, sim: simulate.Simulation, case: str,
              repeats: int) -> list[dict[str, Any]]:
    """(b) The full default call: σ, g, baseline and λ all estimated."""
    from oasis.functions import deconvolve as oasis_deconvolve

    order = sim.g.shape[1]
    extra = {"tau_r": None} if order == 2 else {}  # oasis-deconv's AR(2): g = (None, None)
    y = y0 + BASELINE

    def peer() -> np.ndarray:
        return np.stack([oasis_deconvolve(yi, penalty=1, **extra)[1] for yi in y])

    ours = partial(_calscope_spikes, y, order=order)
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
        venv.create(SUITE2P_VENV, with_pip=True)
    has_suite2p = subprocess.run(
        [str(python), "-c", "import importlib.util as u; exit(u.find_spec('suite2p') is None)"]
    ).returncode == 0
    if not has_suite2p:
        torch = "torch==" + metadata.version("torch").split("+")[0]
        print(f"installing suite2p and {torch} into {SUITE2P_VENV} …", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", torch, "suite2p"], check=True)
    return python


def suite2p_rows(y0: np.ndarray, sim: simulate.Simulation, repeats: int) -> list[dict[str, Any]]:
    """(c) Suite2p's λ-free AR(1) OASIS vs calscope, each on its own terms (AR(1) case only).

    Without preprocessing both get the baseline-free traces and the true g (Suite2p: its tau)
    and no sparsity penalty. With preprocessing the traces get BASELINE plus a slow random
    drift (same spikes and noise); Suite2p subtracts its maximin baseline (60 s window),
    calscope runs its default call (slow baseline removed, g, σ and λ estimated).
    """
    python = ensure_suite2p_venv()
    g = float(sim.g[0, 0])
    tau = -1.0 / (FS * np.log(g))
    n_cells, n_samples = y0.shape
    drifting = simulated(n_cells, n_samples, (g,), drift=DRIFT)[0] + BASELINE
    rows, versions = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for preprocess, y in ((False, y0), (True, drifting)):
            src, out = Path(tmp) / "F.npy", Path(tmp) / "spks.npy"
            np.save(src, y.astype(np.float32))
            proc = subprocess.run(
                [str(python), "-c", _SUITE2P_RUNNER, str(src), str(out), str(tau), str(FS),
                 str(repeats), "1" if preprocess else "0"],
                capture_output=True, text=True, check=True,
            )
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            versions = {k: info[k] for k in ("suite2p", "numba", "numpy")}
            part = ("suite2p terms: own baseline, drifting b" if preprocess
                    else "suite2p terms: λ = 0, true τ, b = 0")
            median = float(np.median(info["times_s"]))
            rows.append({
                "case": "AR(1)", "part": part, "method": "suite2p (subprocess, float32)",
                "median_s": median, "times_s": info["times_s"], "samples_per_s": y.size / median,
                "accuracy_r": mean_spike_r(np.load(out), sim.spikes, FS),
            })
            settings = {} if preprocess else {"g": [g], "lam": 0.0, "baseline": False}
            ours = partial(_calscope_spikes, y, order=1, **settings)
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
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "deconv_speed.json")
    args = p.parse_args(argv)
    if args.quick:
        args.cells, args.samples, args.repeats = 50, 3000, 1

    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    cases = [c.strip() for c in args.cases.split(",")]
    unknown = set(cases) - set(CASES)
    if unknown:
        p.error(f"--cases: unknown {sorted(unknown)}; choose from {', '.join(CASES)}")
    for case in cases:
        g = CASES[case]
        y0, sim = simulated(args.cells, args.samples, g)
        print(f"{case}: {args.cells} cells × {args.samples} samples …", flush=True)
        rows += solver_rows(y0, sim, case, args.repeats)
        rows += full_rows(y0, sim, case, args.repeats)
        if case == "AR(1)" and not args.no_suite2p:
            rows += suite2p_rows(y0, sim, args.repeats)
    _ratios(rows)

    header = ["case", "part", "method", "median s", "Msamples/s", "calscope speed-up", "acc. r"]
    table = [[r["case"], r["part"], r["method"], r["median_s"], r["samples_per_s"] / 1e6,
              r.get("speedup_vs_peer", float("nan")), r["accuracy_r"]] for r in rows]
    print()
    print(format_table(header, table))
    out = write_json(args.out, {
        "settings": {
            "cells": args.cells, "samples": args.samples, "fs": FS, "repeats": args.repeats,
            "ar_cases": {k: list(v) for k, v in CASES.items()}, "sn": SN, "rate_hz": RATE_HZ,
            "amplitude": 1.0, "baseline": BASELINE, "suite2p_drift": DRIFT,
            "simulator": "calscope.simulate.traces (float32 fluorescence, cast to float64)",
            "warmup": "calscope: 1 untimed call per timing (numba JIT excluded); peers: none",
            "repeats_rule": "median of up to `repeats` timed calls, fewer once they total 60 s",
            "threads": "numba/BLAS defaults (all cores) for every method",
        },
        "wall_s": time.perf_counter() - t0,
        "table": {"header": header, "rows": table},
        "rows": rows,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
