import pytest

from calscope.config import DeconvSettings, Settings
from calscope.errors import InputError


def test_yaml_round_trip():
    s = Settings(deconv=DeconvSettings(order=1, penalty="l0", lam=0.5))
    assert Settings.from_yaml(s.to_yaml()) == s
    assert Settings.from_yaml(Settings().to_yaml()) == Settings()


def test_partial_yaml_takes_defaults():
    s = Settings.from_yaml("deconv:\n  order: 1\n")
    assert s.deconv.order == 1 and s.deconv.penalty == Settings().deconv.penalty


@pytest.mark.parametrize("text, match", [
    ("deconv:\n  order: 3\n", "deconv.order"),
    ("deconv:\n  bogus: 1\n", "bogus"),
    ("[1, 2]", "mapping"),
    ("deconv: [", "YAML"),
])
def test_bad_yaml(text, match):
    with pytest.raises(InputError, match=match):
        Settings.from_yaml(text)
