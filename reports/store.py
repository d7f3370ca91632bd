"""Read a run directory (protocol.json + store/cells/*) as written by the protocol runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tacfn.core.errors import DataError
from tacfn.core.io import file_problem

RUN_KEYS = ["model", "regime", "seed", "fold"]
RERUN = "; rerun 'tacfn-robust run' to recompute the cell"


@dataclass(frozen=True)
class Run:
    """A loaded run directory: its protocol record, every cell's cell.json, done predictions."""

    root: Path
    record: dict
    cells: pd.DataFrame
    predictions: pd.DataFrame

    @property
    def protocol(self) -> dict:
        """The validated protocol dict (report, seeds, models, test.sweeps, ...)."""
        return self.record.get("protocol", {})

    @property
    def report_options(self) -> dict:
        return self.protocol.get("report", {}) or {}

    @property
    def multilabel(self) -> bool:
        return "target" in self.predictions.columns

    def modalities(self) -> dict[str, tuple[str, ...]]:
        """Model name -> the modalities it reads (from cell.json)."""
        out: dict[str, tuple[str, ...]] = {}
        for row in self.cells.itertuples():
            if isinstance(row.modalities, (list, tuple)):
                out.setdefault(row.model, tuple(row.modalities))
        return out

    def class_names(self) -> list[str]:
        done = self.cells[self.cells["status"] == "done"]
        if done.empty:
            return []
        return list(done.iloc[0]["class_names"])

    def cell_dir(self, key: str) -> Path:
        return self.root / "store" / "cells" / key


def read_json(path: Path) -> dict:
    """The JSON object in `path`, or a DataError naming the file and what is wrong."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{path}: damaged (not UTF-8 text); rerun 'tacfn-robust run'") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _artefact_problem(directory: Path, cell: dict) -> str | None:
    """The first artefact of a done cell that is missing or differs from its cell.json record."""
    recorded = cell.get("artefacts")
    if not isinstance(recorded, dict):
        recorded = {}
    for name, expected in sorted(recorded.items()):
        problem = file_problem(directory / name, expected if isinstance(expected, dict) else {})
        if problem is not None:
            return problem
    return None


def _read_predictions(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        message = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(
            f"{path}: damaged, not a readable parquet file ({message}){RERUN}"
        ) from None


def check_run_dir(run_dir: str | Path) -> Path:
    """Return the run directory as a Path, or raise DataError saying what is missing."""
    root = Path(run_dir)
    if not root.is_dir():
        raise DataError(
            f"{root}: no such directory; expected a run directory from 'tacfn-robust run'"
        )
    if not (root / "protocol.json").is_file():
        raise DataError(
            f"{root}: not a run directory (no protocol.json); expected the output of "
            "'tacfn-robust run'"
        )
    if not (root / "store" / "cells").is_dir():
        raise DataError(f"{root}: not a run directory (no store/cells/); nothing has been run yet")
    return root


def load_cells(root: Path) -> pd.DataFrame:
    """One row per cell.json, with its key and status."""
    rows = []
    for path in sorted((root / "store" / "cells").glob("*/cell.json")):
        cell = read_json(path)
        missing = [k for k in ("model", "regime", "seed", "fold", "status") if k not in cell]
        if missing:
            raise DataError(f"{path}: missing field(s) {', '.join(missing)}")
        cell.setdefault("key", path.parent.name)
        rows.append(cell)
    return pd.DataFrame(rows)


def current_cells(cells: pd.DataFrame, record: dict, root: Path) -> pd.DataFrame:
    """The cells of the current grid: protocol.json's `cells[].key` when it lists them, else all.

    A run directory reused with a changed protocol keeps older cells under store/cells/;
    they never enter a report. A listed cell with no cell.json yet is reported as failed.
    """
    listed = record.get("cells")
    if listed is None:
        return cells
    keys = [c["key"] for c in listed]
    stored = cells[cells["key"].isin(keys)] if not cells.empty else cells
    absent = [c for c in listed if stored.empty or c["key"] not in set(stored["key"])]
    rows = [
        {**c, "status": "failed", "error": f"not run: no {root}/store/cells/{c['key']}/cell.json"}
        for c in absent
    ]
    return pd.concat([stored, pd.DataFrame(rows)], ignore_index=True) if rows else stored


def load_run(run_dir: str | Path) -> Run:
    """Load protocol.json, the current grid's cell.json files and its done cells' predictions."""
    root = check_run_dir(run_dir)
    record = read_json(root / "protocol.json")
    cells = current_cells(load_cells(root), record, root)
    if cells.empty:
        raise DataError(f"{root}/store/cells: no cell.json found; nothing has been run yet")
    frames = []
    for row in cells[cells["status"] == "done"].itertuples():
        directory = root / "store" / "cells" / row.key
        path = directory / "predictions.parquet"
        if not path.is_file():
            raise DataError(f"{path}: missing, but cell.json says status 'done'{RERUN}")
        problem = _artefact_problem(directory, row._asdict())
        if problem is not None:
            raise DataError(f"{problem}{RERUN}")
        frames.append(_read_predictions(path))
    if not frames:
        raise DataError(f"{root}: every cell failed; no predictions to report on")
    predictions = pd.concat(frames, ignore_index=True)
    if record.get("conditions") is not None:
        predictions = predictions[predictions["condition"].isin(record["conditions"])]
        predictions = predictions.reset_index(drop=True)
    return Run(root=root, record=record, cells=cells, predictions=predictions)
