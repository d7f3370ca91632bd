"""The result store: atomic file writes and the per-cell directories of a run.

train_log.csv and checkpoint.pt are written (atomically, same temporary naming) by fit.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pandas as pd

CELL_FILE = "cell.json"
PREDICTIONS_FILE = "predictions.parquet"
RECORDS_FILE = "records.parquet"
CHECKPOINT_FILE = "checkpoint.pt"


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write through `write(file)` into a temporary sibling, fsync, then os.replace onto path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda f: frame.to_parquet(f, index=False))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at path, or None when it is absent or unreadable (e.g. torn by a crash)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def remove_temporaries(directory: Path) -> int:
    """Delete temporaries left by an interrupted atomic write; return how many."""
    count = 0
    for tmp in Path(directory).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def cells_root(run_dir: Path) -> Path:
    return Path(run_dir) / "store" / "cells"


def cell_dir(run_dir: Path, key: str) -> Path:
    return cells_root(run_dir) / key


def read_cell(run_dir: Path, key: str) -> dict[str, Any] | None:
    """A cell's cell.json, or None when the cell was never finished or recorded."""
    return read_json(cell_dir(run_dir, key) / CELL_FILE)
