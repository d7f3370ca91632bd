"""Run a protocol: expand the grid, run every unstored train cell, store, build the report."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from protocols.cells import (
    build_cell_model,
    execute_cell,
    fold_split,
    is_stored,
    load_dataset,
    resolve_device,
    train_regime,
)
from protocols.conditions import resolve_point
from protocols.executors import Executor, check_executor, make_executor, resolve_workers
from protocols.fills import TrainMeans
from protocols.grid import (
    Condition,
    TrainCell,
    cell_key,
    conditions_hash,
    expand_conditions,
    train_cells,
)
from protocols.loading import protocol_hash
from protocols.schema import DATASETS_NEEDING_PATH, PICKLED_DATASETS, Protocol, TrainSpec
from protocols.store import read_cell, recorded
from tacfn.core import store
from tacfn.core.errors import ConfigError, DataError
from tacfn.core.io import directory_lock, remove_temporaries, write_text
from tacfn.data import dataset_modalities

VERSIONED = ("torch", "torchvision", "torchaudio", "numpy", "pandas", "scipy", "pydantic", "dask")


class CellFailed(Exception):
    """A cell failed and --fail-fast stopped the run (the CLI exits 1)."""


@dataclass
class Plan:
    """The expanded grid of a protocol and which of its cells are already stored."""

    protocol: Protocol
    run_dir: Path
    cells: list[TrainCell]
    keys: dict[TrainCell, str]
    conditions: list[Condition]
    done: set[TrainCell]

    @property
    def pending(self) -> list[TrainCell]:
        return [c for c in self.cells if c not in self.done]


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


def default_run_dir(protocol: Protocol) -> Path:
    return Path(protocol.output or Path("runs") / protocol.name)


def _check_data_path(protocol: Protocol) -> None:
    spec = protocol.dataset
    if spec.name in DATASETS_NEEDING_PATH and not Path(str(spec.path)).exists():
        raise DataError(
            f"dataset.path: {spec.path} does not exist; expected the {spec.name} data "
            "(set it with --set dataset.path=...)"
        )


def plan(protocol: Protocol, run_dir: Path | None = None, unpickle: bool = True) -> Plan:
    """Expand the grid (train cells and test conditions) and find the stored cells.

    unpickle=False plans a pickled data set (one given split, fixed modalities) without
    loading it, as --dry-run does: unpickling runs code.
    """
    _check_data_path(protocol)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(protocol)
    if not unpickle and protocol.dataset.name in PICKLED_DATASETS:
        modalities = dataset_modalities(protocol.dataset.name)
        assert modalities is not None
        cells = train_cells(protocol, 1)
    else:
        dataset = load_dataset(protocol.dataset)
        cells = train_cells(protocol, len(dataset.splits(protocol.dataset.folds)))
        for fold in sorted({c.fold for c in cells}):
            fold_split(dataset, protocol.dataset, fold)
        modalities = dataset.info.modalities
    conditions = expand_conditions(protocol, modalities, resolve_point)
    keys = {c: cell_key(protocol, c) for c in cells}
    p = Plan(protocol, run_dir, cells, keys, conditions, set())
    p.done = _stored(p)
    return p


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["tacfn-robust"] = metadata.version("tacfn-robust")
    return out


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def write_protocol_files(p: Plan) -> dict[str, Any]:
    """protocol.yaml (validated, defaults filled) and protocol.json (plus hash, versions, grid)."""
    data = p.protocol.model_dump(mode="json")
    digest = protocol_hash(p.protocol)
    previous = recorded(p.run_dir / store.PROTOCOL_FILE) or {}
    created = previous.get("created") if previous.get("hash") == digest else None
    record = {
        "name": p.protocol.name,
        "description": p.protocol.description,
        "hash": digest,
        "protocol": data,
        "versions": _versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": p.protocol.executor.threads,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "git_commit": _git_commit(),
        "created": created or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cells": [
            {"key": p.keys[c], "model": c.model, "regime": c.regime, "seed": c.seed, "fold": c.fold}
            for c in p.cells
        ],
        "conditions": [c.id for c in p.conditions],
        "skipped": list(load_dataset(p.protocol.dataset).skipped),
    }
    write_text(p.run_dir / store.PROTOCOL_YAML, yaml.safe_dump(data, sort_keys=False))
    store.write_json(p.run_dir / store.PROTOCOL_FILE, record)
    return record


def estimate_seconds(p: Plan) -> float:
    """Wall time of the pending cells, from one timed training step per model on real data."""
    protocol = p.protocol
    dataset = load_dataset(protocol.dataset)
    device = resolve_device(protocol.device)
    step: dict[str, float] = {}
    for cell in p.pending:
        if cell.model in step:
            continue
        split = fold_split(dataset, protocol.dataset, cell.fold)
        model = build_cell_model(protocol, cell, dataset.info).to(device)
        batch = dataset.batch(split.train[: protocol.train.batch_size]).to(device)
        regime = train_regime(protocol, cell, TrainMeans(dataset, split.train))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            logits = model(regime(batch, 0) if regime else batch)
            logits.float().sum().backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - start)
        step[cell.model] = min(times)
    total = 0.0
    for cell in p.pending:
        split = fold_split(dataset, protocol.dataset, cell.fold)
        steps = math.ceil(len(split.train) / protocol.train.batch_size)
        val_steps = math.ceil(len(split.val) / protocol.train.batch_size)
        train = protocol.train.epochs * (steps + val_steps / 3) * step[cell.model]
        evaluation = len(p.conditions) * len(split.test) / protocol.train.batch_size
        total += train + evaluation * step[cell.model] / 3
    return total


def print_plan(p: Plan, console: Console, estimate: float | None) -> None:
    """The grid as tables: train cells with their stored state, test conditions."""
    cells = Table(title=f"{p.protocol.name}: {len(p.cells)} train cells ({len(p.pending)} to run)")
    for column in ("model", "regime", "seed", "fold", "key", "state"):
        cells.add_column(column)
    for c in p.cells:
        state = "stored" if c in p.done else "to run"
        cells.add_row(c.model, c.regime, str(c.seed), str(c.fold), p.keys[c], state)
    console.print(cells)
    conditions = Table(title=f"{len(p.conditions)} test conditions per cell")
    conditions.add_column("condition")
    conditions.add_column("sweep")
    for condition in p.conditions:
        conditions.add_row(escape(condition.id), escape(condition.sweep))
    console.print(conditions)
    if estimate is not None:
        console.print(f"estimated time: {_duration(estimate)} for {len(p.pending)} cells")


def cell_line(record: dict[str, Any], position: int, total: int, status: str) -> str:
    """One log line for a finished cell: position, model, regime, seed, fold, seconds, status."""
    seconds = record.get("seconds")
    took = f"{seconds:.1f} s" if status != "reused" and seconds is not None else "-"
    return (
        f"cell {position}/{total} {status}: {record['model']} {record['regime']} "
        f"seed={record['seed']} fold={record['fold']} {took}"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; says how many cells are saved in which directory."""

    def __init__(self, run_dir: Path, saved: int, total: int) -> None:
        super().__init__(f"{saved} of {total} cells saved in {run_dir}")
        self.run_dir = run_dir
        self.saved = saved
        self.total = total


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


