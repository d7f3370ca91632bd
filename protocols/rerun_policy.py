"""The runner's reading of its own records: what is absent or damaged is run again.

The store's contract (layout, file names, JSON reader, artefact checksums) is tacfn.core.store;
this module adds only the runner's policy on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tacfn.core.errors import DataError
from tacfn.core.store import CELL_FILE, CellRecord, cell_dir, read_json, read_record

Content = TypeVar("Content")


def recorded(path: Path, read: Callable[[Path], Content] = read_json) -> Content | None:
    """The record at `path` as `read` reads it, or None when it is absent, damaged (a killed
    writer's, or overwritten by hand) or not of its type: what it records is then computed
    and written again."""
    if not path.is_file():
        return None
    try:
        return read(path)
    except DataError:
        return None


def read_cell(run_dir: Path, key: str) -> dict[str, Any] | None:
    """A cell's cell.json (every field of CellRecord), or None when the cell was never
    finished or its record is damaged or not a CellRecord."""
    record = recorded(cell_dir(run_dir, key) / CELL_FILE, lambda p: read_record(p, CellRecord))
    return None if record is None else record.model_dump()
