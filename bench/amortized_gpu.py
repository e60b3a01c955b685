"""The amortized method on a GPU against the CPU, in one run: training speed, inference
throughput and accuracy.

Self-contained (simulated data only, so it runs on a lent device machine that has no copy of
../shared/data). On ``--cells`` simulated GCaMP6f cells × ``--frames`` frames at 30 Hz, for the
CPU and ``--device``:

1. training: ``amortized.fit`` with ``--epochs`` epochs and no early stop (the seconds of the
   fit, the OASIS warm start included, after a tiny warm-up fit on the same device) and the
   held-out bound it reached;
2. inference: ``model.infer`` on the same traces (median of 3, the OASIS blend on the CPU
   included), and the mean correlation of its spikes with the simulated truth.

A GPU draws other random numbers than the CPU, so its model is not the CPU's; the two
accuracies should agree within training noise, not bit for bit.

Writes ``bench/results/amortized_gpu.json``. Run: ``python bench/amortized_gpu.py
[--device cuda] [--cells 30] [--frames 10000] [--epochs 20]``; with ``--device cpu`` both rows
are the CPU (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS_DIR, format_table, mean_spike_r, quiet_warnings,  # noqa: E402
                    time_call, write_json)

from calscope import simulate  # noqa: E402
from calscope.infer import amortized  # noqa: E402
from calscope.infer.torch_device import resolve_device  # noqa: E402

FS = 30.0
HEADER = ["device", "fit s", "epochs", "held-out bound", "infer s", "samples/s", "r vs truth"]


def device_row(device: torch.device, sim: simulate.Simulation, epochs: int) -> list:
    """Fit, then infer, on ``device``; one row of `HEADER`."""
    y = sim.fluorescence
    amortized.fit(y[:2, :600], FS, device=device, max_epochs=1)  # compiled code, CUDA set up
    start = time.perf_counter()
    model = amortized.fit(y, FS, device=device, max_epochs=epochs, patience=epochs,
                          max_time_s=3600.0)
    fit_s = time.perf_counter() - start
    timing = time_call(lambda: model.infer(y, FS), repeats=3)
    r = mean_spike_r(model.infer(y, FS).spikes, sim.spikes, FS)
    return [str(device), fit_s, model.log.epochs, max(model.log.heldout_bound),
            timing.median_s, y.size / timing.median_s, r]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="device compared with the CPU")
    p.add_argument("--cells", type=int, default=30)
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "amortized_gpu.json")
    args = p.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(f"device: {name}; CPU threads {torch.get_num_threads()}", flush=True)
    sim = simulate.traces(args.cells, args.frames, FS, indicator="GCaMP6f", seed=1)
    rows = []
    with quiet_warnings():
        for target in (torch.device("cpu"), device):
            rows.append(device_row(target, sim, args.epochs))
            print(format_table(HEADER, rows[-1:]), flush=True)
    print(format_table(HEADER, rows))
    speedup = {"fit": rows[0][1] / rows[1][1], "infer": rows[0][4] / rows[1][4]}
    print(f"device / CPU speed-up: {speedup}")
    out = write_json(args.out, {
        "settings": {"device": str(device), "device_name": name, "cells": args.cells,
                     "frames": args.frames, "epochs": args.epochs, "fs": FS,
                     "torch_threads": torch.get_num_threads()},
        "rows": {"header": HEADER, "rows": rows},
        "speedup": speedup,
    }, extra_packages=("torch",))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
