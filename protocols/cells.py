"""One train cell as a task: train (or load) the model, evaluate every condition, store all.

`execute_cell` is a picklable top-level function so that any executor (process pool, Dask)
can run it; it never raises for a failing cell but records it (cell.json status "failed").
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from protocols import store
from protocols.conditions import resolve_point
from protocols.evaluate import ConditionOutput, evaluate
from protocols.fills import TrainMeans, with_mean
from protocols.grid import Condition, TrainCell, cell_key, conditions_hash, expand_conditions
from protocols.loading import canonical_json, validate
from protocols.schema import DatasetSpec, Protocol
from tacfn.core.errors import ConfigError
from tacfn.core.io import DiskFull, file_problem


@lru_cache(maxsize=4)
def _dataset(name: str, params_json: str) -> Any:
    import json

    from tacfn.data import build_dataset

    return build_dataset(name, **json.loads(params_json))


def load_dataset(spec: DatasetSpec) -> Any:
    """The data set of a protocol (built once per process)."""
    return _dataset(spec.name, canonical_json(spec.build_params()))


def fold_split(dataset: Any, spec: DatasetSpec, fold: int) -> Any:
    """Split `fold` of the data set, or a ConfigError naming the folds that exist."""
    splits = dataset.splits(spec.folds)
    if not 0 <= fold < len(splits):
        raise ConfigError(f"folds: fold {fold} does not exist; expected 0..{len(splits) - 1}")
    return splits[fold]


def resolve_device(device: str) -> torch.device:
    """auto -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_cell_model(protocol: Protocol, cell: TrainCell, info: Any) -> torch.nn.Module:
    """The untrained model of a cell with its entry's options, initialised from the cell seed
    (global RNG untouched)."""
    from tacfn.models import build_model

    entry = protocol.model_entries[cell.model]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cell.seed)
        return build_model(entry.model, info, protocol.preset, **entry.options)


def train_config(protocol: Protocol, cell: TrainCell, device: torch.device) -> Any:
    from tacfn.train import TrainConfig

    t = protocol.train
    return TrainConfig(
        epochs=t.epochs,
        batch_size=t.batch_size,
        lr=t.lr,
        optimizer=t.optimizer,
        weight_decay=t.weight_decay,
        schedule=t.schedule,
        plateau_patience=t.plateau_patience,
        grad_clip=t.grad_clip,
        select=t.select,
        seed=cell.seed,
        device=device.type,
        amp=t.amp,
        pretrain_epochs=t.pretrain_epochs,
        legacy_test_eval=t.legacy_test_eval,
        eval_batch_size=protocol.test.batch_size,
    )


def train_regime(protocol: Protocol, cell: TrainCell, means: Mapping[str, Any]) -> Any:
    """The regime's batch_transform (None for a regime without corruptions).

    `means` (modality -> mean sample of the training split) is what fill=mean puts in place
    of a dropped input.
    """
    from corruptions import TrainRegime

    specs = [
        with_mean(c.corruption, c.modality, c.as_spec(), means)
        for c in protocol.train.regimes[cell.regime]
    ]
    return TrainRegime(specs, seed=cell.seed) if specs else None


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


def predictions_frame(
    cell: TrainCell,
    conditions: list[Condition],
    outputs: dict[str, ConditionOutput],
    meta: pd.DataFrame,
) -> pd.DataFrame:
    """One row per sample x condition (x target for multi-label sets), contract columns."""
    frames = []
    for condition in conditions:
        out = outputs[condition.id]
        logits, labels = out.stacked()
        base = {
            "model": cell.model,
            "regime": cell.regime,
            "seed": cell.seed,
            "fold": cell.fold,
            "condition": condition.id,
            "sweep": condition.sweep,
            **_condition_columns(condition),
        }
        if logits.dim() == 3:  # multi-label: (N, K, 2) -> one row per sample and target
            n, k, _ = logits.shape
            rows = {
                "sample_id": np.repeat(out.ids, k),
                "target": np.tile(np.arange(k), n),
                "label": labels.reshape(-1).numpy().astype(np.int64),
                "pred": logits.argmax(-1).reshape(-1).numpy().astype(np.int64),
            }
            flat = logits.reshape(n * k, 2).numpy()
            meta_rows = meta.loc[np.repeat(out.ids, k)]
        else:
            rows = {
                "sample_id": np.asarray(out.ids),
                "label": labels.numpy().astype(np.int64),
                "pred": logits.argmax(-1).numpy().astype(np.int64),
            }
            flat = logits.numpy()
            meta_rows = meta.loc[out.ids]
        frame = pd.DataFrame({**{k: [v] * len(rows["sample_id"]) for k, v in base.items()}, **rows})
        frame["identity"] = condition.identity
        frame["realised"] = out.realised(0)
        frame["realised2"] = out.realised(1)
        for j in range(flat.shape[1]):
            frame[f"logit_{j}"] = flat[:, j].astype(np.float32)
        for column in meta_rows.columns:
            if column not in frame.columns:
                frame[column] = meta_rows[column].to_numpy()
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column in TEXT_COLUMNS:
        table[column] = table[column].astype("str")
    for column in ("value", "value2", "realised", "realised2"):
        table[column] = table[column].astype("float64")
    return table


