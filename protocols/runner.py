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

from protocols import store
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
from protocols.executors import make_executor, resolve_workers
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
from protocols.schema import DATASETS_NEEDING_PATH, Protocol, TrainSpec
from tacfn.errors import DataError

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

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.cells if c.get("status") != "done"]


def default_run_dir(protocol: Protocol) -> Path:
    return Path(protocol.output or Path("runs") / protocol.name)


def _check_data_path(protocol: Protocol) -> None:
    spec = protocol.dataset
    if spec.name in DATASETS_NEEDING_PATH and not Path(str(spec.path)).exists():
        raise DataError(
            f"dataset.path: {spec.path} does not exist; expected the {spec.name} data "
            "(set it with --set dataset.path=...)"
        )


def plan(protocol: Protocol, run_dir: Path | None = None) -> Plan:
    """Expand the grid (train cells and test conditions) and find the stored cells."""
    _check_data_path(protocol)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(protocol)
    dataset = load_dataset(protocol.dataset)
    num_folds = len(dataset.splits(protocol.dataset.folds))
    cells = train_cells(protocol, num_folds)
    for fold in sorted({c.fold for c in cells}):
        fold_split(dataset, protocol.dataset, fold)
    conditions = expand_conditions(protocol, dataset.info.modalities, resolve_point)
    keys = {c: cell_key(protocol, c) for c in cells}
    tests = conditions_hash(protocol)
    done = {c for c, key in keys.items() if is_stored(store.read_cell(run_dir, key), tests)}
    return Plan(protocol, run_dir, cells, keys, conditions, done)


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
    previous = store.read_json(p.run_dir / "protocol.json") or {}
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
    }
    store.write_text(p.run_dir / "protocol.yaml", yaml.safe_dump(data, sort_keys=False))
    store.write_json(p.run_dir / "protocol.json", record)
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


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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
    """Run every unstored cell of a protocol, then build the report.

    report=False leaves the report to a later `tacfn-robust report DIR` (e.g. while a grid is
    still spread over a cluster).
    """
    console = console or Console(stderr=True)
    p = plan(protocol, Path(out) if out is not None else None)
    if dry_run:
        print_plan(p, console, estimate_seconds(p))
        return RunResult(p.run_dir, [], None)
    write_protocol_files(p)
    kind = executor or protocol.executor.kind
    n_workers = resolve_workers(
        workers or protocol.executor.workers, protocol.executor.threads, len(p.pending)
    )
    pool = make_executor(kind, n_workers, address or protocol.executor.address)
    records = {p.keys[c]: store.read_cell(p.run_dir, p.keys[c]) for c in p.done}
    data = protocol.model_dump(mode="json")
    try:
        with _progress(console) as progress:
            task = progress.add_task("cells", total=len(p.cells), completed=len(p.done))
            sequential = pool.workers == 1 and kind == "local"
            modalities = len(load_dataset(protocol.dataset).info.modalities)
            epochs = EpochProgress(progress, protocol.train, modalities) if sequential else None
            tasks = [(str(p.run_dir), data, c, epochs) for c in p.pending]
            for record in pool.run(execute_cell, tasks):
                records[record["key"]] = record
                progress.advance(task)
                if record["status"] != "done":
                    label = f"{record['model']}/{record['regime']}/seed{record['seed']}"
                    error = escape(str(record["error"]))
                    console.print(f"[red]failed[/red] {label}/fold{record['fold']}: {error}")
                    if fail_fast:
                        raise CellFailed(
                            f"cell {label}/fold{record['fold']} failed: {record['error']} "
                            f"(stopped by --fail-fast; details in {p.run_dir}/store/cells/"
                            f"{record['key']}/cell.json)"
                        )
    finally:
        pool.close()
    cells = [records[p.keys[c]] for c in p.cells if records.get(p.keys[c])]
    if not report:
        return RunResult(p.run_dir, cells, None)
    from reports import build_report

    return RunResult(p.run_dir, cells, Path(build_report(p.run_dir)))


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
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
