"""Load a run directory (protocol.json + store/cells/*) into tables, through tacfn.core.store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tacfn.core.errors import DataError
from tacfn.core.store import (
    CELL_FILE,
    LOG_FILE,
    PREDICTIONS_FILE,
    PROTOCOL_FILE,
    RUN_KEYS,
    CellRecord,
    cell_dir,
    cell_problems,
    cells_root,
    read_json,
    read_record,
)

RUN_AGAIN = "rerun 'tacfn-robust run'"
RERUN = f"; {RUN_AGAIN} to recompute the cell"


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
        return cell_dir(self.root, key)

    def training_logs(self) -> pd.DataFrame:
        """train_log.csv of every done cell, tagged with its run keys."""
        frames = []
        for cell in self.cells[self.cells["status"] == "done"].itertuples():
            path = self.cell_dir(cell.key) / LOG_FILE
            if path.is_file():
                log = pd.read_csv(path)
                frames.append(log.assign(**{k: getattr(cell, k) for k in RUN_KEYS}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _cell_problem(directory: Path, cell: dict, conditions: str | None) -> str | None:
    """Why a done cell's directory does not hold that cell under the protocol's test
    `conditions` (store.cell_problems; a cell.json without artefact records, e.g. a simulated
    run's, has none to check)."""
    if not isinstance(cell.get("artefacts"), dict):
        return None
    return next(iter(cell_problems(directory, cell, conditions)), None)


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
    if not (root / PROTOCOL_FILE).is_file():
        raise DataError(
            f"{root}: not a run directory (no {PROTOCOL_FILE}); expected the output of "
            "'tacfn-robust run'"
        )
    if not cells_root(root).is_dir():
        layout = cells_root(root).relative_to(root)
        raise DataError(f"{root}: not a run directory (no {layout}/); nothing has been run yet")
    return root


def load_cells(root: Path) -> pd.DataFrame:
    """One row per cell.json, a column per CellRecord field (a file that does not match it, or
    that records another cell's key than its directory's, is a DataError naming the file)."""
    rows = []
    for path in sorted(cells_root(root).glob(f"*/{CELL_FILE}")):
        cell = read_record(path, CellRecord, f"{RUN_AGAIN} to recompute the cell")
        if cell.key != path.parent.name:
            raise DataError(
                f"{path}: records cell {cell.key!r}; expected {path.parent.name!r}{RERUN}"
            )
        rows.append(cell.model_dump())
    return pd.DataFrame(rows, columns=list(CellRecord.model_fields))


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
        {**c, "status": "failed", "error": f"not run: no {cell_dir(root, c['key']) / CELL_FILE}"}
        for c in absent
    ]
    return pd.concat([stored, pd.DataFrame(rows)], ignore_index=True) if rows else stored


def load_run(run_dir: str | Path) -> Run:
    """Load protocol.json, the current grid's cell.json files and its done cells' predictions."""
    root = check_run_dir(run_dir)
    record = read_json(root / PROTOCOL_FILE, RUN_AGAIN)
    cells = current_cells(load_cells(root), record, root)
    if cells.empty:
        raise DataError(f"{cells_root(root)}: no {CELL_FILE} found; nothing has been run yet")
    frames = []
    for row in cells[cells["status"] == "done"].itertuples():
        directory = cell_dir(root, row.key)
        path = directory / PREDICTIONS_FILE
        if not path.is_file():
            raise DataError(f"{path}: missing, but {CELL_FILE} says status 'done'{RERUN}")
        problem = _cell_problem(directory, row._asdict(), record.get("conditions_hash"))
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
