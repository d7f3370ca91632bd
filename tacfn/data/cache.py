"""On-disk cache: where it lives, how keys are made, and atomic saves of entries that record
the parameters they were built from, checked on read.

Writers of a cache folder hold its CACHE_LOCK while they write; the first read of a folder in a
process removes the temporaries that killed writers left there, when no writer holds the lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tacfn.core.errors import UserError
from tacfn.core.hashing import digest
from tacfn.core.io import atomic_write, directory_lock, remove_temporaries

CACHE_ENV = "TACFN_ROBUST_CACHE"
CACHE_LOCK = ".cache.lock"
WRITING = "writing the data cache"

_swept: set[Path] = set()  # cache folders whose stale temporaries this process removed


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: `override`, else $TACFN_ROBUST_CACHE, else ~/.cache/tacfn-robust."""
    if override is not None:
        return Path(override)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "tacfn-robust"


ENTRY_FORMAT = 2  # {"params", "content"}; in the key, so no other format is read as this one


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of JSON-serialisable parameters and the entry format."""
    return digest({**params, "entry_format": ENTRY_FORMAT}, length=16, compact=False)


def atomic_save(obj: Any, path: Path, params: dict[str, Any]) -> None:
    """torch.save of `obj` with the `params` it was built from, through tacfn.core.io.atomic_write
    (temporary sibling, fsync, os.replace), under the folder's CACHE_LOCK."""
    with directory_lock(path.parent, CACHE_LOCK, wait=True, what=WRITING):
        atomic_write(path, lambda f: torch.save({"params": params, "content": obj}, f))


def _sweep(folder: Path) -> None:
    """Once per process: remove the temporaries killed writers left in `folder`, unless a
    writer holds its lock or the folder cannot be written (a later read tries again)."""
    if folder in _swept or not folder.is_dir():
        return
    try:
        with directory_lock(folder, CACHE_LOCK, wait=False, what=WRITING):
            remove_temporaries(folder)
    except (UserError, OSError):  # locked by a writer, or not writable here
        return
    _swept.add(folder)


def load_cached(path: Path, params: dict[str, Any]) -> Any | None:
    """The object stored at `path` for `params`, or None when absent, unreadable or stored for
    other parameters (another entry copied there, or one written before entries recorded
    theirs): it is then rebuilt."""
    _sweep(path.parent)
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, weights_only=True)
        if isinstance(entry, dict) and entry.get("params") == params and "content" in entry:
            return entry["content"]
    except Exception:
        return None
    return None
