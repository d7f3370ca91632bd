"""One train cell as a task: train (or load) the model, evaluate every condition, store all.

`execute_cell` is a picklable top-level function so that any executor (process pool, Dask)
can run it; it never raises for a failing cell but records it (cell.json status "failed").
"""

from __future__ import annotations

import io
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from tacfn.core import store
from tacfn.core.device import resolve_device
from tacfn.core.errors import ConfigError
from tacfn.core.io import DiskFull, file_problem, remove_temporaries, write_bytes
from tacfn_robust.protocols.checkpoints import (
    Checkpoint,
    cell_checkpoint_problem,
    checkpoint_metadata,
    read_checkpoint,
)
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.evaluate import evaluate, refuse_feature_stage
from tacfn_robust.protocols.fills import TrainMeans
from tacfn_robust.protocols.grid import TrainCell, cell_key, conditions_hash, expand_conditions
from tacfn_robust.protocols.loading import validate
from tacfn_robust.protocols.predictions import predictions_frame, records_frame
from tacfn_robust.protocols.rerun_policy import read_cell
from tacfn_robust.protocols.schema import Protocol
from tacfn_robust.protocols.training import build_cell_model, train_cell

EpochHook = Callable[[dict[str, Any]], None]
TRAINING_FIELDS = ("best_epoch", "legacy_max_test_acc", "train_seconds", "checkpoint_source")


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with `threads` torch intra-op threads, then restore the previous count.

    The same count in every executor makes results bit-identical: the thread count changes
    the order of float sums.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_stored(record: dict[str, Any] | None, conditions: str, directory: Path) -> bool:
    """Whether a cell.json says the cell of its directory is done for these test conditions,
    every artefact it records is there with its recorded size and sha256, and every table
    records that cell and conditions (store.cell_problems; else the cell is run again)."""
    return (
        bool(record)
        and record.get("status") == "done"
        and not store.cell_problems(directory, record, conditions)
    )


def _stored_checkpoint(
    record: dict[str, Any] | None, directory: Path, key: str, cell: TrainCell
) -> Checkpoint | None:
    """A done cell's checkpoint when it is there as its cell.json records it and holds that
    cell's model (else None: the cell is trained again)."""
    if not record or record.get("status") != "done" or record.get("key") != key:
        return None
    path = directory / store.CHECKPOINT_FILE
    expected = (record.get("artefacts") or {}).get(store.CHECKPOINT_FILE)
    if not isinstance(expected, dict) or file_problem(path, expected) is not None:
        return None
    try:
        checkpoint = read_checkpoint(path)
    except ConfigError:
        return None
    return checkpoint if cell_checkpoint_problem(checkpoint, key, cell) is None else None


