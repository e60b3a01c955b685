"""Accuracy of calscope's deconvolution against oasis-deconv on real ground truth.

Scores every method on every CASCADE dataset with calscope's 30 Hz protocol
(:mod:`calscope.metrics`), and on Spikefinder 4 and 6 (train) both with the official Spikefinder
score (deconvolved at the native 100 Hz) and with the 30 Hz protocol. A trace a method fails on
(raises, or returns NaN) scores r = 0 and is counted. Writes bench/results/deconv_accuracy.json.

Run: ``python bench/deconv_accuracy.py [--datasets DS09,SF4] [--methods calscope,oasis-ar1-l1]
[--variant calscope-ar2:order=2] [--max-recordings-per-neuron N] [--jobs 2]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one process per core; set before numpy loads

import argparse  # noqa: E402
import hashlib  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RESULTS_DIR, format_table, parse_settings, quiet_warnings, write_json,
)

import calscope  # noqa: E402
from calscope import metrics  # noqa: E402
from calscope.io.ground_truth import (  # noqa: E402
    cascade_dataset_dirs,
    load_cascade_dataset,
    load_spikefinder,
)

#: oasis-deconv settings: name -> (AR order, penalty: 1 = L1, 0 = L0); g, σ, b estimated.
OASIS_METHODS = {
    "oasis-ar1-l1": (1, 1),
    "oasis-ar1-l0": (1, 0),
    "oasis-ar2-l1": (2, 1),
    "oasis-ar2-l0": (2, 0),
}
SPIKEFINDER = ("4", "6")
SPIKEFINDER_FS = 100.0


@dataclass(frozen=True)
class Method:
    """A scored setting: ``kind`` is "calscope" (settings go to calscope.deconvolve), "oasis"
    or "naive" (the rectified increase of ΔF/F per frame)."""

    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    """One unit of parallel work: a CASCADE folder or a Spikefinder set, scored by all methods."""

    name: str
    path: Path
    methods: list[Method]
    max_per_neuron: int | None


def _oasis_one(y: np.ndarray, order: int, penalty: int) -> np.ndarray | None:
    """oasis-deconv's default call on one trace; None on an exception or non-finite output."""
    from oasis.functions import deconvolve

    # tau_r=None is oasis-deconv 0.3.2's (non-deprecated) spelling of g=(None, None): AR(2).
    extra = {"tau_r": None} if order == 2 else {}
    with quiet_warnings():
        try:
            s = np.asarray(deconvolve(np.ascontiguousarray(y), penalty=penalty, **extra)[1], float)
        except Exception:  # noqa: BLE001 - any peer failure is scored as r = 0 and counted
            return None
    return s if s.shape == y.shape and np.isfinite(s).all() else None


def _calscope_matrix(x: np.ndarray, fs: float, settings: dict[str, Any]) -> list[np.ndarray | None]:
    """calscope.deconvolve on a (n, T) matrix → n spike rows; on an exception, row by row."""
    with quiet_warnings():
        try:
            return list(np.asarray(calscope.deconvolve(x, fs, **settings).spikes, float))
        except Exception:  # noqa: BLE001 - retry each trace alone; failures are counted
            if x.shape[0] == 1:
                return [None]
            return [_calscope_matrix(row[None], fs, settings)[0] for row in x]


#: Amortized models fitted in this process, by (fs, traces, settings that change the fit):
#: variants that differ only in an inference setting (`INFERENCE_ONLY`) share one fit.
_FITTED: dict[tuple, Any] = {}
INFERENCE_ONLY = ("oasis_blend",)