def _stored(p: Plan) -> set[TrainCell]:
    tests = conditions_hash(p.protocol)
    return {
        c
        for c, key in p.keys.items()
        if is_stored(read_cell(p.run_dir, key), tests, store.cell_dir(p.run_dir, key))
    }


def run_protocol(
    protocol: Protocol,
    out: Path | str | None = None,
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    fail_fast: bool = False,
    dry_run: bool = False,
    console: Console | None = None,
    report: bool = True,
) -> RunResult:
    """Run every unstored cell of a protocol, then build the report (flow in docs/architecture.md).

    report=False leaves the report to a later `tacfn-robust report DIR` (e.g. while a grid is
    still spread over a cluster). Nothing is written before the options are checked; the run
    directory is printed, then held under its run lock (a second run into it stops with Locked).
    Ctrl-C cancels pending cells, stops pool workers and raises RunInterrupted.
    """
    kind = executor or protocol.executor.kind
    address = address or protocol.executor.address
    check_executor(kind, address)
    p = plan(protocol, Path(out) if out is not None else None, unpickle=not dry_run)
    if dry_run:  # the plan is the command's output: stdout
        from reports.comparisons import planned_design

        out_console = console or Console()
        pickled = protocol.dataset.name in PICKLED_DATASETS
        print_plan(p, out_console, None if pickled else estimate_seconds(p))
        out_console.print(planned_design(p.cells, p.conditions, protocol.report.ci), soft_wrap=True)
        return RunResult(p.run_dir, [], None)
    console = console or Console(stderr=True)
    n_workers = resolve_workers(
        workers or protocol.executor.workers, protocol.executor.threads, len(p.pending)
    )
    pool = make_executor(kind, n_workers, address)
    try:
        console.print(f"run directory: {escape(str(p.run_dir.resolve()))}", soft_wrap=True)
        prepare_run_dir(p.run_dir)
        with directory_lock(p.run_dir, store.RUN_LOCK, wait=False, what="running a protocol"):
            remove_temporaries(p.run_dir, store.ROOT_FILES)
            p.done = _stored(p)
            skipped = write_protocol_files(p)["skipped"]
            if skipped:
                console.print(f"skipped {len(skipped)} unreadable media files (on_error: skip):")
                for problem in skipped:
                    console.print(f"  skipped {escape(problem)}", soft_wrap=True)
            records = _run_cells(p, pool, kind, fail_fast, console)
            cells = [records[p.keys[c]] for c in p.cells if records.get(p.keys[c])]
            if not report:
                return RunResult(p.run_dir, cells, None, len(p.done))
            from reports import build_report

            return RunResult(p.run_dir, cells, Path(build_report(p.run_dir)), len(p.done))
    finally:
        pool.close()


