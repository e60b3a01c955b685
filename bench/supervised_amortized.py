"""Leave-one-dataset-out: the supervised network mixed with the amortized VAE fitted on the
held-out data itself, against each alone and calscope's OASIS.

The supervised network learned its corrections of OASIS on the training indicators; the
amortized method (docs/amortized.md) learns nothing from labels but fits its calcium model to
the recording it is given, so it adapts to an indicator no training set holds. Where one errs
the other may not. For each leave-one-dataset-out group the held-out datasets are scored by:

- ``supervised``: the default excitatory settings' fold model (those of ``supervised_loo.py
  --never-train <interneurons> --folds-dir .../excitatory``, kept in bench/.cache, trained here
  when missing) at its default ``oasis_blend`` (0.5); the interneuron-only groups, which no
  excitatory model trains on, by the shipped excitatory model;
- ``network``: the same model alone (``oasis_blend`` 0);
- ``amortized``: the amortized method's default (one model fitted per held-out dataset on all
  its recordings, no labels, as in ``deconv_accuracy.py``), and ``posterior`` (its network
  alone);
- ``oasis``: calscope's OASIS;
- mixes w₁ · network + w₂ · posterior + w₃ · OASIS for every weight triple on a grid of
  eighths (`GRID`), each part first rescaled per trace to the network's spike count (as the
  OASIS half of the supervised blend is); three are named (`NAMED`), and the mix chosen for
  each fold by its best mean r over the other folds is reported as "nested mix".

Spikefinder 4 (every fold) and 6 (the DS17 fold) are scored with the official rule; the
amortized fits on them (one per set, at 100 Hz) and on each held-out dataset are kept in
bench/.cache/amortized_fits/ so reruns and other folds reuse them.

Run: ``python bench/supervised_amortized.py [--groups DS05,DS21] [--threads 1]``; each fold is
written to bench/results/supervised_amortized/<group>.json when done (kept and reused), and the
summary (over the folds present) to bench/results/supervised_amortized.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, quiet_warnings, write_json  # noqa: E402
from supervised_loo import (CACHE_DIR, GROUPS, _infer, fold_file, fold_model,  # noqa: E402
                            held_out_traces, oasis_predictions, spikefinder_truth)

import calscope  # noqa: E402
from calscope import metrics  # noqa: E402
from calscope.infer import amortized, supervised  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

#: interneuron datasets: no excitatory model trains on them (scored by the shipped one)
INTERNEURONS = ("DS22", "DS23", "DS24", "DS25", "DS26", "DS27", "DS33", "DS41")
EXPERIMENT = "excitatory"
OUT = RESULTS_DIR / "supervised_amortized"
FIT_CACHE = Path(__file__).resolve().parent / ".cache" / "amortized_fits"
SINGLE = ("supervised", "network", "amortized", "posterior", "oasis")
#: mixes (network, posterior, OASIS) weights: every multiple of 1/8 summing to 1
GRID = [(a / 8, b / 8, (8 - a - b) / 8) for a in range(9) for b in range(9 - a)]
#: named points of the grid
NAMED = {"supervised+amortized": (0.25, 0.25, 0.5), "network+amortized": (0.5, 0.25, 0.25),
         "network+posterior": (0.5, 0.5, 0.0)}


def amortized_predictions(name: str, dffs: list[np.ndarray], fs: float
                          ) -> dict[str, list[np.ndarray | None]]:
    """The amortized default and its posterior alone for 1-D traces at ``fs``: one model fitted
    on all of them NaN-padded (no labels), kept in `FIT_CACHE` under ``name``."""
    kept = FIT_CACHE / f"{name}.npz"
    if kept.is_file():
        z = np.load(kept)
        return {k: [z[f"{k}_{i}"] if z[f"{k}_ok"][i] else None for i in range(len(dffs))]
                for k in ("amortized", "posterior")}
    T = max(d.size for d in dffs)
    x = np.full((len(dffs), T), np.nan)
    for i, d in enumerate(dffs):
        x[i, :d.size] = d
    out: dict[str, list] = {}
    with quiet_warnings():
        model = amortized.fit(x, fs)
        for key, m in (("amortized", model), ("posterior", model.with_oasis_blend(0.0))):
            s = np.asarray(m.infer(x, fs).spikes, float)
            out[key] = [s[i, :d.size] if np.isfinite(s[i, :d.size]).all() else None
                        for i, d in enumerate(dffs)]
    FIT_CACHE.mkdir(parents=True, exist_ok=True)
    arrays = {f"{k}_{i}": (r if r is not None else np.zeros(0))
              for k, rows in out.items() for i, r in enumerate(rows)}
    arrays.update({f"{k}_ok": np.array([r is not None for r in rows]) for k, rows in out.items()})
    np.savez(kept, **arrays)
    return out


def _scaled(part: np.ndarray | None, ref: np.ndarray | None) -> np.ndarray | None:
    """``part`` rescaled to ``ref``'s total (None where either is missing or ``part`` is 0)."""
    if part is None or ref is None:
        return None
    total = float(np.nansum(part))
    return part * (float(np.nansum(ref)) / total) if total > 0 else None


