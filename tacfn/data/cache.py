"""On-disk cache: where it lives, how keys are made, and atomic saves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tacfn.core.hashing import digest
from tacfn.core.io import atomic_write

CACHE_ENV = "TACFN_ROBUST_CACHE"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: `override`, else $TACFN_ROBUST_CACHE, else ~/.cache/tacfn-robust."""
    if override is not None:
        return Path(override)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "tacfn-robust"


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of JSON-serialisable parameters."""
    return digest(params, length=16, compact=False)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save through tacfn.core.io.atomic_write (temporary sibling, fsync, os.replace)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def load_cached(path: Path) -> Any | None:
    """The object stored at `path`, or None when absent or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:
        return None