def _run_cells(
    p: Plan, pool: Executor, kind: str, fail_fast: bool, console: Console
) -> dict[str, dict[str, Any]]:
    """Run the pending cells on the pool; every cell.json of the grid by key."""
    protocol = p.protocol
    records = {p.keys[c]: read_cell(p.run_dir, p.keys[c]) for c in p.done}
    lines = not console.is_terminal  # logs get one line per cell instead of live bars
    data = protocol.model_dump(mode="json")
    if lines:
        for position, key in enumerate(records, 1):
            line = cell_line(records[key], position, len(p.cells), "reused")
            console.print(escape(line), highlight=False)
    try:
        with _progress(console, disable=lines) as progress:
            task = progress.add_task("cells", total=len(p.cells), completed=len(p.done))
            sequential = pool.workers == 1 and kind == "local"
            modalities = len(load_dataset(protocol.dataset).info.modalities)
            epochs = EpochProgress(progress, protocol.train, modalities) if sequential else None
            tasks = [(str(p.run_dir), data, c, epochs) for c in p.pending]
            for record in pool.run(execute_cell, tasks):
                records[record["key"]] = record
                progress.advance(task)
                if lines:
                    line = cell_line(record, len(records), len(p.cells), record["status"])
                    console.print(escape(line), highlight=False)
                if record["status"] != "done":
                    label = f"{record['model']}/{record['regime']}/seed{record['seed']}"
                    error = escape(str(record["error"]))
                    console.print(f"[red]failed[/red] {label}/fold{record['fold']}: {error}")
                    if fail_fast:
                        raise CellFailed(
                            f"cell {label}/fold{record['fold']} failed: {record['error']} "
                            "(stopped by --fail-fast; details in "
                            f"{store.cell_dir(p.run_dir, record['key']) / store.CELL_FILE})"
                        )
    except KeyboardInterrupt:
        saved = sum(1 for r in records.values() if r and r.get("status") == "done")
        raise RunInterrupted(p.run_dir, saved, len(p.cells)) from None
    return records


def _progress(console: Console, disable: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=disable,
    )


class EpochProgress:
    """fit's progress hook: a rich bar of the epochs of the cell being trained."""

    def __init__(self, progress: Progress, train: TrainSpec, modalities: int) -> None:
        self._progress = progress
        self._total = train.epochs + train.pretrain_epochs * modalities
        self._task: Any = None
        self._done = 0

    def __call__(self, row: dict[str, Any]) -> None:
        if self._task is None or self._done >= self._total:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task("  epochs", total=self._total)
            self._done = 0
        self._done += 1
        loss = row.get("val_loss")
        label = f"  {row.get('stage', 'fusion')} epoch {row.get('epoch')}"
        if loss is not None:
            label += f" val_loss {loss:.3f}"
        self._progress.update(self._task, completed=self._done, description=label)
