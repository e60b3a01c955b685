"""Motion correction against Suite2p's registration: accuracy on simulated motion, and speed.

Movies from ``calscope.simulate.movie`` (30 Hz, known motion), rounded to uint16 photon counts
as a microscope writes them; Suite2p gets the same values as int16 (what its binary file
holds). Each tool runs with its defaults; the only settings changed are rigid-only runs
(``nonrigid`` off in both) and, below 512 px, the block size of the non-rigid case (side / 4 in
both: 64 px at 256 px, where the default 128 px gives 3 × 3 blocks). Cases (``--side``):

1. rigid: ``motion_px=6``, registered rigid-only and with the default non-rigid step;
2. non-rigid: ``motion_px=4, nonrigid_px=2``, non-rigid registration;
3. speed (``--speed-side``, 512): the non-rigid motion at 512 × 512 with both tools' defaults
   (128 px blocks), rigid-only and non-rigid. To save simulation time its movie is half as many
   simulated frames played forward then backward (motion stays continuous).

Scores, each tool in the same run (a shared 2-core machine: compare within a run):

- rigid shift error against ``sim.shifts`` (rigid case), after removing each tool's constant
  offset (its template sits anywhere near the scene: the median of estimate − truth per axis):
  RMS, 95th percentile and max of the per-frame error norm (pixels);
- displacement field error on a grid of every 8th interior pixel: calscope's
  ``Registration.displacement``; Suite2p's integer rigid offsets plus its block offsets
  upsampled by its own ``nonrigid.upsample_block_shifts`` (how it warps frames). The truth is
  the simulated field moved to template coordinates: both tools resample
  ``registered(y) = frame(y + D(y))`` and frame(p) = scene(p − d(p)), so the true D solves
  D(y) = d(y + D(y)) (3 fixed-point steps, bilinear). Each pixel's temporal median error (the
  template's offset and mean deformation) is removed first;
- residual motion: mean over frames of the Pearson correlation of each registered frame with
  the true motion-free mean image (noise-free: background + cells at their mean activity, the
  same scene the simulator moves), moved by the tool's own template offset at each pixel, over
  the interior (a margin of twice the largest motion + 2 px, which also hides Suite2p's
  wrap-around rolls); and the crispness (``calscope.motion.crispness``) of the registered mean
  image. Reference rows: the raw movie, and the movie registered with the true field
  (bilinear, like calscope; not for the speed case).

Speed: wall and process-CPU seconds of each run on the same in-memory movie, template
building included, one timed run each after an untimed warm-up of both tools on the first 40
frames (Suite2p's numba compilation). calscope = ``register`` + ``RegisteredMovie`` into a
float32 array; Suite2p = ``compute_reference_and_register_frames`` (both steps), writing a
float32 array too. Environment: ``NUMBA_THREADING_LAYER=workqueue`` unless set (numba's default
'omp' layer made Suite2p's parallel ufuncs ~30× slower on this machine) and OpenBLAS limited to
``--blas-threads`` (1) for both tools, with one calscope run at the library default on record
(calscope's many small matrix products ran 2–20× slower, erratically, with 2 OpenBLAS threads
on this busy 2-core machine).

Sign conventions (checked in every run: ``suite2p_sign_check`` in the JSON gives the error of
each sign): the simulator's d = (dy, dx) moves content by +dy rows; calscope's shifts are the
same. So are Suite2p's ``yoff``, ``xoff`` (it rolls each frame by (−yoff, −xoff): registered(y)
= frame(y + yoff)) and its block ``yoff1``, ``xoff1``, added to them.

Suite2p is not in the dev venv (see bench/README.md); without it the calscope rows still run.
Run: ``PYTHONPATH=<suite2p folder> python bench/motion_accuracy.py [--quick] [--frames 1000]
[--side 256] [--speed-side 512] [--seed 0] [--no-suite2p]``; writes
bench/results/motion_accuracy.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # before numba loads: see above

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
from scipy.ndimage import map_coordinates  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, format_table, write_json  # noqa: E402
from suite2p_peer import load_suite2p  # noqa: E402

from calscope import simulate  # noqa: E402
from calscope.config import MotionSettings  # noqa: E402
from calscope.motion import RegisteredMovie, crispness, register  # noqa: E402

FS = 30.0
WARMUP_FRAMES = 40
GRID_STEP = 8  # pixels between the points where displacement fields are compared
DEFAULT_BLOCK = 128  # both tools' default block size
BLAS: dict[str, int | None] = {"default": None, "limit": None}  # OpenBLAS threads, set in main
Field = Callable[[np.ndarray], np.ndarray]  # frame indices (n,) → (n, 2, Y, X) displacement


def chunks(n: int, size: int = 64) -> list[np.ndarray]:
    return [np.arange(i, min(i + size, n)) for i in range(0, n, size)]


class Case:
    """A simulated movie, its truth at the comparison points, and the interior mask."""

    def __init__(self, name: str, frames: int, side: int, motion_px: float, nonrigid_px: float,
                 block: int, seed: int, palindrome: bool = False) -> None:
        self.name, self.block, self.n = name, block, frames
        self.nonrigid = nonrigid_px > 0
        n_cells = max(10, round(60 * (side / 256) ** 2))
        simulated = (frames + 1) // 2 if palindrome else frames
        self.sim = simulate.movie(n_cells, simulated, (side, side), FS, motion_px=motion_px,
                                  nonrigid_px=nonrigid_px, seed=seed)
        # movie frame t shows simulated frame index[t]
        self.index = (np.concatenate([np.arange(simulated), np.arange(simulated)[::-1]])[:frames]
                      if palindrome else np.arange(frames))
        self.movie = np.empty((frames, side, side), dtype=np.uint16)
        for idx in chunks(frames):
            self.movie[idx] = np.clip(np.rint(self.sim.movie[self.index[idx]]), 0, 65535)
        self.shifts = self.sim.shifts[self.index]
        self.settings = dict(n_cells=n_cells, frames=frames, simulated_frames=simulated,
                             palindrome=palindrome, shape=[side, side], fs=FS,
                             motion_px=motion_px, nonrigid_px=nonrigid_px, seed=seed,
                             block_size=block)
        self.margin = 2 * math.ceil(motion_px + nonrigid_px) + 2
        inner = np.arange(self.margin, side - self.margin)
        self.mask = np.zeros((side, side), dtype=bool)
        self.mask[np.ix_(inner, inner)] = True
        self.axes = np.arange(self.margin, side - self.margin, GRID_STEP)
        gy, gx = np.meshgrid(self.axes, self.axes, indexing="ij")
        self.points = np.stack([gy.ravel(), gx.ravel()]).astype(np.float64)  # (2, P)
        self.truth = np.concatenate([self.true_field(idx, self.points)
                                     for idx in chunks(frames)])  # (T, 2, P)
        self.still = still_mean(self.sim)

    def true_field(self, idx: np.ndarray, points: np.ndarray, iterations: int = 3) -> np.ndarray:
        """(n, 2, P) true displacement D at template ``points`` (2, P) of movie frames ``idx``:
        the fixed point of D(y) = d(y + D(y)), d the simulated field at frame pixels."""
        rigid = self.shifts[idx].astype(np.float64)[:, :, None]
        if not self.nonrigid:
            return np.broadcast_to(rigid, (idx.size, 2, points.shape[1])).copy()
        d = self.sim.displacement(self.index[idx])
        out = np.empty((idx.size, 2, points.shape[1]))
        for i in range(idx.size):
            est = np.zeros_like(points)
            for _ in range(iterations):
                est = np.stack([map_coordinates(d[i, k], points + est, order=1, mode="nearest")
                                for k in range(2)])
            out[i] = est
        return out

    def score(self, label: str, shifts: np.ndarray | None, field: Field | None,
              registered: np.ndarray) -> dict[str, Any]:
        """Shift and field errors, correlation with the still image and crispness of a run."""
        row: dict[str, Any] = {"case": self.name, "run": label}
        if shifts is not None and not self.nonrigid:  # a non-rigid field has no one rigid truth
            row.update(error_stats("shift", shifts - self.shifts, axis=0))
        offset = np.zeros_like(self.points)
        if field is not None:
            stats, offset = self.field_error(field)
            row.update(stats)
        row.update(self.residual(registered, offset))
        return row

    def field_error(self, field: Field) -> tuple[dict[str, float], np.ndarray]:
        """Error statistics of a displacement field at the grid points, and its (2, P)
        per-point median offset from the truth."""
        ys, xs = self.points.astype(int)
        error = np.concatenate([field(idx)[:, :, ys, xs] for idx in chunks(self.n)])
        error -= self.truth
        return error_stats("field", error, axis=0), np.median(error, axis=0)

    def residual(self, registered: np.ndarray, offset: np.ndarray) -> dict[str, float]:
        """Mean frame correlation with the still image moved by ``offset`` (2, P) at the grid
        points (interpolated between them), and the registered mean image's crispness."""
        yy, xx = np.indices(self.still.shape, dtype=np.float64)
        coarse = [(yy - self.axes[0]) / GRID_STEP, (xx - self.axes[0]) / GRID_STEP]
        move = [map_coordinates(o.reshape(self.axes.size, self.axes.size), coarse, order=1,
                                mode="nearest") for o in offset]
        reference = map_coordinates(self.still, [yy + move[0], xx + move[1]], order=3,
                                    mode="nearest")[self.mask]
        reference = (reference - reference.mean()) / reference.std()
        corr = []
        for idx in chunks(self.n, 100):
            values = registered[idx][:, self.mask].astype(np.float64)
            values -= values.mean(axis=1, keepdims=True)
            values /= values.std(axis=1, keepdims=True)
            corr.append(values @ reference / reference.size)
        return {"corr_still": float(np.mean(np.concatenate(corr))),
                "crispness": crispness(registered.mean(axis=0, dtype=np.float64), self.mask)}


