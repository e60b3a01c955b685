"""Input checks shared by every method (`calscope.validation`)."""

import numpy as np
import pytest

from calscope.errors import InputError
from calscope.validation import as_trace_matrix


def test_trace_matrix_copies_unless_a_float_input_may_be_read_in_place():
    y = np.arange(40, dtype=np.float32).reshape(2, 20)
    copied = as_trace_matrix(y)
    assert copied.dtype == np.float64 and not np.shares_memory(copied, y)
    view = as_trace_matrix(y, copy=False)
    assert np.shares_memory(view, y) and view.shape == (2, 20)
    assert as_trace_matrix(y[0], copy=False).shape == (1, 20)  # one trace, one row
    counts = np.arange(20)  # integers are converted either way
    assert as_trace_matrix(counts, copy=False).dtype == np.float64
    with pytest.raises(InputError, match="samples"):
        as_trace_matrix(y[:, :5], copy=False)
