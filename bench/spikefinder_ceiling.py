"""What limits the supervised network on Spikefinder 4 and 6 (official score), measured.

The issue compares calscope on Spikefinder 4 / 6 with the challenge's entries, which were
trained on those very sets. This script measures four things about that comparison:

1. **Ceilings of the official score** (per neuron, 40 ms blocks at 25 Hz, Pearson r; mean over
   neurons) for *perfect* predictions of what calscope's network is trained to output: the true
   spikes smoothed by a Gaussian of σ (the supervised target is smoothed by 50 ms), sent
   through the network's 30 Hz grid and back (100 → 30 → 100 Hz, the count kept,
   `calscope.deconv.resample.counts_to_rate`), and both.
2. **In sample against held out** on set 6, whose nine neurons are DS17's (GCaMP5k, Akerboom
   2012): the shipped excitatory model, which trained on DS17, against the leave-one-out fold
   model that never saw it (``bench/.cache/supervised_loo/<--models>/DS17.pt``), the network
   alone and at the default blend.
3. **Units of set 6's calcium.** Each Spikefinder 6 neuron is matched to its DS17 recording
   (same spike count and duration) and its calcium regressed on DS17's ΔF/F (at DS17's frame
   times): the slope is the factor Spikefinder's calcium differs from ΔF/F by.
4. **Does that scale matter?** Both models' official scores on set 6 as released, and divided
   by each neuron's slope (back to DS17's ΔF/F; a diagnostic only, it uses DS17).

Run: ``python bench/spikefinder_ceiling.py [--models excitatory]`` (about a minute on 2 cores).
Writes bench/results/spikefinder_ceiling.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, quiet_warnings, write_json  # noqa: E402
from supervised_loo import CACHE_DIR, spikefinder_truth  # noqa: E402

from calscope import metrics  # noqa: E402
from calscope.deconv.resample import counts_to_rate  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.features import MODEL_FS  # noqa: E402
from calscope.io.ground_truth import load_cascade_dataset, load_spikefinder  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

SF_FS = 100.0
SIGMAS_MS = (0, 20, 35, 50, 100)
DS17 = "DS17-GCaMP5k-m-V1"


def official(preds: list[np.ndarray], truths: list[np.ndarray]) -> float:
    """Mean over neurons of the official Spikefinder correlation."""
    return float(np.mean([metrics.spikefinder_correlation(p, t) for p, t in zip(preds, truths)]))


def through_model_grid(counts: np.ndarray) -> np.ndarray:
    """Counts per 10 ms bin sent to the network's 30 Hz grid and back, the count kept."""
    n30 = int(np.floor((counts.size - 1) * MODEL_FS / SF_FS)) + 1
    return counts_to_rate(counts_to_rate(counts, SF_FS, MODEL_FS, n30), MODEL_FS, SF_FS,
                          counts.size)


def ceilings(truths: list[np.ndarray]) -> dict[str, float]:
    """Official score of perfect predictions of the smoothed target, at 100 and 30 Hz."""
    out = {}
    for sigma in SIGMAS_MS:
        smooth = [gaussian_filter1d(t, sigma / 10.0) if sigma else t for t in truths]
        out[f"{sigma} ms"] = official(smooth, truths)
        out[f"{sigma} ms, 30 Hz"] = official([through_model_grid(s) for s in smooth], truths)
    return out


def ds17_slopes(data: Path) -> list[float | None]:
    """Per Spikefinder 6 neuron, the slope of its calcium on its DS17 recording's ΔF/F (None
    where no DS17 recording matches its spike count and duration)."""
    sf6 = load_spikefinder(data / "ground_truth" / "spikefinder", "6")
    ds17 = load_cascade_dataset(data / "ground_truth" / "cascade" / DS17)
    slopes: list[float | None] = []
    for rec in sf6:
        duration = rec.dff.size / SF_FS
        match = [d for d in ds17 if d.spike_times.size == rec.spike_times.size
                 and abs(d.dff.size / d.fs - duration) < 1.0]
        if len(match) != 1:
            slopes.append(None)
            continue
        dff = match[0].dff
        calcium = np.interp(np.arange(dff.size) / match[0].fs, np.arange(rec.dff.size) / SF_FS,
                            rec.dff)
        ok = np.isfinite(dff) & np.isfinite(calcium)
        slope, _ = np.polyfit(dff[ok], calcium[ok], 1)
        slopes.append(float(slope))
    return slopes


def model_scores(model: supervised.SupervisedModel, sf: list[tuple[np.ndarray, np.ndarray]],
                 scale: list[float] | None = None) -> dict[str, float]:
    """Official score on a Spikefinder set: the network alone and at the model's blend."""
    scale = scale or [1.0] * len(sf)
    truths = [t for _, t in sf]
    out = {}
    for name, m in (("network alone", model.with_oasis_blend(0.0)), ("default blend", model)):
        preds = [np.nan_to_num(m.infer(dff / s, SF_FS).spikes) for (dff, _), s in zip(sf, scale)]
        out[name] = official(preds, truths)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="excitatory",
                   help="the leave-one-out run whose DS17 fold model is the held-out model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "spikefinder_ceiling.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    sets = {name: spikefinder_truth(data, name) for name in ("4", "6")}

    caps = {name: ceilings([t for _, t in sf]) for name, sf in sets.items()}
    print("Official score of perfect predictions (true spikes smoothed by σ; '30 Hz': sent "
          "through the network's grid and back)")
    print(format_table(["prediction", "Spikefinder 4", "Spikefinder 6"],
                       [[k, caps["4"][k], caps["6"][k]] for k in caps["4"]]))

    with quiet_warnings():
        shipped = supervised.load(device="cpu")
        held_out_file = CACHE_DIR / args.models / "DS17.pt"
        held = supervised.load(held_out_file, device="cpu") if held_out_file.is_file() else None
        held = held.with_oasis_blend(shipped.settings.oasis_blend,
                                     shipped.settings.oasis_blend_form) if held else None
        slopes = ds17_slopes(data)
        found = [s for s in slopes if s is not None]
        models = {"shipped (trained on DS17, the same neurons)": shipped,
                  **({"fold model (never saw DS17)": held} if held is not None else {})}
        rows = {}
        for name, model in models.items():
            rows[name] = model_scores(model, sets["6"])
            if len(found) == len(slopes):
                rows[f"{name}, calcium / slope"] = model_scores(model, sets["6"], found)
    print(f"\nSpikefinder 6, official score (default blend: {shipped.settings.oasis_blend} "
          f"{shipped.settings.oasis_blend_form})")
    print(format_table(["model", "network alone", "default blend"],
                       [[k, v["network alone"], v["default blend"]] for k, v in rows.items()]))
    if held is None:
        print(f"(no {held_out_file}: run supervised_loo.py for DS17 to score the held-out model)")
    print("\nSpikefinder 6 calcium against DS17's ΔF/F of the same neuron, slope per neuron: "
          + ", ".join("—" if s is None else f"{s:.2f}" for s in slopes))
    write_json(args.out, {"ceilings": caps, "spikefinder6": rows, "ds17_slopes": slopes,
                          "held_out_models": args.models})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
