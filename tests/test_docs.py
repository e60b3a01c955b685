"""The Python examples of README.md and docs/*.md run as written.

Each ```python block is executed in a fresh namespace in an empty working directory. The few
inputs the examples presume from the reader (a 1-D trace, a trace resampled up from 7.8 Hz, a
Suite2p folder) are made here from simulated data, and amortized training gets a short time
budget: the test checks that the documented calls exist and work together, not their accuracy
(the other tests and bench/ do that).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import calscope
from calscope.infer import amortized

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: amortized training budget in the examples (s)
FAST_FIT_S = 2.0


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


EXAMPLES = [(path, i, code) for path in DOCUMENTS for i, code in enumerate(python_blocks(path))]


def reader_inputs(folder: Path) -> dict[str, object]:
    """What the examples take from the reader: ``trace_1d`` (ΔF/F at 30 Hz), ``upsampled`` (a
    7.8 Hz recording linearly interpolated to 100 Hz) and a Suite2p folder suite2p/plane0."""
    sim = calscope.simulate.traces(6, 1200, 30.0, indicator="GCaMP6f", seed=3)
    slow = calscope.simulate.traces(1, 300, 7.8, indicator="GCaMP6f", seed=4).fluorescence[0]
    t_slow = np.arange(slow.size) / 7.8
    t_fast = np.arange(int(t_slow[-1] * 100.0)) / 100.0
    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    np.save(plane / "F.npy", 1000.0 * (1.0 + sim.fluorescence))
    return {"trace_1d": sim.fluorescence[0], "upsampled": np.interp(t_fast, t_slow, slow)}


def test_the_documents_have_examples() -> None:
    assert {path.name for path, _, _ in EXAMPLES} >= {"README.md", "supervised.md",
                                                      "amortized.md", "deconvolution.md"}


@pytest.mark.parametrize("path,index,code", EXAMPLES,
                         ids=[f"{p.name}[{i}]" for p, i, _ in EXAMPLES])
def test_example_runs(path: Path, index: int, code: str, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    fit = amortized.fit

    def fast_fit(*args, **kwargs):
        kwargs["max_time_s"] = min(kwargs.get("max_time_s", FAST_FIT_S), FAST_FIT_S)
        return fit(*args, **kwargs)

    monkeypatch.setattr(amortized, "fit", fast_fit)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__example__", **reader_inputs(tmp_path)}
    exec(compile(code, f"{path.name}, example {index + 1}", "exec"), namespace)
