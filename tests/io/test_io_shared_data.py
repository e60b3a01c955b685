"""Finding the real data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from calscope.io.shared_data import DATA_ENV_VAR, shared_data_dir


def test_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert shared_data_dir() == tmp_path


def test_environment_variable_naming_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "absent"))
    assert shared_data_dir() is None


def test_found_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    folder = shared_data_dir()
    if folder is None:
        pytest.skip("no shared/data beside this checkout")
    assert folder.is_dir() and (folder.parent.name, folder.name) == ("shared", "data")


def test_fixture_gives_the_data_folder(shared_data: Path) -> None:
    assert (shared_data / "ground_truth" / "cascade").is_dir()