AXIS_COLUMNS = ("corruption", "modality", "param", "value", "unit")
TEXT_COLUMNS = [f"{n}{s}" for s in ("", "2") for n in AXIS_COLUMNS if n != "value"] + [
    "stage",
    "fill",
]


def _condition_columns(condition: Condition) -> dict[str, Any]:
    empty = {f"{n}{s}": None for s in ("", "2") for n in AXIS_COLUMNS} | {
        "stage": None,
        "fill": None,
    }
    return {**empty, **condition.columns}


def _records_frame(outputs: dict[str, ConditionOutput]) -> pd.DataFrame:
    rows = [r for out in outputs.values() for r in out.records]
    columns = ["condition", "corruption", "sample_id", "field", "value", "text"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["value"] = frame["value"].astype("float64")
    return frame


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
    progress: Any = None,
) -> dict[str, Any]:
    """Train, evaluate and store one cell unless it is stored; return its cell.json.

    The cell runs with `executor.threads` torch threads whatever the executor. A protocol this
    process cannot resolve (e.g. a model registered only in the parent) is a one-line
    ConfigError.
    """
    protocol = validate(protocol_data, str(Path(run_dir) / "protocol.yaml"))
    with torch_threads(protocol.executor.threads):
        return _execute(run_dir, protocol, cell, progress)


def _execute(run_dir: str, protocol: Protocol, cell: TrainCell, progress: Any) -> dict[str, Any]:
    key = cell_key(protocol, cell)
    directory = store.cell_dir(Path(run_dir), key)
    tests = conditions_hash(protocol)
    stored = store.read_cell(Path(run_dir), key)
    if is_stored(stored, tests, directory):
        return stored
    directory.mkdir(parents=True, exist_ok=True)
    store.remove_temporaries(directory)
    started = time.perf_counter()
    record: dict[str, Any] = {
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
        record.update(_train_and_evaluate(protocol, cell, directory, stored, progress))
        record["artefacts"] = store.artefacts(directory)
        record["status"] = "done"
        record["error"] = None
    except DiskFull:
        raise  # stops the run: every later cell would fail the same way
    except Exception as exc:  # recorded; the rest of the grid goes on
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - started, 3)
    store.write_json(directory / store.CELL_FILE, record)
    return record


def _train_and_evaluate(
    protocol: Protocol,
    cell: TrainCell,
    directory: Path,
    stored: dict[str, Any] | None,
    progress: Any,
) -> dict[str, Any]:
    """Train (or reload a trained checkpoint when only the test conditions changed), evaluate."""
    dataset = load_dataset(protocol.dataset)
    split = fold_split(dataset, protocol.dataset, cell.fold)
    device = resolve_device(protocol.device)
    model = build_cell_model(protocol, cell, dataset.info)
    means = TrainMeans(dataset, split.train)
    checkpoint = directory / store.CHECKPOINT_FILE
    if _checkpoint_intact(stored, directory):
        assert stored is not None
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(payload["state_dict"])
        training = {k: stored[k] for k in ("best_epoch", "legacy_max_test_acc", "train_seconds")}
    else:
        regime = train_regime(protocol, cell, means)
        training = _train(protocol, cell, model, dataset, split, regime, directory, progress)
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
    store.write_parquet(directory / store.RECORDS_FILE, _records_frame(outputs))
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
    }


def _train(
    protocol: Protocol,
    cell: TrainCell,
    model: torch.nn.Module,
    dataset: Any,
    split: Any,
    regime: Any,
    directory: Path,
    progress: Any,
) -> dict[str, Any]:
    from tacfn.train import fit

    started = time.perf_counter()
    device = resolve_device(protocol.device)
    result = fit(
        model,
        dataset,
        split,
        train_config(protocol, cell, device),
        batch_transform=regime,
        out_dir=directory,
        progress=progress,
    )
    return {
        "best_epoch": int(result.best_epoch),
        "legacy_max_test_acc": None
        if result.legacy_max_test_acc is None
        else float(result.legacy_max_test_acc),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