def mix_key(weights: tuple[float, float, float]) -> str:
    """"a/b/c" for weights of the network, the posterior and OASIS."""
    return "/".join(f"{w:.3f}" for w in weights)


def with_mixes(preds: dict[str, list]) -> dict[str, list]:
    """``preds`` plus every `GRID` mix of the network, the amortized posterior and OASIS, trace
    by trace, each part rescaled to the network's count (a mix is None where a part it weighs
    is)."""
    out = dict(preds)
    parts = list(zip(*[[_scaled(p, pn) for p, pn in zip(preds[k], preds["network"])]
                       for k in ("network", "posterior", "oasis")]))
    for weights in GRID:
        out[mix_key(weights)] = [
            None if any(p is None for p, w in zip(trace, weights) if w > 0)
            else sum(w * p for p, w in zip(trace, weights) if w > 0) for trace in parts]
    return out


def _supervised_preds(model: supervised.SupervisedModel, dffs: list[np.ndarray], fs: float
                      ) -> dict[str, list]:
    class Trace:  # the interface `_infer` reads
        def __init__(self, dff: np.ndarray) -> None:
            self.dff, self.fs = dff, fs

    return {"supervised": [_infer(model, Trace(d)) for d in dffs],
            "network": [_infer(model.with_oasis_blend(0.0), Trace(d)) for d in dffs]}


def spikefinder_scores(model: supervised.SupervisedModel, data: Path, name: str
                       ) -> dict[str, float]:
    dffs, truths = zip(*spikefinder_truth(data, name))
    preds = {**_supervised_preds(model, dffs, 100.0),
             **amortized_predictions(f"SF{name}", dffs, 100.0)}
    with quiet_warnings():
        preds["oasis"] = [calscope.deconvolve(d, 100.0).spikes for d in dffs]
    return {k: float(np.mean([0.0 if p is None else
                              metrics.spikefinder_correlation(np.nan_to_num(p), t)
                              for p, t in zip(v, truths)]))
            for k, v in with_mixes(preds).items()}


def score_fold(group: str, data: Path) -> dict:
    if all(d in INTERNEURONS for d in GROUPS[group]):
        # the shipped excitatory model: trained on every excitatory dataset, on none of these
        model = supervised.load(cell_type="excitatory")
    else:
        model, _ = fold_model(group, data, {}, CACHE_DIR / EXPERIMENT, INTERNEURONS)
    traces = held_out_traces(group, data)
    preds: dict[str, list] = {k: [None] * len(traces) for k in SINGLE}
    for ds in sorted({t.dataset for t in traces}):
        idx = [i for i, t in enumerate(traces) if t.dataset == ds]
        dffs = [traces[i].dff for i in idx]
        t0 = time.perf_counter()
        fitted = amortized_predictions(ds, dffs, metrics.PROTOCOL_FS)
        print(f"  {ds}: amortized {time.perf_counter() - t0:.0f} s", flush=True)
        for k, rows in fitted.items():
            for i, r in zip(idx, rows):
                preds[k][i] = r
    sup = _supervised_preds(model, [t.dff for t in traces], metrics.PROTOCOL_FS)
    preds.update(sup)
    preds["oasis"] = oasis_predictions(traces)
    out = {"group": group,
           "r": {k: metrics.score_predictions(traces, v)["per_dataset"]
                 for k, v in with_mixes(preds).items()},
           "SF4": spikefinder_scores(model, data, "4")}
    if group == "DS17":
        out["SF6"] = spikefinder_scores(model, data, "6")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", default=",".join(GROUPS))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data_dir()
    for group in args.groups.split(","):
        path = OUT / f"{fold_file(group)}.json"
        if not path.is_file():
            print(f"fold {group}", flush=True)
            write_json(path, score_fold(group, data))
    folds = {f["group"]: f for f in (json.loads(q.read_text()) for q in sorted(OUT.glob("*.json")))}
    print(summarize(folds))


