"""Device choice: CUDA when available, else Apple MPS, else CPU (never hard-coded)."""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "pick_device"]


class DeviceError(ValueError):
    """A device was asked for that this machine does not have (the CLIs print it as one line)."""


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"``/None to the best available device, or validate an explicit one.

    Raises:
        DeviceError: if an explicitly requested CUDA/MPS device is not available, or the name is
            not a device.
    """
    if name is None or str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {str(name)!r} requested but CUDA is not available on this machine; "
                          "use --device cpu (or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {str(name)!r} requested but this machine has {torch.cuda.device_count()} "
                          "CUDA device(s)")
    mps = getattr(torch.backends, "mps", None)
    if dev.type == "mps" and (mps is None or not mps.is_available()):
        raise DeviceError(f"device {str(name)!r} requested but MPS is not available on this machine; "
                          "use --device cpu (or auto)")
    return dev
