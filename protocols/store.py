"""The result store: the per-cell directories of a run and the integrity of their artefacts.

Every file is written atomically (tacfn.core.io). cell.json records the size and sha256 of each
artefact of its cell; a cell counts as stored only while they all match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tacfn.core.io import (
    atomic_write,
    describe_file,
    file_problem,
    remove_temporaries,
    write_json,
    write_text,
)

__all__ = ["remove_temporaries", "write_json", "write_text"]  # the writers runner and cells use

CELL_FILE = "cell.json"
PREDICTIONS_FILE = "predictions.parquet"
RECORDS_FILE = "records.parquet"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.csv"
ARTEFACTS = (CHECKPOINT_FILE, LOG_FILE, PREDICTIONS_FILE, RECORDS_FILE)


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda f: frame.to_parquet(f, index=False))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at path, or None when it is absent, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # absent, torn, random bytes (UnicodeDecodeError is a ValueError)
        return None
    return value if isinstance(value, dict) else None


def artefacts(directory: Path) -> dict[str, dict[str, Any]]:
    """{file name: {"bytes", "sha256"}} of the artefacts present in a cell directory."""
    return {
        name: describe_file(directory / name) for name in ARTEFACTS if (directory / name).is_file()
    }


def artefact_problems(directory: Path, record: dict[str, Any]) -> list[str]:
    """Why the artefacts recorded in a cell.json do not match the files (empty when they do)."""
    recorded = record.get("artefacts")
    if not isinstance(recorded, dict) or PREDICTIONS_FILE not in recorded:
        return [f"{directory / CELL_FILE}: records no artefacts"]
    problems = []
    for name, expected in sorted(recorded.items()):
        problem = file_problem(directory / name, expected if isinstance(expected, dict) else {})
        if problem is not None:
            problems.append(problem)
    return problems


def cells_root(run_dir: Path) -> Path:
    return Path(run_dir) / "store" / "cells"


def cell_dir(run_dir: Path, key: str) -> Path:
    return cells_root(run_dir) / key


def read_cell(run_dir: Path, key: str) -> dict[str, Any] | None:
    """A cell's cell.json, or None when the cell was never finished or recorded."""
    return read_json(cell_dir(run_dir, key) / CELL_FILE)
