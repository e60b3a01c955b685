"""Helpers shared by the benchmarks: timing, environment record, JSON output, tables.

Benchmarks are scripts (not part of the package, not run in CI); they may print.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from calscope.metrics import smoothed_correlations

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True)
class Timing:
    """Wall-clock timings of repeated calls.

    Attributes:
        median_s: median over the timed repeats (s).
        times_s: each timed repeat (s), warm-up calls excluded.
        warmup: number of untimed warm-up calls made first.
        result: what the last timed call returned.
    """

    median_s: float
    times_s: tuple[float, ...]
    warmup: int
    result: Any


def time_call(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1,
              budget_s: float = 60.0) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls (numba compilation, caches), then ``repeats``.

    Args:
        fn: the call to time, without arguments.
        repeats: timed calls at most (at least one is made).
        warmup: untimed calls made before.
        budget_s: stop repeating once the timed calls have taken this long in total.

    Returns:
        The :class:`Timing`, median over the timed calls.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    result = None
    while not times or (len(times) < repeats and sum(times) < budget_s):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return Timing(float(np.median(times)), tuple(times), warmup, result)


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Silence warnings (peers warn per trace; failures are counted, not printed)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(extra_packages: Sequence[str] = ()) -> dict[str, Any]:
    """Where and with what a benchmark ran: date, machine, Python, package versions, commit."""
    packages = ["calscope", "numpy", "scipy", "numba", "oasis-deconv", *extra_packages]
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "git_commit": _git_commit(),
        "versions": {p: _version(p) for p in packages},
    }


def _jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats (→ None) for strict JSON."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(path: Path, payload: dict[str, Any], extra_packages: Sequence[str] = ()) -> Path:
    """Write ``payload`` plus an ``environment`` record as indented JSON (NaN → null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"environment": environment(extra_packages), **payload}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(doc), indent=1, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> str:
    """Render a plain-text table (Markdown pipe syntax) with floats at ``digits`` decimals."""

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "—" if not math.isfinite(v) else f"{v:.{digits}f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = [
        "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row, texts in zip(rows, cells):
        padded = (t.ljust(w) if isinstance(v, str) else t.rjust(w)
                  for v, t, w in zip(row, texts, widths))
        lines.append("| " + " | ".join(padded) + " |")
    return "\n".join(lines)


def parse_settings(text: str) -> dict[str, Any]:
    """Parse ``"key=value,key=value"`` into keyword settings (numbers, bools, None, strings)."""
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"setting {item!r} is not key=value")
        value: Any = raw
        if raw in {"None", "none"}:
            value = None
        elif raw in {"True", "true", "False", "false"}:
            value = raw.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(raw)
                    break
                except ValueError:
                    continue
        out[key.strip()] = value
    return out



def mean_spike_r(spikes: np.ndarray, truth: np.ndarray, fs: float) -> float:
    """Mean over cells of the σ = 50 ms-smoothed Pearson r of (cells, T) spikes vs truth."""
    return float(np.nanmean(smoothed_correlations(spikes, truth, fs)))
