"""Amortized inference on simulated recordings: accuracy vs OASIS, calibration, estimators.

For several indicators and SNRs, plus model-mismatch cases (saturating indicator; baseline
drift with shot noise), simulates 20 cells × 6000 frames at 30 Hz (``calscope.simulate``),
trains calscope's amortized model on them (no labels; ``--estimators`` picks VIMCO and/or the
relaxed ELBO, ``--likelihoods`` the generative model's noise) and scores, against the true
spikes:

* spike r: Pearson r of σ = 50 ms-smoothed spikes, mean over cells (calscope's OASIS default
  call beside it);
* count ratio: expected spikes / true spikes;
* calibration: the fraction of true spikes whose frame lies inside the 90% posterior band
  (upper ≥ the true count), and the fraction of spike-free frames with lower = 0;
* training seconds.

Writes bench/results/infer_simulated.json. Run: ``python bench/infer_simulated.py
[--estimators vimco,relaxed] [--recognition factorized,autoregressive]
[--likelihoods gaussian,student-t] [--blends 0,0.5] [--max-time 40] [--out FILE]``
(``--blends``: the ``oasis_blend`` weights each fitted model infers with).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RESULTS_DIR, format_table, mean_spike_r, quiet_warnings, write_json,
)

import calscope  # noqa: E402
from calscope import simulate  # noqa: E402
from calscope.infer import amortized  # noqa: E402

FS = 30.0
CASES = {
    "GCaMP6f snr 5": {"indicator": "GCaMP6f", "snr": 5.0},
    "GCaMP6f snr 2": {"indicator": "GCaMP6f", "snr": 2.0},
    "GCaMP6s snr 5": {"indicator": "GCaMP6s", "snr": 5.0},
    "jGCaMP8m snr 3": {"indicator": "jGCaMP8m", "snr": 3.0},
    "OGB-1 snr 3": {"indicator": "OGB-1", "snr": 3.0},
    "mismatch: saturation, bursts": {"indicator": "GCaMP6f", "snr": 5.0, "saturation": True,
                                     "bursty": True},
    "mismatch: drift + shot noise": {"indicator": "GCaMP6f", "snr": 4.0, "drift": 0.3,
                                     "shot_noise": 0.02},
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--estimators", default="vimco,relaxed")
    p.add_argument("--recognition", default="factorized",
                   help="recognition networks to compare: factorized,autoregressive")
    p.add_argument("--likelihoods", default="gaussian",
                   help="generative noise models to compare: gaussian,student-t")
    p.add_argument("--blends", default="0,0.5",
                   help="oasis_blend weights to infer with, comma-separated (0: the posterior "
                        "mean alone)")
    p.add_argument("--max-time", type=float, default=40.0, help="training budget per case (s)")
    p.add_argument("--cases", default=None, help="comma-separated case name prefixes")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "infer_simulated.json")
    args = p.parse_args(argv)
    estimators = [e.strip() for e in args.estimators.split(",")]
    networks = [r.strip() for r in args.recognition.split(",")]
    likelihoods = [k.strip() for k in args.likelihoods.split(",")]
    blends = [float(w) for w in args.blends.split(",")]
    cases = {k: v for k, v in CASES.items()
             if not args.cases or any(k.startswith(c) for c in args.cases.split(","))}
    rows, records = [], []
    for i, (name, kw) in enumerate(cases.items()):
        sim = simulate.traces(20, 6000, FS, seed=10 + i, **kw)
        y = sim.fluorescence
        truth = sim.spikes
        with quiet_warnings():
            r_oasis = mean_spike_r(calscope.deconvolve(y, FS).spikes, truth, FS)
        for est, net, lik in [(e, r, k) for e in estimators for r in networks
                              for k in likelihoods]:
            t0 = time.perf_counter()
            model = amortized.fit(y, FS, estimator=est, recognition=net, likelihood=lik,
                                  max_time_s=args.max_time)
            seconds = time.perf_counter() - t0
            for weight in blends:
                res = model.with_oasis_blend(weight).infer(y, FS)
                spike = truth > 0
                inside = float(np.mean(res.upper[spike] >= truth[spike]))
                quiet = float(np.mean(res.lower[~spike] == 0))
                label = f"{est}/{net}/{lik}/w={weight:g}"
                record = {"case": name, "estimator": est, "recognition": net, "likelihood": lik,
                          "oasis_blend": weight, "spike_r": mean_spike_r(res.spikes, truth, FS),
                          "oasis_r": r_oasis,
                          "count_ratio": float(np.nansum(res.spikes) / truth.sum()),
                          "true_spikes_in_band": inside, "quiet_frames_lower_0": quiet,
                          "train_s": seconds, "epochs": model.log.epochs, "settings": kw}
                records.append(record)
                rows.append([name, label, record["spike_r"], r_oasis, record["count_ratio"],
                             inside, quiet, seconds])
                print(f"  {name} [{label}]: r {record['spike_r']:.3f} (oasis {r_oasis:.3f}), "
                      f"in band {inside:.3f}, {seconds:.0f} s", flush=True)
    header = ["case", "estimator/network/noise/blend", "amortized r", "oasis r", "count ratio", "true spikes in 90%",
              "quiet frames lower=0", "train s"]
    print()
    print(format_table(header, rows))
    out = write_json(args.out, {"args": vars(args) | {"out": str(args.out)},
                                "table": {"header": header, "rows": rows}, "cases": records},
                     extra_packages=("torch",))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