def still_mean(sim: simulate.SimulatedMovie) -> np.ndarray:
    """(Y, X) noise-free mean of the motion-free movie of the same seed: background, neuropil
    and cells at their mean activity (the simulator keeps the scene whatever the motion)."""
    cells = sim.footprints @ (sim.f0 * (1.0 + sim.calcium.mean(axis=1)))
    neuropil = np.tensordot(sim.neuropil_traces.mean(axis=1), sim.neuropil_images, axes=1)
    return (sim.background + neuropil + cells.reshape(sim.background.shape)).astype(np.float64)


def error_stats(prefix: str, error: np.ndarray, axis: int) -> dict[str, float]:
    """RMS, 95th percentile and max of the error norm over axis 1 (dy, dx), after subtracting
    the median along ``axis`` (time: the template's offset, per point for fields)."""
    error = error - np.median(error, axis=axis, keepdims=True)
    norm = np.hypot(error[:, 0], error[:, 1]).ravel()
    return {f"{prefix}_rms": float(np.sqrt(np.mean(norm ** 2))),
            f"{prefix}_p95": float(np.percentile(norm, 95)), f"{prefix}_max": float(norm.max())}


def register_with_truth(case: Case, out: np.ndarray) -> None:
    """out[t](y) = movie[t](y + D_t(y)) with the true D, bilinear, nearest edge (as calscope)."""
    grid = np.indices(case.still.shape, dtype=np.float64)
    pixels = grid.reshape(2, -1)
    for idx in chunks(case.n):
        for t, d in zip(idx, case.true_field(idx, pixels, 2).reshape(idx.size, *grid.shape)):
            out[t] = map_coordinates(case.movie[t].astype(np.float32), grid + d, order=1,
                                     mode="nearest")