def _per_dataset(fold: dict, method: str) -> dict[str, float]:
    return fold["r"][method]


def summarize(folds: dict[str, dict]) -> str:
    """Tables of the single methods, the named mixes and the nested choice of a mix (the grid
    point with the best mean r over the other folds), and of every grid point; written to
    bench/results/supervised_amortized.json."""
    def mean_r(groups: list[str], method: str) -> float:
        return float(np.mean([r for g in groups for r in _per_dataset(folds[g], method).values()]))

    chosen, nested = {}, {}
    for g in folds:
        others = [o for o in folds if o != g]
        chosen[g] = max(map(mix_key, GRID), key=lambda k: mean_r(others, k))
        nested.update(_per_dataset(folds[g], chosen[g]))
    columns = [*SINGLE, *map(mix_key, NAMED.values())]
    datasets = [(g, ds) for g in folds for ds in sorted(_per_dataset(folds[g], "oasis"))]
    rows = [[ds, *[folds[g]["r"][m][ds] for m in columns], nested[ds]] for g, ds in datasets]

    def stats(method_rows: np.ndarray, oasis: np.ndarray) -> list:
        return [method_rows.mean(), int((method_rows > oasis + 1e-9).sum()),
                float((method_rows - oasis).min())]

    r = np.array([row[1:] for row in rows], dtype=float)
    oasis = r[:, columns.index("oasis")]
    rows += [[name, *vals] for name, vals in zip(
        ("mean", "better than OASIS", "worst r − OASIS"),
        zip(*[stats(r[:, k], oasis) for k in range(r.shape[1])]))]
    excitatory = np.array([not ds.startswith(INTERNEURONS) for _, ds in datasets])
    rows.append(["mean, excitatory datasets", *r[excitatory].mean(0)])
    sf6 = next((f["SF6"] for f in folds.values() if "SF6" in f), None)
    rows.append(["SF4 (mean over folds)",
                 *[float(np.mean([f["SF4"][m] for f in folds.values()])) for m in columns],
                 float(np.mean([f["SF4"][chosen[g]] for g, f in folds.items()]))])
    if sf6:
        rows.append(["SF6", *[sf6[m] for m in columns], sf6[chosen["DS17"]]])
    names = {mix_key(w): n for n, w in NAMED.items()}
    header = ["dataset", *[names.get(c, c) for c in columns], "nested mix"]
    grid = []
    for w in GRID:
        k = mix_key(w)
        per = np.array([folds[g]["r"][k][ds] for g, ds in datasets])
        grid.append([k, *stats(per, oasis),
                     float(np.mean([f["SF4"][k] for f in folds.values()])),
                     sf6[k] if sf6 else None])
    grid.sort(key=lambda row: -row[1])
    grid_header = ["network/posterior/OASIS", "mean r", "better than OASIS", "worst r − OASIS",
                   "SF4", "SF6"]
    write_json(RESULTS_DIR / "supervised_amortized.json",
               {"table": {"header": header, "rows": rows},
                "grid": {"header": grid_header, "rows": grid}, "chosen": chosen,
                "folds": folds})
    return (format_table(header, rows) + "\n\nevery mix (weights of the network, the amortized "
            "posterior and OASIS), by mean r:\n" + format_table(grid_header, grid)
            + f"\nnested choice per fold: {chosen}")

if __name__ == "__main__":
    main()
