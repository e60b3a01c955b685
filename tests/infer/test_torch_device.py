"""Choosing the torch device: names, "auto", and clear errors for devices that are absent."""

import pytest
import torch

from calscope.errors import InputError
from calscope.infer import torch_device
from calscope.infer.torch_device import resolve_device, same_device


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch_device, "_mps_available", lambda: False)


def test_cpu_in_any_spelling(no_gpu):
    for name in ("cpu", "CPU", " cpu ", torch.device("cpu")):
        assert resolve_device(name) == torch.device("cpu")


def test_auto_is_the_cpu_without_a_gpu_and_the_gpu_with_one(no_gpu, monkeypatch):
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch_device, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")  # CUDA first


def test_unknown_names_list_the_known_ones():
    for name in ("gpu", "xla", "cuda:x", ""):
        with pytest.raises(InputError, match="not a device name; use one of auto, cpu, cuda"):
            resolve_device(name)


def test_absent_gpus_are_refused_with_what_to_do(no_gpu, monkeypatch):
    for name in ("cuda", "cuda:0", "mps"):
        with pytest.raises(InputError, match=f"device '{name}'.*'cpu' or 'auto'"):
            resolve_device(name)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(InputError, match="has 2 CUDA GPU.*numbered 0–1"):
        resolve_device("cuda:2")


def test_same_device_reads_a_missing_index_as_the_current_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    dev = torch.device
    assert same_device(dev("cpu"), dev("cpu"))
    assert same_device(dev("cuda"), dev("cuda:1")) and not same_device(dev("cuda"), dev("cuda:0"))
    assert not same_device(dev("cpu"), dev("cuda"))
