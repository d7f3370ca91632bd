"""The run loop: run every unstored train cell of a plan on an executor, then build the report.

The loop reports what happens through RunEvents (the CLI shows it; the base class is silent).
`run_protocol` trains; `evaluate_checkpoints` evaluates already-trained checkpoints under a
protocol's test sweeps. Both write a normal run directory, resumed on a rerun.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tacfn.core import store
from tacfn.core.errors import ConfigError
from tacfn.core.io import directory_lock, remove_temporaries
from tacfn_robust.protocols.cell_task import execute_cell, record_lost_cell
from tacfn_robust.protocols.checkpoints import checkpoint_grid, match_checkpoints, read_checkpoint
from tacfn_robust.protocols.datasets import load_dataset
from tacfn_robust.protocols.executors import (
    Executor,
    Relay,
    Task,
    check_executor,
    check_not_bootstrapping,
    make_executor,
    resolve_workers,
)
from tacfn_robust.protocols.grid import TrainCell
from tacfn_robust.protocols.planning import Plan, plan, stored_cells
from tacfn_robust.protocols.provenance import write_protocol_files
from tacfn_robust.protocols.rerun_policy import read_cell
from tacfn_robust.protocols.schema import Protocol
from tacfn_robust.protocols.training import build_cell_model


class CellFailed(Exception):
    """A cell failed and --fail-fast stopped the run (the CLI exits 1)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; says how many cells are saved in which directory."""

    def __init__(self, run_dir: Path, saved: int, total: int) -> None:
        super().__init__(f"{saved} of {total} cells saved in {run_dir}")
        self.run_dir = run_dir
        self.saved = saved
        self.total = total


class RunEvents:
    """What a run reports while it goes; every hook does nothing here (the CLI shows them)."""

    def started(self, run_dir: Path) -> None:
        """The run directory is chosen; nothing is written yet."""

    def skipped(self, problems: list[str]) -> None:
        """Media files the data set skipped (on_error: skip), one problem each."""

    def cells_started(self, total: int, reused: list[dict[str, Any]], workers: int = 1) -> None:
        """The pending cells start on `workers` at once; `reused` holds the cell.json of every
        stored cell."""

    def epoch(self, cell: str, epochs: int, row: dict[str, Any]) -> None:
        """Cell `cell` (TrainCell.label) logged an epoch (`row`: stage, epoch, losses, ...) of
        its `epochs`; from pool workers too (not from Dask workers)."""

    def cell_finished(self, record: dict[str, Any], position: int, total: int) -> None:
        """A cell finished (done or failed) as the `position`-th of `total`."""

    def cells_stopped(self) -> None:
        """No more cells run (all finished, or the loop stopped)."""


@dataclass
class RunResult:
    """What a run produced: the run directory, every cell.json, and the report's location."""

    run_dir: Path
    cells: list[dict[str, Any]]
    report: Path | None
    reused: int = 0

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c.get("status") != "done"]

    @property
    def trained(self) -> int:
        """Cells trained (or evaluated) by this run and done."""
        return len(self.cells) - self.reused - len(self.failed)

    def tally(self) -> str:
        """The counts as "N trained, M reused, K failed"."""
        return f"{self.trained} trained, {self.reused} reused, {len(self.failed)} failed"