def rigid_field(shifts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n, 2, Y, X) constant displacement of (n, 2) rigid shifts."""
    return np.broadcast_to(shifts[:, :, None, None], (shifts.shape[0], 2, *shape))


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """fn(), its wall seconds and its process CPU seconds (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def blas_threads(limit: int | None) -> contextlib.AbstractContextManager:
    """A context with OpenBLAS (numpy's, scipy's) limited to ``limit`` threads (None: as is)."""
    if limit is None or BLAS["default"] is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=limit, user_api="blas")


def run_calscope(movie: np.ndarray, settings: MotionSettings,
                 out: np.ndarray) -> tuple[dict[str, Any], np.ndarray, Field]:
    """register(), then RegisteredMovie into ``out``: timings, shifts and the field."""
    reg, wall, cpu = timed(lambda: register(movie, settings))

    def apply() -> None:
        view = RegisteredMovie(movie, reg)
        for start in range(0, movie.shape[0], settings.chunk_frames):
            out[start:start + settings.chunk_frames] = view[start:start + settings.chunk_frames]

    _, wall_apply, cpu_apply = timed(apply)
    timing = {"measure_s": wall, "apply_s": wall_apply, "wall_s": wall + wall_apply,
              "cpu_s": cpu + cpu_apply}
    return timing, reg.shifts, reg.displacement


