"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from calscope.io.shared_data import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings (``shared/data``); skips the test when it is missing."""
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("real data not found: set CALSCOPE_DATA or place shared/data beside the repo")
    return folder
