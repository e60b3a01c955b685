"""The examples of README.md and docs/*.md match the code.

Each ```python block is executed in a fresh namespace in an empty working directory. The few
inputs the examples presume from the reader (a 1-D trace, a trace resampled up from 7.8 Hz, a
Suite2p folder) are made here from simulated data, and amortized training gets a short time
budget: the test checks that the documented calls exist and work together, not their accuracy
(the other tests and bench/ do that). Each ``calscope`` command line of a ```bash block must
name an existing command and only options that command has.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import typer

import calscope
from calscope.cli import app
from calscope.infer import amortized

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: amortized training budget in the examples (s)
FAST_FIT_S = 2.0


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def command_lines(path: Path) -> list[list[str]]:
    """The arguments after ``calscope`` of every command line in the ```bash blocks (comments
    dropped, continued lines joined, anything before the last ``&&`` dropped)."""
    out = []
    for block in re.findall(r"^```bash\n(.*?)^```", path.read_text(encoding="utf-8"),
                            re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#", line)[0].split("&&")[-1].strip()
            if line.startswith("calscope"):
                out.append(shlex.split(line)[1:])
    return out


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


COMMAND_LINES = [(path, args) for path in DOCUMENTS for args in command_lines(path)]


def test_the_documents_have_command_lines() -> None:
    assert len(COMMAND_LINES) > 20
    assert {args[0] for _, args in COMMAND_LINES} >= {"deconvolve", "train", "analyze"}


@pytest.mark.parametrize("path,args", COMMAND_LINES,
                         ids=[f"{p.name}: calscope {' '.join(a)}"[:90] for p, a in COMMAND_LINES])
def test_command_line_names_existing_options(path: Path, args: list[str]) -> None:
    group = typer.main.get_command(app)
    top = {o for param in group.params for o in param.opts} | {"--help"}
    if not args or args[0].startswith("-"):
        assert set(args) <= top, f"{path.name}: calscope {' '.join(args)}"
        return
    assert args[0] in group.commands, f"{path.name}: no command {args[0]!r}"
    command = group.commands[args[0]]
    known = {o for param in command.params
             for o in (*param.opts, *param.secondary_opts) if o.startswith("-")} | {"--help"}
    unknown = [a for a in args[1:] if a.startswith("-") and a not in known]
    assert not unknown, f"{path.name}: calscope {' '.join(args)}: no option {unknown}"
