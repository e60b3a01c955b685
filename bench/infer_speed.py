"""Speed of network spike inference: amortized training time, and inference throughput.

Trains calscope's amortized model (default settings, its time budget) on 30 simulated GCaMP6f
cells × 10,000 frames at 30 Hz — the default job of ``calscope deconvolve --method amortized``
— then times inference (``model.infer``: normalisation, the network over windows, the fitted
calcium) on 1000 cells × 10,000 frames, next to oasis-deconv's ``deconvolve`` (AR(1), L1,
looped over cells) and calscope's OASIS on the same traces as yardsticks. The supervised row
times ``supervised.load().infer`` on the same traces: loading the shipped model included. Each
network is timed with its default ``oasis_blend`` and, where that is not 0, without the OASIS
half; ``--supervised-model PATH`` times another model file the same way, in the same run.
The issues' target is
≥ 400,000 samples/s (20× CASCADE's ≈ 20,000 samples/s on this machine, measured elsewhere: its
pretrained models are not on PyPI). Writes bench/results/infer_speed.json.

Run: ``python bench/infer_speed.py [--cells 1000] [--samples 10000] [--peer-cells 100]
[--methods amortized,supervised] [--supervised-model PATH]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RESULTS_DIR, format_table, mean_spike_r, quiet_warnings, time_call, write_json,
)

import calscope  # noqa: E402
from calscope import simulate  # noqa: E402
from calscope.infer import amortized, supervised  # noqa: E402

FS = 30.0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=1000)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--peer-cells", type=int, default=100,
                   help="cells timed for oasis-deconv (its loop is slow; rate is per sample)")
    p.add_argument("--methods", default="amortized,supervised",
                   help="network methods to time, comma-separated")
    p.add_argument("--supervised-model", type=Path, action="append", default=[],
                   help="also time this supervised model file (repeatable)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "infer_speed.json")
    args = p.parse_args(argv)
    methods = args.methods.split(",")

    model, training = None, None
    if "amortized" in methods:
        train_sim = simulate.traces(30, 10_000, FS, indicator="GCaMP6f", seed=1)
        t0 = time.perf_counter()
        model = amortized.fit(train_sim.fluorescence, FS)
        train_s = time.perf_counter() - t0
        training = {"seconds": train_s, "epochs": model.log.epochs,
                    "stopped": model.log.stopped, "cells": 30, "frames": 10_000}
        print(f"trained in {train_s:.1f} s ({model.log.epochs} epochs, stopped: "
              f"{model.log.stopped})", flush=True)

    sim = simulate.traces(args.cells, args.samples, FS, indicator="GCaMP6f", seed=2)
    y = sim.fluorescence.astype(np.float64)
    n = y.size
    rows = []
    with quiet_warnings():
        if model is not None:
            for label, m in (("calscope amortized infer", model),
                             ("calscope amortized infer, oasis_blend=0", model.with_oasis_blend(0))):
                ours = time_call(lambda: m.infer(y, FS), repeats=3)
                rows.append([label, ours.median_s, n / ours.median_s,
                             mean_spike_r(ours.result.spikes, sim.spikes, FS)])
        if "supervised" in methods:
            weight = supervised.load().settings.oasis_blend
            cases = [("calscope supervised (load + infer)", None, weight)]
            if weight != 0:  # else the default is already the network alone
                cases.append(("calscope supervised, oasis_blend=0", None, 0.0))
            cases += [(f"calscope supervised {path.name} (load + infer)", path, None)
                      for path in args.supervised_model]
            for label, path, w in cases:
                sup = time_call(lambda: supervised.load(path).with_oasis_blend(w).infer(y, FS),
                                repeats=3)
                rows.append([label, sup.median_s, n / sup.median_s,
                             mean_spike_r(sup.result.spikes, sim.spikes, FS)])
        oasis_ours = time_call(lambda: calscope.deconvolve(y, FS), repeats=3)
        rows.append(["calscope oasis (default)", oasis_ours.median_s, n / oasis_ours.median_s,
                     mean_spike_r(oasis_ours.result.spikes, sim.spikes, FS)])
        from oasis.functions import deconvolve as oasis_deconvolve

        sub = y[: args.peer_cells]
        peer = time_call(lambda: np.stack([oasis_deconvolve(r, penalty=1)[1] for r in sub]),
                         repeats=1, warmup=0)
        rows.append(["oasis-deconv (loop, AR(1))", peer.median_s, sub.size / peer.median_s,
                     mean_spike_r(peer.result, sim.spikes[: args.peer_cells], FS)])
    header = ["method", "median s", "samples/s", "spike r vs truth"]
    print()
    print(format_table(header, rows))
    if training is not None:
        print(f"amortized training: {training['seconds']:.1f} s on 30 cells × 10,000 frames")
    print(f"torch threads {torch.get_num_threads()}")
    out = write_json(args.out, {
        "settings": {"cells": args.cells, "samples": args.samples, "fs": FS,
                     "peer_cells": args.peer_cells, "indicator": "GCaMP6f",
                     "model": None if model is None else model.settings.model_dump(),
                     "torch_threads": torch.get_num_threads()},
        "training": training,
        "table": {"header": header, "rows": rows},
    }, extra_packages=("torch", "oasis-deconv"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
