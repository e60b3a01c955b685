import numpy as np
import pytest

from calscope.errors import InputError
from calscope.population.sorting import sort_neurons


def _two_groups(n_per=15, t=1500, seed=0):
    """Interleaved rows of two groups; each group shares a slow random drive."""
    rng = np.random.default_rng(seed)
    drive = rng.gamma(0.3, 1.0, (2, t // 10)).repeat(10, axis=1)
    group = np.arange(2 * n_per) % 2
    act = rng.poisson(0.5 * drive[group] + 0.02).astype(np.float32)
    return act, group


def _changes(labels):
    return int(np.count_nonzero(np.diff(labels)))


@pytest.mark.parametrize("method", ["pc1", "hierarchical", "rastermap"])
def test_each_method_puts_each_planted_group_together(method):
    act, group = _two_groups()
    assert _changes(group) == len(group) - 1  # interleaved input
    res = sort_neurons(act, method, seed=0)
    assert sorted(res.order.tolist()) == list(range(len(group)))
    assert res.method == method
    assert _changes(group[res.order]) == 1


def test_unusable_rows_go_last_and_every_row_appears_once():
    act, _ = _two_groups()
    act[3] = np.nan
    act[7] = 2.0
    res = sort_neurons(act, "pc1")
    assert set(res.order[-2:].tolist()) == {3, 7}
    assert sorted(res.order.tolist()) == list(range(len(act)))


def test_bad_input_and_unknown_method_are_refused():
    act, _ = _two_groups()
    with pytest.raises(InputError, match="unknown"):
        sort_neurons(act, "alphabetical")
    with pytest.raises(InputError, match="usable neuron"):
        sort_neurons(np.zeros((5, 100)))