def prepare_run_dir(run_dir: Path) -> Path:
    """Create the run directory; a ConfigError when it cannot be created or written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir}: exists and is not a directory")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"run directory {run_dir}: cannot create it ({exc.strerror})") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"run directory {run_dir}: not writable")
    return run_dir


def _executor(
    protocol: Protocol, executor: str | None, address: str | None
) -> tuple[str, str | None]:
    """The executor kind and address a run uses (the options over the protocol's), checked."""
    kind = executor or protocol.executor.kind
    address = address or protocol.executor.address
    check_executor(kind, address)
    return kind, address


def plan_dry_run(
    protocol: Protocol,
    out: Path | str | None = None,
    executor: str | None = None,
    address: str | None = None,
) -> Plan:
    """The plan a run would execute, with its options checked; nothing is written or unpickled."""
    _executor(protocol, executor, address)
    return plan(protocol, Path(out) if out is not None else None, unpickle=False)


def run_protocol(
    protocol: Protocol,
    out: Path | str | None = None,
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    fail_fast: bool = False,
    events: RunEvents | None = None,
    report: bool = True,
) -> RunResult:
    """Run every unstored cell of a protocol, then build the report (flow in docs/architecture.md).

    report=False leaves the report to a later `tacfn-robust report DIR` (e.g. while a grid is
    still spread over a cluster). Nothing is written before the options are checked; the run
    directory is announced, then held under its run lock (a second run into it stops with Locked).
    Ctrl-C cancels pending cells, stops pool workers and raises RunInterrupted.
    """
    kind, address = _executor(protocol, executor, address)
    p = plan(protocol, Path(out) if out is not None else None)
    return _execute_plan(p, {}, workers, kind, address, fail_fast, events or RunEvents(), report)


def evaluate_checkpoints(
    protocol: Protocol,
    run_dir: Path | str | None = None,
    checkpoints: Mapping[str, Path | str] | Iterable[tuple[str, Path | str]] = (),
    out: Path | str | None = None,
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    fail_fast: bool = False,
    events: RunEvents | None = None,
    report: bool = True,
    trust_pickle: bool = False,
) -> RunResult:
    """Evaluate already-trained models under a protocol's test sweeps into a run directory.

    The checkpoints come from `run_dir`'s cells (a directory written by `run`) and/or from
    `checkpoints` ((protocol model name, file) pairs). A file is a checkpoint.pt of the runner,
    a plain state_dict or a saved module (torch.save(model)); one without the runner's
    metadata stands for the protocol's first regime, seed and fold and must fit the model's
    keys. A saved module is unpickled in full, which runs code the file names: only with
    `trust_pickle`, and never for a run directory's own checkpoints. Without `run_dir`, the
    grid is narrowed to the models, regimes, seeds and folds the checkpoints name. Each must
    be a train cell of the protocol (model built alike, same data set, regime, a seed and fold
    of the protocol) and every cell needs one; otherwise a one-line ConfigError names the
    checkpoint and field.
    """
    kind, address = _executor(protocol, executor, address)
    p = plan(protocol, Path(out) if out is not None else None)
    pairs = list(checkpoints.items() if isinstance(checkpoints, Mapping) else checkpoints)
    named = [(name, read_checkpoint(Path(path), trust_pickle)) for name, path in pairs]
    if run_dir is not None:
        named += [(None, read_checkpoint(path)) for path in _run_checkpoints(Path(run_dir))]
    elif (narrowed := checkpoint_grid(protocol, named)) is not protocol:
        protocol = narrowed
        p = plan(protocol, Path(out) if out is not None else None)
    info = load_dataset(protocol.dataset).info
    files = match_checkpoints(
        protocol, info, p.cells, named, lambda cell: build_cell_model(protocol, cell, info)
    )
    found = {cell: str(c.path.resolve()) for cell, c in files.items()}
    return _execute_plan(p, found, workers, kind, address, fail_fast, events or RunEvents(), report)


def _run_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoint files of a run directory's cells, or a ConfigError when it has none."""
    found = sorted(store.cells_root(run_dir).glob(f"*/{store.CHECKPOINT_FILE}"))
    if not found:
        raise ConfigError(
            f"{run_dir}: no {store.CHECKPOINT_FILE} under {store.cells_root(run_dir)}; "
            "expected a run directory written by `tacfn-robust run`"
        )
    return found


def _execute_plan(
    p: Plan,
    sources: dict[TrainCell, str],
    workers: int | None,
    kind: str,
    address: str | None,
    fail_fast: bool,
    events: RunEvents,
    report: bool,
) -> RunResult:
    """Run a plan's pending cells (each from its checkpoint in `sources` when given), then
    build the report."""
    check_not_bootstrapping()
    protocol = p.protocol
    n_workers = resolve_workers(
        workers or protocol.executor.workers, protocol.executor.threads, len(p.pending)
    )
    pool = make_executor(kind, n_workers, address)
    try:
        events.started(p.run_dir)
        prepare_run_dir(p.run_dir)
        with directory_lock(p.run_dir, store.RUN_LOCK, wait=False, what="running a protocol"):
            remove_temporaries(p.run_dir, store.ROOT_FILES)
            _remove_cell_temporaries(p.run_dir)
            p.done = stored_cells(p)
            skipped = write_protocol_files(p)["skipped"]
            if skipped:
                events.skipped(skipped)
            records = _run_cells(p, pool, sources, fail_fast, events)
            cells = [records[p.keys[c]] for c in p.cells if records.get(p.keys[c])]
            if not report:
                return RunResult(p.run_dir, cells, None, len(p.done))
            from tacfn_robust.reports import build_report

            return RunResult(p.run_dir, cells, Path(build_report(p.run_dir)), len(p.done))
    finally:
        pool.close()


def _remove_cell_temporaries(run_dir: Path) -> None:
    """Remove the temporaries a killed run left in any cell directory (also of cells stored
    since, which no cell of this run rewrites); call it under the run lock."""
    root = store.cells_root(run_dir)
    if root.is_dir() and not root.is_symlink():
        for directory in root.iterdir():
            if directory.is_dir() and not directory.is_symlink():
                remove_temporaries(directory)


def _run_cells(
    p: Plan,
    pool: Executor,
    sources: dict[TrainCell, str],
    fail_fast: bool,
    events: RunEvents,
) -> dict[str, dict[str, Any]]:
    """Run the pending cells on the pool; every cell.json of the grid by key."""
    protocol = p.protocol
    records = {p.keys[c]: read_cell(p.run_dir, p.keys[c]) for c in p.done}
    data = protocol.model_dump(mode="json")
    events.cells_started(len(p.cells), [r for r in records.values() if r], pool.workers)
    epochs = protocol.train.epochs
    if protocol.train.pretrain_epochs:  # one unimodal pre-training per modality first
        modalities = len(load_dataset(protocol.dataset).info.modalities)
        epochs += protocol.train.pretrain_epochs * modalities

    def receive(message: tuple[str, dict[str, Any]]) -> None:
        events.epoch(message[0], epochs, message[1])

    def lost(task: Task, reason: str) -> dict[str, Any]:
        return record_lost_cell(p.run_dir, protocol, task[2], reason)

    try:
        tasks = [
            (str(p.run_dir), data, c, Relay(c.label, receive), sources.get(c)) for c in p.pending
        ]
        for record in pool.run(execute_cell, tasks, receive, lost):
            records[record["key"]] = record
            events.cell_finished(record, len(records), len(p.cells))
            if record["status"] != "done" and fail_fast:
                label = f"{record['model']}/{record['regime']}/seed{record['seed']}"
                raise CellFailed(
                    f"cell {label}/fold{record['fold']} failed: {record['error']} "
                    "(stopped by --fail-fast; details in "
                    f"{store.cell_dir(p.run_dir, record['key']) / store.CELL_FILE})"
                )
    except KeyboardInterrupt:
        saved = sum(1 for r in records.values() if r and r.get("status") == "done")
        raise RunInterrupted(p.run_dir, saved, len(p.cells)) from None
    finally:
        events.cells_stopped()
    return records
