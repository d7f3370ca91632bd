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
from tacfn.core.io import DiskFull, file_problem, remove_temporaries, write_bytes
from tacfn_robust.protocols.checkpoints import checkpoint_metadata, load_checkpoint, read_checkpoint
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
    """Whether a cell.json says the cell is done for these test conditions and every artefact
    it records is there, with its recorded size and sha256 (else the cell is run again)."""
    return (
        bool(record)
        and record.get("status") == "done"
        and record.get("conditions_hash") == conditions
        and not store.artefact_problems(directory, record)
    )


def _checkpoint_intact(record: dict[str, Any] | None, directory: Path) -> bool:
    """Whether a done cell's checkpoint is there as its cell.json records it."""
    if not record or record.get("status") != "done":
        return False
    expected = (record.get("artefacts") or {}).get(store.CHECKPOINT_FILE)
    return isinstance(expected, dict) and (
        file_problem(directory / store.CHECKPOINT_FILE, expected) is None
    )


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
    fields: dict[str, Any] = {
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


def _adopt(
    source: Path, model: torch.nn.Module, directory: Path, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Store a trained checkpoint in the cell and load it; the training fields of cell.json.

    The runner's checkpoint.pt is copied as it is; a plain state_dict or saved module is
    stored as a checkpoint.pt with the cell's `metadata` (best epoch unknown)."""
    checkpoint = read_checkpoint(source)
    if checkpoint.foreign:
        buffer = io.BytesIO()
        payload = {"state_dict": checkpoint.state_dict, "best_epoch": None, "metadata": metadata}
        torch.save(payload, buffer)
        write_bytes(directory / store.CHECKPOINT_FILE, buffer.getvalue())
    else:
        write_bytes(directory / store.CHECKPOINT_FILE, source.read_bytes())
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
    if _checkpoint_intact(stored, directory):
        assert stored is not None
        payload = load_checkpoint(directory / store.CHECKPOINT_FILE)
        model.load_state_dict(payload["state_dict"])
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
    store.write_parquet(
        directory / store.PREDICTIONS_FILE, predictions_frame(cell, conditions, outputs, meta)
    )
    store.write_parquet(directory / store.RECORDS_FILE, records_frame(outputs))
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