class _Frames:
    """Frames for Suite2p: slicing returns a copy, as its BinaryFile does (register_frames
    shifts the frames it reads in place)."""

    def __init__(self, movie: np.ndarray) -> None:
        self.movie, self.shape = movie, movie.shape

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(self.movie[key])


class _Sink:
    """Where Suite2p writes the registered frames (its f_align_out)."""

    def __init__(self, out: np.ndarray) -> None:
        self.out, self.shape = out, out.shape

    def __setitem__(self, key: Any, frames: np.ndarray) -> None:
        self.out[key] = frames


def run_suite2p(ops: dict[str, Any], movie16: np.ndarray, out: np.ndarray
                ) -> tuple[dict[str, Any], np.ndarray, Field, Callable[[float], Field] | None]:
    """compute_reference_and_register_frames into ``out``: timings, (T, 2) (yoff, xoff), the
    field (rigid + block offsets upsampled as Suite2p warps) and a field maker by block sign."""
    from suite2p.registration import nonrigid, register as s2p_register

    def call() -> tuple:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints progress
            return s2p_register.compute_reference_and_register_frames(
                _Frames(movie16), f_align_out=_Sink(out), ops=dict(ops))

    outputs, wall, cpu = timed(call)
    yoff, xoff, _ = outputs[4]
    shifts = np.stack([yoff, xoff], axis=1).astype(np.float64)
    timing = {"measure_s": None, "apply_s": None, "wall_s": wall, "cpu_s": cpu}
    height, width = movie16.shape[1:]
    if not ops["nonrigid"]:
        return timing, shifts, lambda idx: rigid_field(shifts[idx], (height, width)), None
    yoff1, xoff1, _ = outputs[5]
    yblock, xblock, nblocks, _, _ = nonrigid.make_blocks(height, width, ops["block_size"])

    def maker(sign: float) -> Field:
        def field(idx: np.ndarray) -> np.ndarray:
            yup, xup = nonrigid.upsample_block_shifts(
                width, height, nblocks, xblock, yblock, np.ascontiguousarray(yoff1[idx]),
                np.ascontiguousarray(xoff1[idx]))
            return shifts[idx][:, :, None, None] + sign * np.stack([yup, xup], axis=1)
        return field

    return timing, shifts, maker(1.0), maker


