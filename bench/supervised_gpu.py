"""The supervised network on a GPU against the CPU, in one run: agreement, inference
throughput and training speed.

Self-contained (simulated data only, so it runs on a lent device machine that has no copy of
../shared/data):

1. agreement: the shipped model's spikes on 200 simulated GCaMP6f cells × 10,000 frames at
   30 Hz, on the CPU and on ``--device``: largest difference per frame and of total counts;
2. inference: ``supervised.load(device=...).infer`` on ``--cells`` × ``--samples`` frames at
   30 Hz (model loading included), at the default OASIS blend and the network alone, on both
   devices. The features and the OASIS blend run on the CPU either way;
3. training: one epoch of the default settings on the simulated recordings of
   ``calscope.infer.simulated_truth`` (``--train-minutes`` per indicator preset), on both
   devices (the training loop's seconds, window drawing on the CPU included).

Writes ``bench/results/supervised_gpu.json``. Run: ``python bench/supervised_gpu.py
[--device cuda] [--cells 1000] [--samples 10000] [--train-minutes 20]``; with ``--device cpu``
both columns are the CPU (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, quiet_warnings, time_call, write_json  # noqa: E402

from calscope import simulate  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.simulated_truth import simulated_recordings  # noqa: E402
from calscope.infer.torch_device import resolve_device  # noqa: E402

FS = 30.0


def agreement(device: torch.device) -> dict[str, float]:
    """Largest per-frame and per-cell-count differences of the shipped model, CPU vs device."""
    y = simulate.traces(200, 10_000, FS, indicator="GCaMP6f", seed=3).fluorescence
    cpu = supervised.load(device="cpu").infer(y, FS).spikes
    other = supervised.load(device=device).infer(y, FS).spikes
    counts = np.nansum(cpu, axis=1)
    return {"max_abs_diff_per_frame": float(np.nanmax(np.abs(cpu - other))),
            "max_rel_diff_count": float(np.max(np.abs(np.nansum(other, axis=1) - counts)
                                               / np.maximum(counts, 1e-9))),
            "nan_pattern_equal": bool(np.array_equal(np.isnan(cpu), np.isnan(other)))}


def inference_rows(devices: list[torch.device], cells: int, samples: int) -> list[list]:
    """Samples/s of load + infer for each device and blend weight."""
    y = simulate.traces(cells, samples, FS, indicator="GCaMP6f", seed=2).fluorescence
    weight = supervised.load(device="cpu").settings.oasis_blend
    rows = []
    for device in devices:
        for w in (weight, 0.0):
            t = time_call(lambda: supervised.load(device=device).with_oasis_blend(w).infer(y, FS),
                          repeats=3)
            rows.append([str(device), w, t.median_s, y.size / t.median_s])
    return rows


def training_rows(devices: list[torch.device], minutes: float) -> list[list]:
    """Seconds of one training epoch (default settings) on each device."""
    recordings = simulated_recordings(minutes)
    rows = []
    for device in devices:
        model = supervised.train(recordings, epochs=1, simulated_minutes=0.0, device=device)
        rows.append([str(device), model.log.seconds, model.card["check"]["r"]])
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="device compared with the CPU")
    p.add_argument("--cells", type=int, default=1000)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--train-minutes", type=float, default=20.0,
                   help="simulated minutes per indicator preset to train one epoch on")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "supervised_gpu.json")
    args = p.parse_args()
    device = resolve_device(args.device)
    devices = [torch.device("cpu"), device]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(f"device: {name}; CPU threads {torch.get_num_threads()}", flush=True)
    t0 = time.perf_counter()
    with quiet_warnings():
        agree = agreement(device)
        print(f"agreement: {agree} ({time.perf_counter() - t0:.0f} s)", flush=True)
        infer = inference_rows(devices, args.cells, args.samples)
        print(format_table(["device", "oasis_blend", "median s", "samples/s"], infer), flush=True)
        train = training_rows(devices, args.train_minutes)
    print(format_table(["device", "one epoch, s", "card check r"], train))
    speedup = {"inference_default_blend": infer[0][2] / infer[2][2],
               "inference_network_alone": infer[1][2] / infer[3][2],
               "training_epoch": train[0][1] / train[1][1]}
    print(f"device / CPU speed-up: {speedup}; total {time.perf_counter() - t0:.0f} s")
    out = write_json(args.out, {
        "settings": {"device": str(device), "device_name": name, "cells": args.cells,
                     "samples": args.samples, "fs": FS, "train_minutes": args.train_minutes,
                     "torch_threads": torch.get_num_threads()},
        "agreement": agree,
        "inference": {"header": ["device", "oasis_blend", "median s", "samples/s"],
                      "rows": infer},
        "training": {"header": ["device", "one epoch s", "card check r"], "rows": train},
        "speedup": speedup,
    }, extra_packages=("torch",))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
