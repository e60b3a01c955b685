"""Writers: formats round-trip through the readers, and every write is atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calscope.deconv.result import Deconvolution
from calscope.errors import InputError
from calscope.io import atomic_open, read_traces, write_result, write_spikes

RNG = np.random.default_rng(2)
SPIKES = np.abs(RNG.normal(size=(3, 25))).astype(np.float32)


def _result() -> Deconvolution:
    return Deconvolution(
        calcium=SPIKES * 2,
        spikes=SPIKES,
        baseline=np.zeros(3),
        g=np.full((3, 1), 0.9),
        sn=np.full(3, 0.1),
        lam=np.ones(3),
        fs=30.0,
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if ".tmp-" in path.name)


def test_npy_round_trip(tmp_path: Path) -> None:
    path = write_spikes(tmp_path / "s.npy", SPIKES.astype(np.float64))
    loaded = np.load(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, SPIKES)


def test_1d_spikes_keep_their_shape(tmp_path: Path) -> None:
    write_spikes(tmp_path / "s.npy", SPIKES[0])
    assert np.load(tmp_path / "s.npy").shape == (25,)
    write_spikes(tmp_path / "s.csv", SPIKES[0])
    assert read_traces(tmp_path / "s.csv", fs=30).traces.shape == (1, 25)


def test_result_of_a_1d_input(tmp_path: Path) -> None:
    one = Deconvolution(calcium=SPIKES[:1], spikes=SPIKES[:1], baseline=np.zeros((1, 25)),
                        g=np.full((1, 1), 0.9), sn=np.full(1, 0.1), lam=np.ones(1), fs=30.0)
    write_result(tmp_path / "s.npy", one, np.arange(1), was_1d=True)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), SPIKES[0])
    write_result(tmp_path / "r.npz", one, np.arange(1), was_1d=True)
    assert np.load(tmp_path / "r.npz")["spikes"].shape == (1, 25)
    with pytest.raises(ValueError):
        write_result(tmp_path / "s.npy", _result(), np.arange(3), was_1d=True)


def test_csv_round_trip_with_nan_as_empty_field(tmp_path: Path) -> None:
    spikes = SPIKES.copy()
    spikes[1, 20:] = np.nan
    write_spikes(tmp_path / "s.csv", spikes, names=["n0", "n,1", "n2"])
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == 'n0,"n,1",n2' and len(lines) == 26
    assert lines[-1].split(",")[1] == "" and "nan" not in lines[-1].lower()
    data = read_traces(tmp_path / "s.csv", fs=100)
    assert data.names == ("n0", "n,1", "n2")
    np.testing.assert_array_equal(data.traces, spikes)


def test_csv_default_names(tmp_path: Path) -> None:
    write_spikes(tmp_path / "s.csv", SPIKES)
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "0,1,2"


def test_names_must_match_cells(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2 names given for 3 cells"):
        write_spikes(tmp_path / "s.csv", SPIKES, names=["a", "b"])
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new" / "s.txt"
    with pytest.raises(InputError, match=r"s\.txt.*\.npy, \.csv"):
        write_spikes(target, SPIKES)
    with pytest.raises(InputError, match=r"\.npz, \.npy, \.csv"):
        write_result(tmp_path / "new" / "r.json", _result(), np.arange(3))
    assert list(tmp_path.iterdir()) == []


def test_result_npz_holds_every_field_rows_and_names(tmp_path: Path) -> None:
    rows = np.array([0, 4, 7])
    path = write_result(tmp_path / "out" / "r.npz", _result(), rows, names=["a", "b", "c"])
    with np.load(path, allow_pickle=False) as stored:
        assert set(stored.files) == {
            "calcium", "spikes", "baseline", "g", "sn", "lam", "fs", "rows", "names"
        }
        np.testing.assert_array_equal(stored["spikes"], SPIKES)
        np.testing.assert_array_equal(stored["g"], np.full((3, 1), 0.9))
        assert stored["fs"].shape == () and float(stored["fs"]) == 30.0
        np.testing.assert_array_equal(stored["rows"], [0, 4, 7])
        assert stored["rows"].dtype == np.int64
        assert list(stored["names"]) == ["a", "b", "c"]


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_result_as_spikes(tmp_path: Path, suffix: str) -> None:
    path = write_result(tmp_path / f"r{suffix}", _result(), np.arange(3))
    np.testing.assert_allclose(read_traces(path, fs=30).traces, SPIKES, rtol=1e-6)


def test_result_must_be_a_dataclass(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_result(tmp_path / "r.npz", {"spikes": SPIKES}, np.arange(3))


def test_overwrite_replaces_the_file(tmp_path: Path) -> None:
    write_spikes(tmp_path / "s.npy", SPIKES)
    write_spikes(tmp_path / "s.npy", SPIKES[:1])
    assert np.load(tmp_path / "s.npy").shape == (1, 25)
    assert _leftovers(tmp_path) == []


def _fail_midway(handle: object, *args: object, **kwargs: object) -> None:
    handle.write(b"partial bytes")  # type: ignore[attr-defined]
    raise OSError("disk full")


@pytest.mark.parametrize(
    ("name", "patched", "write"),
    [
        ("s.npy", "save", lambda path: write_spikes(path, SPIKES)),
        ("r.npz", "savez_compressed", lambda path: write_result(path, _result(), np.arange(3))),
    ],
)
def test_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, patched: str, write: object
) -> None:
    monkeypatch.setattr(np, patched, _fail_midway)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path / name)  # type: ignore[operator]
    assert list(tmp_path.iterdir()) == []


def test_failed_csv_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(np.char, "mod", fail)
    with pytest.raises(MemoryError):
        write_spikes(tmp_path / "s.csv", SPIKES)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spikes(tmp_path / "s.npy", SPIKES)
    monkeypatch.setattr(np, "save", _fail_midway)
    with pytest.raises(OSError):
        write_spikes(tmp_path / "s.npy", SPIKES[:1])
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), SPIKES)
    assert _leftovers(tmp_path) == []


def test_atomic_open_names_the_temporary_file_beside_the_target(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "deep" / "x.bin") as handle:
        temporary = Path(handle.name)
        handle.write(b"data")
        assert temporary.parent == tmp_path / "deep"
        assert temporary.name.startswith(".x.bin.tmp-")
        assert not (tmp_path / "deep" / "x.bin").exists()
    assert (tmp_path / "deep" / "x.bin").read_bytes() == b"data"
    assert not temporary.exists()
