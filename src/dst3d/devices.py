"""One device resolver for every stage that runs torch (synthesize, kcf, train)."""

from __future__ import annotations

import os

from dst3d.errors import UserError


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class DeviceError(UserError, ValueError):
    """A params ``device`` names a device this machine does not have."""


def resolve_device(device: str, param: str = "device") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; a CUDA device without CUDA is an error.

    Returns the torch device string (``cpu``, ``cuda``, ``cuda:N``); wrap it in ``torch.device`` where a
    device object is needed. ``param`` names the params key in the error.
    """
    import torch  # here, not at module level: params validation must not import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"{param}: {device!r} asked for but no CUDA device is visible")
    return device
