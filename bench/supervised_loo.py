"""Leave-one-dataset-out accuracy of the supervised network on real ground truth.

For every group of CASCADE datasets (datasets from one paper or one mouse are left out together,
stricter than one folder at a time), train on all other groups and score the held-out group with
calscope's 30 Hz protocol, next to calscope's OASIS on the same recordings. The fold holding
DS17 (GCaMP5k, Akerboom 2012, the source of Spikefinder 6) also scores Spikefinder 6, and every
fold model scores Spikefinder 4 (OGB-1 retina, in no CASCADE dataset), both with the official
rule at 100 Hz. Spike-count error and bias per dataset are reported as CASCADE does:
per neuron |Σ pred − Σ true| / Σ true and (Σ pred − Σ true) / Σ true, median over neurons.
Every fold model is scored as the network alone (``oasis_blend`` 0) and with calscope's OASIS
mixed into its output at several weights (`BLENDS`, inference only); the summary's first column
is the settings' default weight, and the weight chosen without each held-out fold is reported.
Every fold is also scored with its held-out recordings downsampled to `LOW_RATE_HZ` (7.5 Hz)
by frame averages, next to calscope's OASIS at that rate (`low_rate_scores`).

Each fold's result is written to bench/results/supervised_loo/<group>.json as soon as it is done,
and a fold's training checkpoints every epoch, so an interrupted run continues where it stopped.
Each trained fold model is kept in bench/.cache/supervised_loo/<folds-dir name>/<group>.pt and
reused (no retraining) when a fold is scored again with the same training settings (the
inference settings `INFERENCE_SETTINGS` may differ; ``--models`` names another run's models):
after its JSON was removed, or for every fold with ``--rescore`` (after a change to inference
or scoring).
The amortized column is read from bench/results/infer_accuracy.json (an earlier run, same
protocol) when present.

Run: ``python bench/supervised_loo.py [--groups DS09,DS17] [--set epochs=12] [--folds-dir DIR]
[--rescore] [--never-train DS22,DS23] [--models NAME] [--card MODEL.pt] [--train-spikefinder 4]``
(``--set simulated_minutes=0`` trains without the simulated recordings; ``--train-spikefinder``
adds Spikefinder sets to every fold's training, at the rate they were recorded, which makes
their scores in sample).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, parse_settings, quiet_warnings, write_json  # noqa: E402

import calscope  # noqa: E402
from calscope import metrics  # noqa: E402
from calscope.config import SupervisedSettings  # noqa: E402
from calscope.infer import supervised  # noqa: E402
from calscope.infer.card_check import check_recordings  # noqa: E402
from calscope.deconv.bandwidth import native_rate  # noqa: E402
from calscope.deconv.resample import counts_to_rate, resample  # noqa: E402
from calscope.io.ground_truth import load_spikefinder  # noqa: E402
from calscope.io.shared_data import shared_data_dir  # noqa: E402

#: Left out together: one paper's datasets, and DS28 with DS33 (same mouse, see the data README).
GROUPS = {
    "DS03": ["DS03"], "DS04": ["DS04"], "DS05": ["DS05"], "DS06": ["DS06"], "DS07": ["DS07"],
    "DS08": ["DS08"], "DS09": ["DS09"], "DS10/11": ["DS10", "DS11"], "DS12/13": ["DS12", "DS13"],
    "DS17": ["DS17"], "DS18": ["DS18"], "DS19": ["DS19"], "DS20": ["DS20"], "DS21": ["DS21"],
    "DS22/23": ["DS22", "DS23"], "DS24/25/26": ["DS24", "DS25", "DS26"], "DS27": ["DS27"],
    "DS28/33": ["DS28", "DS33"], "DS29": ["DS29"], "DS40/41": ["DS40", "DS41"],
}
#: `oasis_blend` weights scored on every fold model besides 0 (inference only, on one fit).
BLENDS = (0.25, 0.5, 0.75, 1.0)
#: every fold is also scored on its held-out recordings downsampled to this rate (frame averages)
LOW_RATE_HZ = 7.5
FOLD_DIR = RESULTS_DIR / "supervised_loo"
#: the amortized column: the default amortized model (oasis_blend 0.5), an earlier run
AMORTIZED_REFERENCE = (RESULTS_DIR / "infer_accuracy_oasis_blend.json", "amortized-blend50")
CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "supervised_loo"
#: settings of inference only: a kept fold model is reused with these changed (no retraining)
INFERENCE_SETTINGS = ("oasis_blend", "oasis_blend_form")


def count_stats(preds: list[np.ndarray], traces: list[metrics.ScoringTrace]) -> dict[str, dict]:
    """Per dataset: median over neurons of the spike-count error and bias (CASCADE's)."""
    sums: dict[tuple[str, str], list[float]] = {}
    for p, tr in zip(preds, traces):
        s = sums.setdefault((tr.dataset, tr.neuron), [0.0, 0.0])
        s[0] += float(np.nansum(p))
        s[1] += float(tr.counts.sum())
    out: dict[str, dict[str, list[float]]] = {}
    for (ds, _), (pred, true) in sums.items():
        if true > 0:
            d = out.setdefault(ds, {"error": [], "bias": []})
            d["error"].append(abs(pred - true) / true)
            d["bias"].append((pred - true) / true)
    return {ds: {k: float(np.median(v)) for k, v in d.items()} for ds, d in out.items()}


def _infer(model: supervised.SupervisedModel, tr: metrics.ScoringTrace) -> np.ndarray | None:
    """The model's spikes, or None (scored r = 0) where it refuses the trace (e.g. too short)."""
    try:
        return model.infer(tr.dff, tr.fs).spikes
    except calscope.InputError:
        return None


def oasis_predictions(traces: list[metrics.ScoringTrace]) -> list[np.ndarray | None]:
    out = []
    with quiet_warnings():
        for tr in traces:
            try:
                out.append(calscope.deconvolve(tr.dff, tr.fs).spikes)
            except Exception:  # noqa: BLE001 - a failure scores r = 0, as in the other benches
                out.append(None)
    return out


def spikefinder_truth(data: Path, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(calcium at 100 Hz, true spike count per 10 ms bin) of each neuron of Spikefinder set
    ``name``."""
    out = []
    for rec in load_spikefinder(data / "ground_truth" / "spikefinder", name):
        truth = np.zeros(rec.dff.size)
        np.add.at(truth, np.floor(rec.spike_times * 100.0).astype(int).clip(0, truth.size - 1), 1)
        out.append((rec.dff, truth))
    return out


def spikefinder_score(model: supervised.SupervisedModel, data: Path, name: str) -> float:
    return float(np.mean([
        metrics.spikefinder_correlation(np.nan_to_num(model.infer(dff, 100.0).spikes), truth)
        for dff, truth in spikefinder_truth(data, name)]))


def low_rate_scores(model: supervised.SupervisedModel,
                    traces: list[metrics.ScoringTrace]) -> dict[str, dict[str, float]]:
    """r per dataset with the recordings downsampled to `LOW_RATE_HZ` by frame averages (a
    slower scan of the same cells): inferred at that rate, the spikes spread back onto the
    protocol's grid and scored against its truth. The network alone ("0.0"), the model's own
    blend weight, and calscope's OASIS at the same rate."""
    low = [replace(tr, dff=resample(tr.dff, tr.fs, LOW_RATE_HZ), fs=LOW_RATE_HZ)
           for tr in traces]  # only dff and fs are read from these

    def scored(spikes: list[np.ndarray | None]) -> dict[str, float]:
        back = [None if s is None else counts_to_rate(np.nan_to_num(s), LOW_RATE_HZ, tr.fs,
                                                      tr.dff.size)
                for s, tr in zip(spikes, traces)]
        return metrics.score_predictions(traces, back)["per_dataset"]

    out = {str(w): scored([_infer(model.with_oasis_blend(w), lt) for lt in low])
           for w in sorted({0.0, model.settings.oasis_blend})}
    out["oasis"] = scored(oasis_predictions(low))
    return out


def fold_file(group: str) -> str:
    """A fold's file stem ("DS10/11" → "DS10_11")."""
    return group.replace("/", "_")


def held_out_traces(group: str, data: Path) -> list[metrics.ScoringTrace]:
    """The recordings of the group's datasets on the scoring protocol's grid."""
    root = data / "ground_truth" / "cascade"
    return metrics.prepare_cascade(
        [r for d in sorted(root.iterdir()) if any(d.name.startswith(h) for h in GROUPS[group])
         for r in supervised.load_cascade_dataset(d)])


def spikefinder_at_native_rate(data: Path, names: Sequence[str]) -> list:
    """The Spikefinder sets ``names`` as ground truth at the rate each neuron was recorded
    (detected; the released files hold it resampled up to 100 Hz)."""
    recordings = []
    for name in names:
        for rec in load_spikefinder(data / "ground_truth" / "spikefinder", name):
            fs = native_rate(rec.dff, rec.fs)
            dff = resample(rec.dff, rec.fs, fs)
            recordings.append(replace(rec, dff=dff, time=np.arange(dff.size) / fs, fs=fs))
    return recordings


def fold_model(group: str, data: Path, overrides: dict, cache: Path,
               never: Sequence[str] = (), spikefinder: Sequence[str] = ()
               ) -> tuple[supervised.SupervisedModel, float]:
    """The fold's model trained without the group (nor the datasets in ``never``) and with
    the Spikefinder sets ``spikefinder``, and its training seconds: read from ``cache`` when a
    model with the same settings is kept there, else trained and kept."""
    name = fold_file(group)
    kept = cache / f"{name}.pt"
    settings = SupervisedSettings(**overrides)
    if kept.is_file():
        model = supervised.load(kept)
        inference = {k: getattr(settings, k) for k in INFERENCE_SETTINGS}
        if model.settings.model_copy(update=inference) == settings:
            return (model.with_oasis_blend(settings.oasis_blend, settings.oasis_blend_form),
                    float(model.card.get("train_seconds", float("nan"))))
    recordings = supervised.load_ground_truth(data / "ground_truth" / "cascade",
                                              exclude=[*GROUPS[group], *never])
    model = supervised.train(recordings + spikefinder_at_native_rate(data, spikefinder),
                             checkpoint=cache / f"{name}.ckpt",
                             progress=lambda e, n, loss: print(f"  {group} epoch {e}/{n} loss "
                                                               f"{loss:.4f}", flush=True),
                             **overrides)
    cache.mkdir(parents=True, exist_ok=True)
    model.save(kept)
    return model, model.log.seconds


def with_inference_settings(model: supervised.SupervisedModel, settings: SupervisedSettings,
                            data: Path) -> supervised.SupervisedModel:
    """``model`` with the inference settings of ``settings`` (those the run was scored with),
    and its card's check recomputed with them when they changed."""
    changed = model.with_oasis_blend(settings.oasis_blend, settings.oasis_blend_form)
    if changed.settings == model.settings:
        return model
    changed = replace(changed, card=json.loads(json.dumps(model.card)))  # not the model's own
    check = check_recordings(model.card, data / "ground_truth" / "cascade")
    changed.card["check"]["r"] = supervised.slice_score(changed, check)
    return changed


def run_fold(group: str, data: Path, overrides: dict, cache: Path,
             never: Sequence[str] = (), spikefinder: Sequence[str] = ()) -> dict:
    model, train_s = fold_model(group, data, overrides, cache, never, spikefinder)
    traces = held_out_traces(group, data)
    network = model.with_oasis_blend(0.0)
    t1 = time.perf_counter()
    preds = [_infer(network, tr) for tr in traces]
    infer_s = time.perf_counter() - t1
    oasis = oasis_predictions(traces)
    result = {  # "supervised", "SF4", "SF6": the network alone; "blends": with OASIS mixed in
        "group": group, "train_s": train_s, "infer_s": infer_s, "settings": overrides,
        "never_trained": list(never), "spikefinder_trained": list(spikefinder),
        "supervised": metrics.score_predictions(traces, preds)["per_dataset"],
        "oasis": metrics.score_predictions(traces, oasis)["per_dataset"],
        "counts": count_stats(preds, traces),
        "SF4": spikefinder_score(network, data, "4"),
    }
    if group == "DS17":
        result["SF6"] = spikefinder_score(network, data, "6")
    result["low_rate"] = low_rate_scores(model, traces)
    result["blends"] = {}
    for weight in sorted({*BLENDS, SupervisedSettings(**overrides).oasis_blend} - {0.0}):
        blended = model.with_oasis_blend(weight)
        result["blends"][str(weight)] = {
            "supervised": metrics.score_predictions(
                traces, [_infer(blended, tr) for tr in traces])["per_dataset"],
            "SF4": spikefinder_score(blended, data, "4"),
            **({"SF6": spikefinder_score(blended, data, "6")} if group == "DS17" else {}),
        }
    return result


def at_weight(fold: dict, weight: str) -> dict:
    """A fold's scores ("supervised" per dataset, "SF4", maybe "SF6") at ``oasis_blend`` weight
    (a key of its "blends", or "0" for the network alone)."""
    if float(weight) == 0:
        return fold
    return fold["blends"][str(float(weight))]


def scores(fold: dict, weight: str) -> dict[str, float]:
    """A fold's r per held-out dataset at ``oasis_blend`` weight."""
    return at_weight(fold, weight)["supervised"]


def without(fold: dict, never: Sequence[str]) -> dict:
    """The fold's scores without the held-out datasets named in ``never`` (a model of one cell
    type is summarised on its own type only; `supervised_cell_types.py` scores the rest)."""
    def keep(per_dataset: dict) -> dict:
        return {ds: v for ds, v in per_dataset.items() if not ds.startswith(tuple(never))}

    out = {**fold, "supervised": keep(fold["supervised"]), "oasis": keep(fold["oasis"]),
           "counts": keep(fold["counts"])}
    if "blends" in fold:
        out["blends"] = {w: {**b, "supervised": keep(b["supervised"])}
                         for w, b in fold["blends"].items()}
    if "low_rate" in fold:
        out["low_rate"] = {k: keep(v) for k, v in fold["low_rate"].items()}
    return out


def blend_summary(folds: dict[str, dict]) -> dict[str, Any]:
    """Scores of every `oasis_blend` weight, and the weight chosen without the held-out fold.

    For each fold the weight with the best mean r over the *other* folds' datasets is picked
    and that fold's datasets are scored with it (nested: the choice never sees the fold).
    """
    with_blends = {g: f for g, f in folds.items() if "blends" in f}
    if not with_blends:
        return {}
    weights = ["0", *next(iter(with_blends.values()))["blends"]]

    def mean_r(groups: list[str], w: str) -> float:
        return float(np.mean([r for g in groups for r in scores(with_blends[g], w).values()]))

    nested, chosen = {}, {}
    for g in with_blends:
        others = [o for o in with_blends if o != g]
        chosen[g] = max(weights, key=lambda w: mean_r(others, w))
        nested.update(scores(with_blends[g], chosen[g]))
    every = list(with_blends)
    return {
        "mean_r": {w: mean_r(every, w) for w in weights},
        "SF4": {w: float(np.mean([at_weight(f, w)["SF4"] for f in with_blends.values()]))
                for w in weights},
        "SF6": {w: at_weight(f, w)["SF6"] for f in with_blends.values() if "SF6" in f
                for w in weights},
        "chosen": chosen, "nested_per_dataset": nested,
        "nested_mean_r": float(np.mean(list(nested.values()))),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", default=",".join(GROUPS), help="fold names, comma-separated")
    p.add_argument("--set", action="append", default=[], help="supervised setting key=value")
    p.add_argument("--data", type=Path, default=None, help="shared data folder")
    p.add_argument("--out", type=Path, default=None,
                   help="summary JSON (default: the folds directory's name + .json)")
    p.add_argument("--folds-dir", type=Path, default=FOLD_DIR,
                   help="where each fold's result is kept (one folder per experiment)")
    p.add_argument("--models", default=None,
                   help="folder of the kept fold models under bench/.cache/supervised_loo "
                   "(default: the folds directory's name); fold models trained with other "
                   "inference settings only (oasis_blend, oasis_blend_form) are reused")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2; run two "
                   "processes of 1 thread on disjoint --groups to use 2 cores better)")
    p.add_argument("--rescore", action="store_true",
                   help="score every fold again from its kept model (inference only; after a "
                   "change to inference or scoring)")
    p.add_argument("--never-train", default="",
                   help="dataset prefixes left out of every fold's training and summary (e.g. "
                   "the interneuron datasets, for a model of one cell class); groups made only "
                   "of them are skipped")
    p.add_argument("--train-spikefinder", default="",
                   help="Spikefinder sets added to every fold's training (e.g. 4), at the rate "
                   "they were recorded; their scores are then in sample")
    p.add_argument("--card", type=Path, default=None,
                   help="a model (.pt) whose card gets these scores as its 'validation'")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data or shared_data_dir()
    overrides = {k: v for s in args.set for k, v in parse_settings(s).items()}
    never = [d.strip() for d in args.never_train.split(",") if d.strip()]
    spikefinder = [d.strip() for d in args.train_spikefinder.split(",") if d.strip()]
    args.folds_dir.mkdir(parents=True, exist_ok=True)
    models = CACHE_DIR / (args.models or args.folds_dir.name)
    if args.out is None:
        args.out = args.folds_dir.with_suffix(".json")
    folds = {}
    for group in args.groups.split(","):
        if never and all(d.startswith(tuple(never)) for d in GROUPS[group]):
            print(f"fold {group}: every dataset of it is in --never-train, skipped", flush=True)
            continue
        path = args.folds_dir / f"{fold_file(group)}.json"
        stored = json.loads(path.read_text()) if path.is_file() else {}
        kept = (stored.get("settings") == overrides
                and stored.get("never_trained", []) == never
                and stored.get("spikefinder_trained", []) == spikefinder)
        if kept and not args.rescore:
            folds[group] = stored
            if "low_rate" not in folds[group]:  # a fold scored before the low-rate column
                model, _ = fold_model(group, data, overrides, models, never, spikefinder)
                folds[group]["low_rate"] = low_rate_scores(model, held_out_traces(group, data))
                write_json(path, folds[group])
            continue
        print(f"fold {group}: training without {GROUPS[group]}", flush=True)
        folds[group] = run_fold(group, data, overrides, models, never, spikefinder)
        write_json(path, folds[group])
    if never:
        folds = {g: without(f, never) for g, f in folds.items()}
    amortized = {}
    previous, column = AMORTIZED_REFERENCE
    if previous.is_file():
        rows = json.loads(previous.read_text())["table"]
        col = rows["header"].index(column) if column in rows["header"] else None
        amortized = {r[0]: r[col] for r in rows["rows"]} if col else {}
    run_settings = SupervisedSettings(**overrides)
    weight = str(run_settings.oasis_blend)
    blend = f"oasis_blend {weight} {run_settings.oasis_blend_form}"
    header = ["dataset", f"supervised ({blend})", "network alone", "OASIS",
              "amortized*", "count error", "count bias"]
    table = []
    for fold in folds.values():
        for ds in sorted(fold["supervised"]):
            c = fold["counts"].get(ds, {})
            table.append([ds, scores(fold, weight)[ds], fold["supervised"][ds], fold["oasis"][ds],
                          amortized.get(ds), c.get("error"), c.get("bias")])
    means = [float(np.mean([r[k] for r in table])) for k in (1, 2, 3)]
    wins = sum(r[1] > r[3] for r in table)
    table.append(["mean over datasets", *means, None, None, None])
    sf4 = [at_weight(f, weight)["SF4"] for f in folds.values()]
    sf6 = [at_weight(f, weight)["SF6"] for f in folds.values() if "SF6" in f]
    print(format_table(header, table))
    print(f"supervised ({blend}) beats OASIS on {wins} of {len(table) - 1} datasets")
    trained = ", in sample" if spikefinder else ""
    print(f"Spikefinder 4 (official score{trained if '4' in spikefinder else ''}), fold models: "
          f"mean {np.mean(sf4):.3f} (min {np.min(sf4):.3f}, max {np.max(sf4):.3f})")
    if sf6:
        print(f"Spikefinder 6 (official score{trained if '6' in spikefinder else ''}), trained "
              f"without DS17: {sf6[0]:.3f}")
    print(f"* amortized: column {column} of {previous.name} (an earlier run, same protocol)")
    blends = blend_summary(folds)
    if blends:
        oasis_r = {r[0]: r[3] for r in table[:-1]}
        nested = blends["nested_per_dataset"]
        print(format_table(["oasis_blend", "mean r", "SF4", "SF6"],
                           [[w, blends["mean_r"][w], blends["SF4"][w], blends["SF6"].get(w)]
                            for w in blends["mean_r"]]))
        print(f"weight chosen without each fold: mean r {blends['nested_mean_r']:.3f}, better "
              f"than OASIS on {sum(nested[d] > oasis_r[d] for d in nested)} of {len(nested)}; "
              f"chosen {sorted(set(blends['chosen'].values()))}")
    low = [f["low_rate"] for f in folds.values() if "low_rate" in f]
    if low:
        cols = ["0.0", weight, "oasis"] if weight != "0.0" else ["0.0", "oasis"]
        rows = [[ds, *[f[c][ds] for c in cols]] for f in low for ds in sorted(f["oasis"])]
        r = np.array([row[1:] for row in rows])
        rows.append(["mean over datasets", *r.mean(0)])
        rows.append(["better than OASIS", *[int((r[:, k] > r[:, -1]).sum())
                                             for k in range(len(cols) - 1)], None])
        print(f"held-out recordings downsampled to {LOW_RATE_HZ:g} Hz:")
        print(format_table(["dataset", *[f"oasis_blend {c}" for c in cols[:-1]], "OASIS"],
                           rows))
    if args.card is not None:
        model = with_inference_settings(supervised.load(args.card), run_settings, data)
        model.card["validation"] = {
            "protocol": "leave-one-dataset-out (groups as in bench/supervised_loo.py), "
                        "calscope's 30 Hz protocol; Spikefinder: official score at 100 Hz",
            "oasis_blend": float(weight), "oasis_blend_form": run_settings.oasis_blend_form,
            "per_dataset_r": {r[0]: r[1] for r in table[:-1]},
            "network_alone_per_dataset_r": {r[0]: r[2] for r in table[:-1]},
            "oasis_per_dataset_r": {r[0]: r[3] for r in table[:-1]},
            "mean_r": means[0], "network_alone_mean_r": means[1], "oasis_mean_r": means[2],
            "folds": len(folds),
            "spikefinder4": float(np.mean(sf4)), "spikefinder6": sf6[0] if sf6 else None,
        }
        if low:
            model.card["validation"]["downsampled"] = {
                "rate_hz": LOW_RATE_HZ,
                "per_dataset_r": {ds: f[weight][ds] for f in low for ds in f["oasis"]},
                "oasis_per_dataset_r": {ds: f["oasis"][ds] for f in low for ds in f["oasis"]},
            }
        model.save(args.card)
        print(f"updated the card of {args.card}")
    write_json(args.out, {"table": {"header": header, "rows": table}, "wins": wins,
                          "SF4": sf4, "SF6": sf6, "blends": blends, "folds": folds,
                          "groups": GROUPS})


if __name__ == "__main__":
    main()
