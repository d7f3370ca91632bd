"""A train cell's model, train-time regime and training (tacfn.train.fit under the protocol)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from tacfn_robust.protocols.checkpoints import checkpoint_metadata
from tacfn_robust.protocols.fills import with_mean
from tacfn_robust.protocols.grid import TrainCell
from tacfn_robust.protocols.schema import Protocol


def train_config(protocol: Protocol, seed: int) -> Any:
    """The trainer's TrainConfig of a cell: the train settings, the cell's seed, the
    protocol's device and its test batch size (TrainConfig checks the values: one place)."""
    from tacfn.train import TrainConfig

    return TrainConfig(
        **protocol.train.settings(),
        seed=seed,
        device=protocol.device,
        eval_batch_size=protocol.test.batch_size,
    )


def build_cell_model(protocol: Protocol, cell: TrainCell, info: Any) -> torch.nn.Module:
    """The untrained model of a cell with its entry's options, initialised from the cell seed
    (global RNG untouched)."""
    from tacfn.models import build_model

    entry = protocol.model_entries[cell.model]
    return build_model(entry.model, info, protocol.preset, seed=cell.seed, **entry.options)


def train_regime(protocol: Protocol, cell: TrainCell, means: Mapping[str, Any]) -> Any:
    """The regime's batch_transform (None for a regime without corruptions).

    `means` (modality -> mean sample of the training split) is what fill=mean puts in place
    of a dropped input.
    """
    from tacfn_robust.corruptions import TrainRegime

    specs = [
        with_mean(c.corruption, c.modality, c.as_spec(), means)
        for c in protocol.train.regimes[cell.regime]
    ]
    return TrainRegime(specs, seed=cell.seed) if specs else None


def train_cell(
    protocol: Protocol,
    cell: TrainCell,
    model: torch.nn.Module,
    dataset: Any,
    split: Any,
    means: Mapping[str, Any],
    directory: Path,
    progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """Train a cell's model into `directory` (train_log.csv, checkpoint.pt with the cell's
    metadata); the training fields of its cell.json."""
    from tacfn.train import fit

    started = time.perf_counter()
    config = train_config(protocol, cell.seed)
    result = fit(
        model,
        dataset,
        split,
        config,
        batch_transform=train_regime(protocol, cell, means),
        out_dir=directory,
        progress=progress,
        metadata=checkpoint_metadata(protocol, cell, dataset.info),
    )
    return {
        "best_epoch": int(result.best_epoch),
        "legacy_max_test_acc": None
        if result.legacy_max_test_acc is None
        else float(result.legacy_max_test_acc),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