def _amortized_rows(x: np.ndarray, fs: float, settings: dict[str, Any]) -> list[np.ndarray | None]:
    """One amortized model fitted on (n, T) ``x`` and inferred → n spike rows (None: failed)."""
    from calscope.infer import amortized

    fit_settings = {k: v for k, v in settings.items() if k not in (*INFERENCE_ONLY, "method")}
    key = (fs, hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest(),
           repr(sorted(fit_settings.items())))
    with quiet_warnings():
        try:
            if key not in _FITTED:
                _FITTED[key] = amortized.fit(x, fs, **fit_settings)
            model = _FITTED[key]
            if "oasis_blend" in settings:  # else the fitted model's own (the default)
                model = model.with_oasis_blend(float(settings["oasis_blend"]))
            return list(np.asarray(model.infer(x, fs).spikes, float))
        except Exception:  # noqa: BLE001 - a failed fit scores r = 0 on every trace, counted
            return [None] * len(x)


def predict(method: Method, traces: list[np.ndarray], fs: float) -> list[np.ndarray | None]:
    """Spike estimates of ``method`` for each 1-D trace at ``fs`` Hz (None where it failed).

    calscope gets the traces of equal length together as one matrix (no NaN padding, which
    would make its noise estimate depend on the padding); the amortized method gets all of a
    dataset's traces NaN-padded into one matrix, so it trains one model per dataset on them
    (no spike labels) and infers them; variants that differ only in `INFERENCE_ONLY` settings
    reuse the first one's model, so their ``seconds`` are inference only.
    """
    if method.kind == "oasis":
        order, penalty = OASIS_METHODS[method.name]
        return [_oasis_one(t, order, penalty) for t in traces]
    if method.kind == "naive":  # the rectified frame-to-frame increase of ΔF/F
        return [np.maximum(np.diff(t, prepend=t[0]), 0.0) for t in traces]
    out: list[np.ndarray | None] = [None] * len(traces)
    if method.settings.get("method") == "amortized":
        # one model per dataset: all its traces, NaN-padded to a common length
        T = max(t.size for t in traces)
        stacked = np.full((len(traces), T), np.nan)
        for i, t in enumerate(traces):
            stacked[i, :t.size] = t
        rows = _amortized_rows(stacked, fs, method.settings)
        return [None if r is None or not np.isfinite(r[:t.size]).all() else r[:t.size]
                for r, t in zip(rows, traces)]
    by_length: dict[int, list[int]] = {}
    for i, t in enumerate(traces):
        by_length.setdefault(t.size, []).append(i)
    for idx in by_length.values():
        rows = _calscope_matrix(np.stack([traces[i] for i in idx]), fs, method.settings)
        for i, r in zip(idx, rows):
            out[i] = r if r is not None and np.isfinite(r).all() else None
    return out


def _limit(recordings: list, max_per_neuron: int | None) -> list:
    """Keep at most ``max_per_neuron`` recordings of each (dataset, neuron), in file order."""
    if max_per_neuron is None:
        return recordings
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for r in recordings:
        k = (r.dataset, r.neuron)
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= max_per_neuron:
            kept.append(r)
    return kept


def _protocol_row(traces: list[metrics.ScoringTrace], method: Method) -> dict[str, Any]:
    """Score one method on prepared 30 Hz traces: median over neurons of mean r."""
    t0 = time.perf_counter()
    preds = predict(method, [t.dff for t in traces], metrics.PROTOCOL_FS)
    seconds = time.perf_counter() - t0
    res = metrics.score_predictions(traces, preds)
    ds = traces[0].dataset
    return {
        "r": res["per_dataset"][ds], "seconds": seconds, **res["counts"][ds],
        "per_neuron": res["per_neuron"].get(ds, {}),
    }


