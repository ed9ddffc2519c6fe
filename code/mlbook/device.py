"""Choose where tensors live: a CUDA GPU, Apple's MPS or the CPU."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def get_device(name: str | None = "auto") -> torch.device:
    """The device called `name`, or the best available one for "auto" (or None)."""
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return requested_device(name)


def requested_device(name: str) -> torch.device:
    """The device `name` ("cpu", "cuda", "cuda:1", "mps"), checked to exist here.

    Asking for a device that this machine does not have raises a ValueError instead of
    failing later inside a computation.
    """
    if not isinstance(name, str):
        raise ValueError(
            f"device must be a string such as 'cpu' or 'cuda', got {name!r}"
        )
    kind = name.split(":", 1)[0]
    if kind not in DEVICE_CHOICES or kind == "auto":
        raise ValueError(
            f"device must be one of {', '.join(DEVICE_CHOICES)} (or 'cuda:N'), "
            f"got {name!r}"
        )
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(
            f"device {name!r} is not a valid device string: {err}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "device 'cuda' was requested but no CUDA GPU is available; "
                "use 'cpu' or 'auto'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA GPU(s) exist"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            "device 'mps' was requested but Apple's MPS is not available; "
            "use 'cpu' or 'auto'"
        )
    return device