def execute_cell(
    run_dir: str,
    protocol_data: dict[str, Any],
    cell: TrainCell,
    progress: EpochHook | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Train (or, with `source`, load that checkpoint file), evaluate and store one cell unless
    it is stored; return its cell.json.

    The cell runs with `executor.threads` torch threads whatever the executor. A protocol this
    process cannot resolve (e.g. a model registered only in the parent) is a one-line
    ConfigError.
    """
    protocol = validate(protocol_data, str(Path(run_dir) / store.PROTOCOL_YAML))
    with torch_threads(protocol.executor.threads):
        return _execute(run_dir, protocol, cell, progress, source)


def _execute(
    run_dir: str,
    protocol: Protocol,
    cell: TrainCell,
    progress: EpochHook | None,
    source: str | None,
) -> dict[str, Any]:
    key = cell_key(protocol, cell)
    directory = store.cell_dir(Path(run_dir), key)
    tests = conditions_hash(protocol)
    stored = read_cell(Path(run_dir), key)
    if is_stored(stored, tests, directory):
        return stored
    directory.mkdir(parents=True, exist_ok=True)
    remove_temporaries(directory)
    started = time.perf_counter()
    fields = _cell_fields(protocol, cell, key, tests)
    try:
        fields.update(_train_and_evaluate(protocol, cell, directory, stored, progress, source))
        fields.update(artefacts=store.artefacts(directory), status="done")
    except DiskFull:
        raise  # stops the run: every later cell would fail the same way
    except Exception as exc:  # recorded; the rest of the grid goes on
        fields.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    record = store.CellRecord(**fields, seconds=round(time.perf_counter() - started, 3))
    store.write_record(directory / store.CELL_FILE, record)
    return record.model_dump()


def _cell_fields(protocol: Protocol, cell: TrainCell, key: str, tests: str) -> dict[str, Any]:
    """The fields of a cell's cell.json known before it runs."""
    return {
        "key": key,
        "model": cell.model,
        "builds": protocol.model_entries[cell.model].model,
        "options": protocol.model_entries[cell.model].options,
        "regime": cell.regime,
        "seed": cell.seed,
        "fold": cell.fold,
        "protocol": protocol.name,
        "conditions_hash": tests,
        "threads": protocol.executor.threads,
    }


def record_lost_cell(
    run_dir: Path, protocol: Protocol, cell: TrainCell, error: str
) -> dict[str, Any]:
    """Record a cell whose worker process died as failed with `error` (unless it was stored
    before the worker died) and remove the temporaries the worker left; its cell.json."""
    key = cell_key(protocol, cell)
    directory = store.cell_dir(run_dir, key)
    tests = conditions_hash(protocol)
    stored = read_cell(run_dir, key)
    if is_stored(stored, tests, directory):
        return stored
    directory.mkdir(parents=True, exist_ok=True)
    remove_temporaries(directory)
    fields = _cell_fields(protocol, cell, key, tests)
    record = store.CellRecord(**fields, status="failed", error=error)
    store.write_record(directory / store.CELL_FILE, record)
    return record.model_dump()


def _adopt(
    source: Path, model: torch.nn.Module, directory: Path, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Store a trained checkpoint in the cell and load it; the training fields of cell.json.

    It is stored as a checkpoint.pt with its own metadata (the cell's `metadata` for a plain
    state_dict or saved module, best epoch unknown) and the cell's key. `source` was read by
    the parent first (match_checkpoints), a saved module only under `--trust-pickle`."""
    checkpoint = read_checkpoint(source, trust_pickle=True)
    recorded = {**(checkpoint.metadata or metadata), "key": metadata["key"]}
    payload = {
        "state_dict": checkpoint.state_dict,
        "best_epoch": checkpoint.best_epoch,
        "metadata": recorded,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(directory / store.CHECKPOINT_FILE, buffer.getvalue())
    model.load_state_dict(checkpoint.state_dict)
    return {
        "best_epoch": checkpoint.best_epoch,
        "legacy_max_test_acc": None,
        "train_seconds": None,
        "checkpoint_source": str(source),
    }


def _train_and_evaluate(
    protocol: Protocol,
    cell: TrainCell,
    directory: Path,
    stored: dict[str, Any] | None,
    progress: EpochHook | None,
    source: str | None,
) -> dict[str, Any]:
    """Train (or reload a checkpoint: stored when only the test conditions changed, or given
    as `source`), then evaluate every test condition."""
    dataset = load_dataset(protocol.dataset)
    split = fold_split(dataset, protocol.dataset, cell.fold)
    device = resolve_device(protocol.device)
    model = build_cell_model(protocol, cell, dataset.info)
    refuse_feature_stage(protocol, cell.model, model)
    means = TrainMeans(dataset, split.train)
    key = directory.name
    reused = _stored_checkpoint(stored, directory, key, cell)
    if reused is not None:
        assert stored is not None
        model.load_state_dict(reused.state_dict)
        training = {k: stored[k] for k in TRAINING_FIELDS if k in stored}
    elif source is not None:
        metadata = checkpoint_metadata(protocol, cell, dataset.info)
        training = _adopt(Path(source), model, directory, metadata)
    else:
        training = train_cell(protocol, cell, model, dataset, split, means, directory, progress)
    model.to(device)
    conditions = expand_conditions(protocol, dataset.info.modalities, resolve_point)
    started = time.perf_counter()
    outputs = evaluate(
        model,
        dataset,
        split.test,
        conditions,
        protocol.test.seed,
        protocol.test.batch_size,
        device,
        means=means,
    )
    meta = dataset.meta.set_index(pd.Index(dataset.ids, name="sample_id"))
    identity = store.cell_identity(key, conditions_hash(protocol))
    predictions = predictions_frame(cell, conditions, outputs, meta)
    store.write_parquet(directory / store.PREDICTIONS_FILE, predictions, identity)
    store.write_parquet(directory / store.RECORDS_FILE, records_frame(outputs), identity)
    info = dataset.info
    return {
        **training,
        "modalities": list(getattr(model, "modalities", info.modalities)),
        "num_classes": info.num_classes,
        "class_names": list(info.class_names),
        "task": info.task,
        "parameters": sum(p.numel() for p in model.parameters()),
        "conditions": [c.id for c in conditions],
        "eval_seconds": round(time.perf_counter() - started, 3),
        "device": str(device),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "dataset_limits": dataset_limits(dataset),
    }


def dataset_limits(dataset: Any) -> store.DatasetLimits:
    """The actors of the data set as built and what it could give (None where it does not say)."""
    groups = getattr(dataset, "groups", None)
    return store.DatasetLimits(
        actors=None if groups is None else len(set(groups.tolist())),
        max_actors=dataset.info.extra.get("max_actors"),
        max_clips_per_actor=dataset.info.extra.get("max_clips_per_actor"),
    )
