"""Tests for mlbook.device."""

import pytest
import torch

from mlbook.device import get_device


def test_auto_picks_an_available_device():
    device = get_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert device.type == expected
    assert get_device(None) == device
    torch.zeros(2, device=device)  # the device really works


def test_cpu_is_always_available():
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    "name, message", [("tpu", "must be one of"), ("gpu", "must be one of"), (3, "must be a string")]
)
def test_unknown_devices_are_rejected(name, message):
    with pytest.raises(ValueError, match=message):
        get_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        get_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_out_of_range():
    with pytest.raises(ValueError, match="only"):
        get_device(f"cuda:{torch.cuda.device_count()}")