def _spikefinder_native(folder: Path, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(calcium, spike counts) per neuron at 100 Hz from the challenge CSVs, NaN padding trimmed."""
    ca, sp = (
        np.genfromtxt(folder / f"{name}.train.{kind}.csv", delimiter=",", skip_header=1, ndmin=2)
        for kind in ("calcium", "spikes")
    )
    out = []
    for j in range(ca.shape[1]):
        n = int(np.flatnonzero(np.isfinite(ca[:, j]))[-1]) + 1
        out.append((ca[:n, j], sp[:n, j]))
    return out


def _spikefinder_row(pairs: list[tuple[np.ndarray, np.ndarray]], method: Method) -> dict[str, Any]:
    """Official Spikefinder score: mean over neurons of the 25 Hz block-averaged r."""
    t0 = time.perf_counter()
    preds = predict(method, [c for c, _ in pairs], SPIKEFINDER_FS)
    seconds = time.perf_counter() - t0
    rs, failed, constant = [], 0, 0
    for p, (_, truth) in zip(preds, pairs):
        r = 0.0 if p is None else metrics.spikefinder_correlation(p, truth)
        failed += p is None
        if not np.isfinite(r):
            r, constant = 0.0, constant + 1
        rs.append(r)
    return {
        "r": float(np.mean(rs)), "seconds": seconds, "neurons": len(rs), "recordings": len(rs),
        "failed": failed, "constant": constant, "no_truth": 0,
        "per_neuron": {str(i): r for i, r in enumerate(rs)},
    }


def run_task(task: Task) -> dict[str, dict[str, Any]]:
    """Score all methods on one task → {row name: {method name: result}}."""
    rows: dict[str, dict[str, Any]] = {}
    if task.name.startswith("SF"):
        name = task.name[2:]
        pairs = _spikefinder_native(task.path, name)
        rows[f"SF{name} spikefinder score (100 Hz)"] = {
            m.name: _spikefinder_row(pairs, m) for m in task.methods
        }
        recs = _limit(load_spikefinder(task.path, name), task.max_per_neuron)
        label = f"SF{name} (30 Hz protocol)"
    else:
        recs = _limit(load_cascade_dataset(task.path), task.max_per_neuron)
        label = task.name
    traces = metrics.prepare_cascade(recs)
    rows[label] = {m.name: _protocol_row(traces, m) for m in task.methods} if traces else {}
    return rows


def _methods(args: argparse.Namespace) -> list[Method]:
    """Methods to score from the command line."""
    available = dict.fromkeys(["calscope", *OASIS_METHODS, "naive"])
    wanted = args.methods.split(",") if args.methods else list(available)
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise SystemExit(f"unknown --methods {unknown}; choose from {list(available)}")
    kinds = {**dict.fromkeys(OASIS_METHODS, "oasis"), "naive": "naive"}
    methods = [Method(m, kinds.get(m, "calscope")) for m in wanted]
    for spec in args.variant:
        name, _, text = spec.partition(":")
        methods.append(Method(name, "calscope", parse_settings(text)))
    return methods


def _tasks(args: argparse.Namespace, methods: list[Method], root: Path) -> list[Task]:
    """Tasks selected by --datasets (prefix match: "DS09", "SF4"), most work first."""
    tasks = [Task(d.name, d, methods, args.max_recordings_per_neuron)
             for d in cascade_dataset_dirs(root / "ground_truth" / "cascade")]
    sf_dir = root / "ground_truth" / "spikefinder"
    tasks += [Task(f"SF{n}", sf_dir, methods, args.max_recordings_per_neuron) for n in SPIKEFINDER]
    if args.datasets:
        prefixes = [p.strip() for p in args.datasets.split(",") if p.strip()]
        tasks = [t for t in tasks if any(t.name.startswith(p) for p in prefixes)]
    size = {t.name: sum(f.stat().st_size for f in t.path.glob("*")) for t in tasks}
    return sorted(tasks, key=lambda t: -size[t.name])


def summarize(rows: dict[str, dict[str, Any]], names: list[str]) -> tuple[list[str], list[list]]:
    """Table of median r (rows = datasets, columns = methods) with mean, mean rank and rank."""
    header = ["dataset", *names]
    table = [[row, *(rows[row].get(m, {}).get("r", float("nan")) for m in names)]
             for row in rows]
    r = np.array([[float(v) for v in line[1:]] for line in table])
    cascade = np.array([not row.startswith("SF") for row in rows])
    with np.errstate(all="ignore"):
        mean_all = np.nanmean(r, axis=0) if r.size else np.full(len(names), np.nan)
        mean_cascade = (np.nanmean(r[cascade], axis=0) if cascade.any()
                        else np.full(len(names), np.nan))
    # Rank per row (1 = best; NaN rows skipped), then averaged; overall rank by mean r.
    per_row_rank = np.array([_rank(line) for line in r]) if r.size else r
    table.append(["mean over CASCADE datasets", *mean_cascade])
    table.append(["mean over all rows", *mean_all])
    table.append(["mean rank over rows", *np.nanmean(per_row_rank, axis=0)])
    table.append(["rank (by mean over all rows)", *(int(x) for x in _rank(mean_all))])
    return header, table


def _rank(values: np.ndarray) -> np.ndarray:
    """Rank of each value, 1 = highest; NaN values get NaN."""
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    order = np.argsort(-values[ok], kind="stable")
    ranks = np.empty(order.size)
    ranks[order] = np.arange(1, order.size + 1)
    out[ok] = ranks
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", help="comma-separated prefixes, e.g. DS09,DS21,SF4 (default all)")
    p.add_argument("--methods",
                   help="comma-separated subset of calscope," + ",".join(OASIS_METHODS))
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VAL,...",
                   help="extra calscope setting, e.g. calscope-ar2:order=2 (repeatable)")
    p.add_argument("--max-recordings-per-neuron", type=int, default=None)
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--data", type=Path, default=None, help="shared data folder (auto-found)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "deconv_accuracy.json")
    args = p.parse_args(argv)

    root = args.data
    if root is None:
        from calscope.io.shared_data import shared_data_dir

        root = shared_data_dir()
        if root is None:
            raise SystemExit("shared data not found; pass --data /path/to/shared/data")
    methods = _methods(args)
    tasks = _tasks(args, methods, root)
    print(f"{len(tasks)} tasks × {len(methods)} methods on {args.jobs} processes …", flush=True)
    t0 = time.perf_counter()
    rows: dict[str, dict[str, Any]] = {}
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for done in pool.imap_unordered(run_task, tasks):
            for row, res in done.items():
                rows[row] = res
                print(f"  {row}: " + ", ".join(f"{m}={v['r']:.3f}" for m, v in res.items()),
                      flush=True)
    elapsed = time.perf_counter() - t0
    rows = dict(sorted(rows.items(), key=lambda kv: (kv[0].startswith("SF"), kv[0])))
    names = [m.name for m in methods]
    header, table = summarize(rows, names)
    print()
    print(format_table(header, table))
    failures = {m: sum(rows[r].get(m, {}).get("failed", 0) for r in rows) for m in names}
    constant = {m: sum(rows[r].get(m, {}).get("constant", 0) for r in rows) for m in names}
    print(f"\nfailed traces (scored r = 0): {failures}")
    print(f"constant predictions (scored r = 0): {constant}")
    print(f"wall time {elapsed:.0f} s")
    out = write_json(args.out, {
        "protocol": {
            "cascade": "ΔF/F resampled linearly to 30 Hz (NaN gaps bridged); truth = spikes per "
                       "30 Hz frame; both smoothed with a σ = 50 ms Gaussian; Pearson r per "
                       "recording, mean over a neuron's recordings, median over neurons",
            "spikefinder": "deconvolved at 100 Hz on the CSV calcium (NaN padding trimmed); "
                           "4-bin block means (25 Hz); Pearson r; mean over neurons",
            "failures": "a trace a method raises on or returns NaN for scores r = 0; a constant "
                        "prediction scores r = 0; recordings without spikes are left out",
        },
        "methods": [asdict(m) for m in methods],
        "oasis_settings": "oasis.functions.deconvolve(y, penalty=P) with g, sn, b estimated "
                          "(AR(2): tau_r=None, i.e. g=(None, None)); spikes = result.s",
        "calscope_call": "calscope.deconvolve(X, fs, **settings), X = a dataset's traces of "
                         "equal length as one matrix; fs = 30 or 100 Hz",
        "args": {k: v for k, v in vars(args).items() if k not in {"out"}},
        "wall_s": elapsed,
        "table": {"header": header, "rows": table},
        "failed_traces": failures,
        "constant_predictions": constant,
        "results": rows,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
