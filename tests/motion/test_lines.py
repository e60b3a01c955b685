"""A bidirectional scan's line offset: measured on images made here with a known offset,
undone by `correct_lines`, and by `register` when asked."""

from __future__ import annotations

import numpy as np
import pytest

from calscope.config import MotionSettings
from calscope.errors import InputError
from calscope.motion import Registration, apply_registration, register
from calscope.motion.lines import correct_lines, line_offset

from .conftest import noisy, render, texture


def scanned(image: np.ndarray, dy: np.ndarray, dx: np.ndarray, side: int,
            offset: float) -> np.ndarray:
    """Frames as `render` makes them, but with every odd row's content ``offset`` pixels
    further along x, as a bidirectional scan with a mistimed return leaves it."""
    frames = render(image, dy, dx, side)
    frames[:, 1::2] = render(image, dy, dx + offset, side)[:, 1::2]
    return frames


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return texture(128, np.random.default_rng(5))


@pytest.mark.parametrize("offset", [-2.5, -0.4, 0.0, 0.7, 1.6])
def test_the_offset_is_measured(image, offset):
    frame = scanned(image, np.zeros(1), np.zeros(1), 128, offset)[0]
    assert line_offset(frame) == pytest.approx(offset, abs=0.05)
    one_noisy_frame = noisy(frame[None], np.random.default_rng(0))[0]
    assert line_offset(one_noisy_frame) == pytest.approx(offset, abs=0.1)


def test_oblique_stripes_are_no_offset():
    """Content that moves along x from row to row (here 0.8 px per row) is not mistaken for
    a line offset: odd rows are compared with the rows above and below together."""
    yy, xx = np.mgrid[:96, :96]
    stripes = np.sin(2 * np.pi * (xx + 0.8 * yy) / 9.0)
    assert abs(line_offset(stripes)) < 0.02
    shifted = stripes.copy()
    shifted[1::2] = np.sin(2 * np.pi * (xx[1::2] - 1.0 + 0.8 * yy[1::2]) / 9.0)
    assert line_offset(shifted) == pytest.approx(1.0, abs=0.05)


def test_no_structure_and_tiny_images_give_zero():
    assert line_offset(np.full((32, 32), 7.0)) == 0.0
    assert line_offset(np.ones((2, 50))) == 0.0


def test_correct_lines_undoes_the_offset(image):
    truth = render(image, np.zeros(2), np.zeros(2), 128)
    fixed = correct_lines(scanned(image, np.zeros(2), np.zeros(2), 128, 1.7), 1.7)
    inner = (slice(None), slice(None), slice(4, -4))
    error = np.abs(fixed[inner] - truth[inner]).mean()
    assert fixed.dtype == np.float32
    assert error < 0.05 * truth.std()  # linear interpolation's error only
    assert np.array_equal(fixed[:, ::2], truth[:, ::2].astype(np.float32))  # even rows kept
    assert np.array_equal(correct_lines(truth, 0.0), truth.astype(np.float32))


@pytest.fixture(scope="module")
def moving_scan(image):
    """(80, 128, 128) noisy frames, rigid motion within ±4 px, line offset 1.3 px."""
    rng = np.random.default_rng(3)
    shifts = np.clip(rng.normal(0, 1.5, size=(80, 2)), -4, 4)
    return noisy(scanned(image, shifts[:, 0], shifts[:, 1], 128, 1.3), rng), shifts


def test_register_undoes_the_offset_when_asked(moving_scan):
    frames, shifts = moving_scan
    settings = MotionSettings(nonrigid=False, bidi_offset="auto")
    found = register(frames, settings)
    assert found.bidi_offset == pytest.approx(1.3, abs=0.05)
    assert abs(line_offset(found.template)) < 0.1
    error = found.shifts - shifts
    assert np.sqrt(np.mean((error - np.median(error, axis=0)) ** 2)) < 0.1
    registered = apply_registration(frames, found, 0)
    assert abs(line_offset(registered.mean(axis=0))) < 0.1
    assert found.raw_line_offset == found.bidi_offset and found.line_offset_left == 0.0
    # not asked: the offset stays, measured, for `calscope register` to point out
    plain = register(frames, MotionSettings(nonrigid=False))
    assert plain.bidi_offset == 0.0
    assert plain.line_offset_left == pytest.approx(1.3, abs=0.05)
    given = register(frames, MotionSettings(nonrigid=False, bidi_offset=1.0))
    assert given.bidi_offset == 1.0
    assert given.line_offset_left == pytest.approx(0.3, abs=0.05)


def test_the_offset_round_trips_and_narrows_the_valid_mask():
    template = np.zeros((40, 50), dtype=np.float32)
    registration = Registration(np.zeros((3, 2), np.float32), template,
                                np.ones(3, np.float32), None, None, MotionSettings(), 2.3,
                                2.5)
    again = Registration.from_arrays(registration.arrays(), MotionSettings())
    assert (again.bidi_offset, again.raw_line_offset) == pytest.approx((2.3, 2.5))
    mask = registration.valid_mask()
    assert mask[:, :47].all() and not mask[:, 47:].any()  # odd rows read 2.3 px further
    assert registration.edge_px() == 3
    arrays = registration.arrays()
    del arrays["bidi_offset"], arrays["raw_line_offset"]  # written before line offsets
    old = Registration.from_arrays(arrays, MotionSettings())
    assert old.bidi_offset == old.raw_line_offset == 0.0


def test_an_offset_of_half_the_width_is_refused(moving_scan):
    with pytest.raises(InputError, match="bidi_offset"):
        register(moving_scan[0][:5], MotionSettings(bidi_offset=64.0))
