"""The runner's reading of its own records: what is absent or damaged is run again.

The store's contract (layout, file names, JSON reader, artefact checksums) is tacfn.core.store;
this module adds only the runner's policy on top of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tacfn.core.errors import DataError
from tacfn.core.store import CELL_FILE, cell_dir, read_json


def recorded(path: Path) -> dict[str, Any] | None:
    """The JSON record at `path`, or None when it is absent or damaged (a killed writer's, or
    overwritten by hand): what it records is then computed and written again."""
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except DataError:
        return None


def read_cell(run_dir: Path, key: str) -> dict[str, Any] | None:
    """A cell's cell.json, or None when the cell was never finished or its record is damaged."""
    return recorded(cell_dir(run_dir, key) / CELL_FILE)