def run_case(case: Case, runs: list[tuple[str, bool, bool]], suite2p: dict[str, Any],
             sign_check: dict[str, Any], references: bool) -> tuple[list[dict], list[dict]]:
    """Reference rows, then each (tool, nonrigid, BLAS default) run: accuracy and speed rows.
    A Suite2p failure is recorded in ``suite2p["failed"]`` and its later runs are skipped."""
    movie, movie16 = case.movie, case.movie.astype(np.int16)
    assert int(movie.max()) < 2 ** 15, "photon counts beyond int16"
    out = np.empty(movie.shape, dtype=np.float32)
    raw = case.score("raw movie (no registration)", np.zeros((case.n, 2)), None,
                     movie.astype(np.float32))
    raw["field_rms"] = error_stats("f", case.truth, axis=0)["f_rms"]  # the motion itself
    if case.nonrigid:  # what a perfect rigid registration would leave
        rigid_only = np.broadcast_to(case.shifts[:, :, None], case.truth.shape)
        raw["rigid_truth_field_rms"] = error_stats("f", rigid_only - case.truth, 0)["f_rms"]
    rows, speed = [raw], []
    if references:
        register_with_truth(case, out)
        rows.append(case.score("true field (bilinear)", None, None, out))
    for tool, nonrigid, blas_default in runs:
        mode = "non-rigid" if nonrigid else "rigid"
        label = f"{tool} {mode}" + (f" {case.block}px blocks" if nonrigid else "")
        label += f", OpenBLAS default ({BLAS['default']} threads)" if blas_default else ""
        if tool == "suite2p" and suite2p["failed"]:
            continue
        print(f"  {case.name}: {label} …", flush=True)
        if tool == "calscope":
            settings = MotionSettings(nonrigid=nonrigid, block_size=case.block)
            with blas_threads(BLAS["default"] if blas_default else BLAS["limit"]):
                run_calscope(movie[:WARMUP_FRAMES], settings, out[:WARMUP_FRAMES])  # warm-up
                timing, shifts, field = run_calscope(movie, settings, out)
        else:
            ops = suite2p["module"].default_ops()
            ops.update(nonrigid=nonrigid, block_size=[case.block, case.block])
            try:
                with blas_threads(BLAS["limit"]):
                    run_suite2p(ops, movie16[:WARMUP_FRAMES], out[:WARMUP_FRAMES])  # numba JIT
                    timing, shifts, field, maker = run_suite2p(ops, movie16, out)
            except Exception as error:  # noqa: BLE001 - report it, keep calscope's rows
                suite2p["failed"] = f"{label} failed: {type(error).__name__}: {error}"
                print(f"  suite2p: {suite2p['failed']}", flush=True)
                continue
            sign_check[f"{case.name} case, {mode} run: yoff/xoff"] = {
                str(s): error_stats("e", s * shifts - case.shifts, 0)["e_rms"] for s in (1, -1)}
            if maker is not None:
                sign_check[f"{case.name} case, {mode} run: yoff1/xoff1"] = {
                    str(s): case.field_error(maker(s))[0]["field_rms"] for s in (1, -1)}
        rows.append(case.score(label, shifts, field, out))
        speed.append({"case": case.name, "tool": tool, "mode": mode, "block_size": case.block,
                      "blas_threads": BLAS["default"] if blas_default else BLAS["limit"],
                      "frames": case.n, "shape": list(movie.shape[1:]), **timing,
                      "frames_per_s": case.n / timing["wall_s"]})
    for r in speed:  # Suite2p's time over calscope's, same case, mode and BLAS threads
        peer = [p for p in speed if p["tool"] == "suite2p" and p["case"] == r["case"]
                and p["mode"] == r["mode"] and p["blas_threads"] == r["blas_threads"]]
        if r["tool"] == "calscope" and peer:
            r["wall_ratio"] = peer[0]["wall_s"] / r["wall_s"]
            r["cpu_ratio"] = peer[0]["cpu_s"] / r["cpu_s"]
    return rows, speed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=1000, help="frames of every movie")
    p.add_argument("--side", type=int, default=256, help="frame side of the accuracy cases")
    p.add_argument("--speed-side", type=int, default=512, help="frame side of the speed case "
                   "(0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 200 frames of 128 × 128 (speed case 256 × 256)")
    p.add_argument("--no-suite2p", action="store_true", help="calscope rows only")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="OpenBLAS threads for every run (0: the library's default); while "
                        "limited, one calscope rigid run at the default is added")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "motion_accuracy.json")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.side = 200, 128
        args.speed_side = min(args.speed_side, 256)
    try:
        from threadpoolctl import threadpool_info
        BLAS["default"] = max((d["num_threads"] for d in threadpool_info()
                               if d["user_api"] == "blas"), default=None)
    except ImportError:
        print("threadpoolctl is not installed: BLAS threads left as they are", flush=True)
    BLAS["limit"] = args.blas_threads or None
    s2p, unavailable = load_suite2p(("suite2p.registration.register",
                                      "suite2p.registration.nonrigid"), args.no_suite2p)
    if unavailable:
        print(f"suite2p: {unavailable}", flush=True)
    suite2p = {"module": s2p, "failed": None}
    tools = ["calscope"] + (["suite2p"] if s2p is not None else [])
    both_modes = [(t, m, False) for m in (False, True) for t in tools]
    blas_default_run = ([("calscope", False, True)] if BLAS["default"] is not None
                        and BLAS["limit"] not in (None, BLAS["default"]) else [])
    block = min(DEFAULT_BLOCK, args.side // 4)
    cases = [("rigid", args.side, 6.0, 0.0, DEFAULT_BLOCK, both_modes + blas_default_run),
             ("non-rigid", args.side, 4.0, 2.0, block, [(t, True, False) for t in tools])]
    if args.speed_side:
        cases.append((f"speed {args.speed_side}px", args.speed_side, 4.0, 2.0,
                      min(DEFAULT_BLOCK, args.speed_side // 4), both_modes))
    t0 = time.perf_counter()
    rows: list[dict] = []
    speed: list[dict] = []
    sign_check: dict[str, Any] = {}
    settings = []
    for name, side, motion, nonrigid_px, blk, runs in cases:
        fast = name.startswith("speed")
        print(f"simulating the {name} case: {args.frames} × {side}² …", flush=True)
        case = Case(name, args.frames, side, motion, nonrigid_px, blk, args.seed, fast)
        settings.append(case.settings)
        r, s = run_case(case, runs, suite2p, sign_check, references=not fast)
        rows += r
        speed += s
        del case

    nan = float("nan")
    keys = ["shift_rms", "shift_p95", "shift_max", "field_rms", "field_p95", "field_max",
            "corr_still", "crispness"]
    header = ["case", "run", "shift RMS", "p95", "max", "field RMS", "p95", "max",
              "corr still", "crispness"]
    table = [[r["case"], r["run"], *(r.get(k, nan) for k in keys)] for r in rows]
    sheader = ["case", "tool", "mode", "blocks", "BLAS thr", "measure s", "apply s", "total s",
               "frames/s", "CPU s", "calscope speed-up (wall)", "(CPU)"]
    stable = [[s["case"], s["tool"], s["mode"], str(s["block_size"]) if s["mode"] != "rigid"
               else "—", str(s["blas_threads"]), s["measure_s"] or nan, s["apply_s"] or nan,
               s["wall_s"], s["frames_per_s"], s["cpu_s"], s.get("wall_ratio", nan),
               s.get("cpu_ratio", nan)] for s in speed]
    print()
    print(format_table(header, table))
    print()
    print(format_table(sheader, stable, digits=2))
    if sign_check:
        print("\nSuite2p sign check, RMS error (px) with its offsets as is (1) and negated (-1):")
        for key, value in sign_check.items():
            print(f"  {key}: {value['1']:.3f} vs {value['-1']:.3f}")
    ops = s2p.default_ops() if s2p is not None else {}
    out = write_json(args.out, {
        "settings": {
            "cases": settings, "grid_step_px": GRID_STEP, "warmup_frames": WARMUP_FRAMES,
            "calscope": MotionSettings().model_dump(),
            "suite2p": {k: ops.get(k) for k in (
                "nonrigid", "block_size", "maxregshift", "maxregshiftNR", "smooth_sigma",
                "smooth_sigma_time", "snr_thresh", "subpixel", "nimg_init", "batch_size",
                "norm_frames", "do_bidiphase", "1Preg")},
            "changed_defaults": [
                "rigid runs: nonrigid off in both tools",
                f"non-rigid case: block_size {block} in both tools"
                + (" (the default)" if block == DEFAULT_BLOCK else "")],
            "input": "calscope: uint16 photon counts; Suite2p: the same values as int16",
            "numba_threading_layer": os.environ.get("NUMBA_THREADING_LAYER"),
            "blas_threads": {"library_default": BLAS["default"], "limit": BLAS["limit"]},
            "timing": "one run each after a 40-frame warm-up of both tools; calscope = "
                      "register + RegisteredMovie into a float32 array; Suite2p = "
                      "compute_reference_and_register_frames writing a float32 array",
        },
        "suite2p": {"available": s2p is not None and not suite2p["failed"],
                    "reason": unavailable or suite2p["failed"],
                    "version": getattr(s2p, "version", None)},
        "suite2p_sign_check": sign_check,
        "wall_s": time.perf_counter() - t0,
        "table": {"header": header, "rows": table},
        "speed_table": {"header": sheader, "rows": stable},
        "rows": rows, "speed": speed,
    }, extra_packages=["suite2p", "torch", "threadpoolctl"])
    print(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
