"""`calscope demo` and `calscope simulate`: simulated recordings with their ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from calscope.cli.common import (app, err_console, friendly, out_console, settings_from,
                                 step_progress)
from calscope.io.writers import write_result


@app.command("demo")
@friendly
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the results.")]
    = Path("calscope-demo"),
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML.")] = None,
) -> None:
    """Simulate a GCaMP6f population with planted assemblies, infer its spikes, score them
    against the truth, analyse the population and end with the HTML report."""
    from calscope.pipeline import run_demo

    settings = settings_from(config)
    with step_progress("demo") as progress:
        demo = run_demo(settings, out, progress=progress)
    summary = demo.summary()
    table = Table(title="calscope demo: inferred vs simulated truth")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        shown = "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        table.add_row(name.replace("_", " "), shown)
    out_console.print(table)
    out_console.print(f"results in {out}/: " + ", ".join(p.name for p in demo.files[:7])
                      + f" and figures/; open {out / 'report.html'}", highlight=False)


@app.command("simulate")
@friendly
def simulate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Traces file (.npy or .csv); the "
                                      "truth goes beside it as <name>.truth.npz.")],
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML (simulate section).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (overrides the settings).")] = None,
) -> None:
    """Write simulated fluorescence traces with their ground truth."""
    from calscope.simulate import traces as simulate_traces
    from calscope.io.writers import write_spikes

    cfg = settings_from(config).simulate
    sim = simulate_traces(cfg.n_cells, int(round(cfg.duration_s * cfg.fs)), cfg.fs,
                          indicator=cfg.indicator, rate_hz=cfg.rate_hz, bursty=cfg.bursty,
                          snr=cfg.snr, drift=cfg.drift, seed=cfg.seed if seed is None else seed)
    write_spikes(out, sim.fluorescence)
    truth = out.with_name(out.stem + ".truth.npz")
    write_result(truth, sim, np.arange(cfg.n_cells))
    err_console.print(f"wrote {out} ({cfg.n_cells} cells × {sim.spikes.shape[1]} frames at "
                      f"{cfg.fs:g} Hz) and {truth}", highlight=False)
