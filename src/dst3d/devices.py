"""One device resolver for every stage that runs torch (synthesize, kcf, train)."""

from __future__ import annotations

from dst3d.errors import UserError


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
