"""Bad input raises InputError saying what is wrong and what to do."""

import numpy as np
import pytest
from pydantic import ValidationError

from calscope.config import MotionSettings, Settings
from calscope.errors import InputError
from calscope.motion import RegisteredMovie, apply_registration, register


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    movie = rng.poisson(50, size=(6, 32, 32)).astype(np.float32)
    return movie, register(movie, MotionSettings(nonrigid=False))


@pytest.mark.parametrize("movie, match", [
    (np.zeros((32, 32)), "3-D"),
    (np.zeros((1, 32, 32)), "at least 2"),
    (np.zeros((5, 8, 64)), "too small"),
    (np.zeros((5, 32, 32), dtype=complex), "real numbers"),
    ([[[1.0]]], "array-like"),
])
def test_bad_movies(movie, match):
    with pytest.raises(InputError, match=match):
        register(movie)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_frames_are_named(value):
    movie = np.random.default_rng(8).poisson(50, size=(300, 32, 32)).astype(np.float32)
    movie[250, 3, 4] = value
    with pytest.raises(InputError, match=r"frame\(s\) 250 hold NaN"):
        register(movie)


def test_too_large_max_shift():
    with pytest.raises(InputError, match="max_shift"):
        register(np.ones((4, 32, 32)), MotionSettings(max_shift=20))


def test_bad_apply_and_view(small):
    movie, reg = small
    with pytest.raises(InputError, match="frames"):
        apply_registration(movie[:, :16], reg, 0)
    with pytest.raises(InputError, match="start"):
        apply_registration(movie[:3], reg, 4)
    with pytest.raises(InputError, match="registered movie"):
        RegisteredMovie(movie[:5], reg)
    with pytest.raises(InputError, match="frame indices"):
        reg.displacement([0, 9])
    with pytest.raises(InputError, match="int or a slice"):
        RegisteredMovie(movie, reg)["a"]


def test_settings_are_checked():
    with pytest.raises(ValidationError):
        MotionSettings(block_size=4)
    with pytest.raises(ValidationError):
        MotionSettings(workers=0)
    with pytest.raises(InputError, match="motion.block_overlap"):
        Settings.from_yaml("motion:\n  block_overlap: 1.5\n")
    assert Settings.from_yaml("motion:\n  nonrigid: false\n").motion.nonrigid is False
