"""Helpers shared by the network-method CLI tests."""

import numpy as np
import pytest
from typer.testing import CliRunner

from calscope import simulate
from calscope.cli import app


@pytest.fixture
def cli():
    """Run ``calscope ARGS…`` in-process; returns the click result (exit_code, output)."""
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def traces_file(tmp_path):
    """3 simulated GCaMP6f cells × 900 frames at 30 Hz, row 1 NaN-padded at the end, saved as
    ``traces.npy``; returns (path, array)."""
    y = simulate.traces(3, 900, 30.0, indicator="GCaMP6f", seed=2).fluorescence
    y[1, -30:] = np.nan
    path = tmp_path / "traces.npy"
    np.save(path, y)
    return path, y
