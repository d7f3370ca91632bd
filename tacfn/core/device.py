"""The one device resolver of the toolkit."""

from __future__ import annotations

import torch

from tacfn.core.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str, field: str = "device") -> torch.device:
    """'auto' -> CUDA when available, else the CPU; 'cuda' without a CUDA device is a one-line
    ConfigError naming `field`."""
    if device not in DEVICES:
        raise ConfigError(f"{field}={device!r}; expected one of: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{field}='cuda' but no CUDA device is available; expected auto or cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
