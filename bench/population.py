"""Scale of `calscope analyze`: 20,000 neurons × 10,000 frames on 2 cores, time and peak memory.

A simulated population (Poisson neurons of log-normal rates plus planted assemblies,
`calscope.simulate.population`) becomes GCaMP6f fluorescence through `calscope.simulate.traces`
(per-cell kinetics and amplitudes, noise at SNR 4), saved as one .npy, and `calscope analyze`
runs on it in a child process with its defaults (``--method`` picks another spike inference):
the shipped supervised network since 2026-12-07 (OASIS before), every population analysis,
results.npz, report.html and the figures. The table gives the child's wall time, its
peak resident memory, the time of each step (``meta["step_seconds"]`` of the results) and how
well the planted assemblies were found (`calscope.metrics.assembly_match`). Nothing in the
analysis is quadratic in T; the all-pairs surrogate test runs on a random subset of pairs and
the report says which.

Run: ``python bench/population.py [--cells 20000] [--frames 10000] [--method oasis]``; writes
bench/results/population.json (population_<method>.json for a method not the default).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, write_json  # noqa: E402

from calscope import simulate  # noqa: E402
from calscope.cli.common import DEFAULT_METHOD  # noqa: E402
from calscope.io.bundle import read_bundle  # noqa: E402
from calscope.metrics import assembly_match  # noqa: E402


def simulated_input(path: Path, cells: int, frames: int, fs: float
                    ) -> tuple[np.ndarray, ...]:
    """Write the fluorescence to ``path`` (.npy); return the planted assemblies' members."""
    pop = simulate.population(cells, frames, fs, n_assemblies=5, assembly_size=40, seed=0)
    sim = simulate.traces(cells, frames, fs, indicator="GCaMP6f", snr=4.0, spikes=pop.spikes,
                          seed=1)
    np.save(path, sim.fluorescence)
    return pop.members


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=20_000)
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--fs", type=float, default=30.0)
    p.add_argument("--method", default=DEFAULT_METHOD, help="spike inference of `analyze` "
                   f"(default: its own, {DEFAULT_METHOD})")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traces.npy"
        t0 = time.perf_counter()
        planted = simulated_input(path, args.cells, args.frames, args.fs)
        make_s = time.perf_counter() - t0
        out = Path(tmp) / "analysis"
        command = [sys.executable, "-m", "calscope.cli", "analyze", str(path), "--fs",
                   str(args.fs), "--method", args.method, "--out", str(out)]
        start = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        if run.returncode != 0:
            raise SystemExit(f"calscope analyze failed:\n{run.stderr[-3000:]}")
        sizes = {p.name: p.stat().st_size for p in out.rglob("*") if p.is_file()}
        arrays, meta = read_bundle(out / "results.npz")
    found = [np.flatnonzero(row) for row in arrays.get("assembly_members", np.zeros((0, 0)))]
    match = assembly_match(found, list(planted))
    steps = meta.get("step_seconds", {})
    dims = meta.get("scalars", {}).get("n_significant_dims")  # scalars live in the meta
    rows = [["cells × frames", f"{args.cells} × {args.frames}"],
            ["spike inference", args.method],
            ["calscope analyze wall time (s)", wall],
            ["peak RSS of the analyze process (GB)", peak_gb],
            *[[f"  step: {name} (s)", value] for name, value in steps.items()],
            ["  reading, writing, report (s)", wall - sum(steps.values())],
            ["assemblies planted / found", f"{len(planted)} / {len(found)}"],
            ["assembly membership match", match],
            ["significant PCA dimensions", dims],
            ["results.npz (GB)", sizes.get("results.npz", 0) / 1e9],
            ["report.html (MB)", sizes.get("report.html", 0) / 1e6],
            ["simulating the input (s, not counted)", make_s]]
    print(format_table(["measure", "value"], rows, digits=2))
    print(meta.get("correlation_test", ""))
    name = "population" if args.method == DEFAULT_METHOD else f"population_{args.method}"
    write_json(RESULTS_DIR / f"{name}.json",
               {"cells": args.cells, "frames": args.frames, "fs": args.fs,
                "method": args.method, "wall_s": wall,
                "peak_rss_gb": peak_gb, "step_seconds": steps, "assemblies_planted":
                len(planted), "assemblies_found": len(found), "assembly_match": match,
                "significant_dimensions": dims,
                "file_bytes": sizes, "correlation_test": meta.get("correlation_test"),
                "notes": meta.get("notes"), "skipped": meta.get("skipped"),
                "stderr_tail": run.stderr[-2000:]})


if __name__ == "__main__":
    main()
