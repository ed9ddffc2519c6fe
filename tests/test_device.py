"""Tests for mlbook.device."""

import inspect

import pytest
import torch

from mlbook.device import get_device, requested_device


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
    with pytest.raises(ValueError, match=message):
        requested_device(name)


def test_requested_device_leaves_auto_to_get_device():
    with pytest.raises(ValueError, match="must be one of"):
        requested_device("auto")
    assert requested_device("cpu") == get_device("cpu")


def test_the_listing_the_setup_chapter_shows_is_the_short_idiom():
    """Erratum X10: the Setup chapter shows get_device; its checks live in requested_device."""
    lines = inspect.getsource(get_device).splitlines()
    assert len(lines) <= 12, f"get_device grew to {len(lines)} lines"
    assert any("requested_device(name)" in line for line in lines)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        get_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_out_of_range():
    with pytest.raises(ValueError, match="only"):
        get_device(f"cuda:{torch.cuda.device_count()}")
