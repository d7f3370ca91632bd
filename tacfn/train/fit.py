"""The trainer: fit a model on one split, select an epoch on validation, log and checkpoint."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tacfn.core.batch import Batch
from tacfn.core.device import resolve_device
from tacfn.core.errors import ConfigError
from tacfn.core.io import atomic_write, write_text
from tacfn.data.info import Split
from tacfn.train.config import TrainConfig
from tacfn.train.predict import (
    BatchSource,
    accuracy,
    check_logits,
    classification_loss,
    predict,
    to_device,
)

LOG_COLUMNS = [
    "stage",
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "legacy_test_acc",
    "lr",
    "seconds",
]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or Inf."""

    def __init__(self, epoch: int, step: int, value: float, stage: str = "fusion") -> None:
        super().__init__(
            f"training diverged ({stage}): loss {value} at epoch {epoch}, step {step}; "
            "try a lower lr or grad_clip"
        )
        self.epoch, self.step, self.value = epoch, step, value


@dataclass
class TrainResult:
    """best_epoch (1-based), per-epoch log, checkpoint path, the selected weights, and the
    reference code's max-over-epochs test accuracy (optimistic; None unless requested)."""

    best_epoch: int
    log: pd.DataFrame
    checkpoint: Path | None
    legacy_max_test_acc: float | None
    state_dict: dict[str, torch.Tensor]
    seconds: float


def _write_log(rows: list[dict[str, Any]], path: Path) -> None:
    write_text(path, pd.DataFrame(rows, columns=LOG_COLUMNS).to_csv(index=False))


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, config: TrainConfig, epochs: int) -> Any:
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, patience=config.plateau_patience, factor=0.1
        )
    return None


def _score(
    model: nn.Module,
    data: BatchSource,
    indices: np.ndarray,
    config: TrainConfig,
    device: torch.device,
) -> tuple[float, float]:
    logits = predict(model, data, indices, config.eval_batch_size, device)
    labels = data.labels[torch.as_tensor(np.asarray(indices, dtype=np.int64))]
    return float(classification_loss(logits, labels)), accuracy(logits, labels)


class _Loop:
    """One training stage: epochs of steps, validation, selection and the epoch log."""

    def __init__(
        self,
        model: nn.Module,
        data: BatchSource,
        split: Split,
        config: TrainConfig,
        device: torch.device,
        stage: str,
        epochs: int,
    ) -> None:
        self.model, self.data, self.split, self.config = model, data, split, config
        self.device, self.stage, self.epochs = device, stage, epochs
        self.opt = _optimizer(model, config)
        self.sched = _scheduler(self.opt, config, epochs)
        self.amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None

    def step(self, batch: Batch, epoch: int, step: int) -> tuple[float, float]:
        """One optimisation step; returns (loss, accuracy) of the batch."""
        autocast = (
            torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        )
        with autocast:
            logits = self.model(batch.without_labels())
            where = f"training ({self.stage}), epoch {epoch}, step {step}"
            check_logits(logits, len(batch), self.data.info, where, finite=False)
            loss = classification_loss(logits.float(), batch.labels)
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(epoch, step, value, self.stage)
        self.opt.zero_grad(set_to_none=True)
        clip = self.config.grad_clip
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip:
                self.scaler.unscale_(self.opt)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.opt.step()
        return value, accuracy(logits.detach(), batch.labels)

    def epoch(
        self, epoch: int, batch_transform: Callable[[Batch, int], Batch] | None
    ) -> dict[str, Any]:
        start = time.perf_counter()
        self.model.train()
        total = correct = count = 0.0
        order = self.data.iter_batches(
            self.split.train, self.config.batch_size, self.config.seed * 100_003 + epoch
        )
        for step, batch in enumerate(order, start=1):
            if batch_transform is not None:
                batch = batch_transform(batch, epoch)
            batch = to_device(batch, self.device)
            loss, acc = self.step(batch, epoch, step)
            n = len(batch)
            total, correct, count = total + loss * n, correct + acc * n, count + n
        val_loss = val_acc = test_acc = float("nan")
        if len(self.split.val):
            val_loss, val_acc = _score(
                self.model, self.data, self.split.val, self.config, self.device
            )
        if self.config.legacy_test_eval and len(self.split.test):
            test_acc = _score(self.model, self.data, self.split.test, self.config, self.device)[1]
        lr = self.opt.param_groups[0]["lr"]
        if isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.sched.step(val_loss if len(self.split.val) else total / max(count, 1))
        elif self.sched is not None:
            self.sched.step()
        return {
            "stage": self.stage,
            "epoch": epoch,
            "train_loss": total / max(count, 1),
            "train_acc": correct / max(count, 1),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "legacy_test_acc": test_acc,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }


def _better(row: dict[str, Any], best: dict[str, Any] | None, select: str) -> bool:
    if best is None or select == "last":
        return True
    if select == "val_loss":
        return row["val_loss"] < best["val_loss"]
    return row["val_acc"] > best["val_acc"]


def fit(
    model: nn.Module,
    dataset: BatchSource,
    split: Split,
    config: TrainConfig,
    batch_transform: Callable[[Batch, int], Batch] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train `model` on split.train, select an epoch on split.val, leave the selected weights
    loaded (eval mode), write train_log.csv and checkpoint.pt atomically under out_dir.

    Deterministic on CPU for a seed: shuffling is seeded per epoch and dropout draws from
    a forked, seeded global generator (the caller's RNG state is restored afterwards).
    `progress` receives each epoch's log row; `metadata` (plain values: what the model is and
    what it was trained on) is stored in checkpoint.pt beside the weights.
    """
    if config.select != "last" and len(split.val) == 0:
        raise ConfigError(f"train.select={config.select!r} needs a validation split; it is empty")
    device = resolve_device(config.device, "train.device")
    model.to(device)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(config.seed)
        stages: list[tuple[nn.Module, str, int]] = []
        modalities = getattr(model, "modalities", ())
        if config.pretrain_epochs and len(modalities) > 1:
            stages += [
                (model.unimodal_probe(m).to(device), f"pretrain:{m}", config.pretrain_epochs)
                for m in modalities
            ]
        stages.append((model, "fusion", config.epochs))
        for module, stage, epochs in stages:
            loop = _Loop(module, dataset, split, config, device, stage, epochs)
            best: dict[str, Any] | None = None
            best_state: dict[str, torch.Tensor] = {}
            for epoch in range(1, epochs + 1):
                row = loop.epoch(epoch, batch_transform)
                rows.append(row)
                if out is not None:
                    _write_log(rows, out / "train_log.csv")
                if progress is not None:
                    progress(row)
                if _better(row, best, config.select):
                    best = row
                    if config.select != "last" or epoch == epochs:
                        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            module.load_state_dict(best_state)
    model.eval()
    log = pd.DataFrame(rows, columns=LOG_COLUMNS)
    fusion = log[log["stage"] == "fusion"]
    legacy = float(fusion["legacy_test_acc"].max()) if config.legacy_test_eval else None
    assert best is not None
    checkpoint = None
    if out is not None:
        checkpoint = out / "checkpoint.pt"
        payload = {
            "state_dict": best_state,
            "best_epoch": best["epoch"],
            "config": asdict(config),
            "metadata": dict(metadata or {}),
        }
        atomic_write(checkpoint, lambda f: torch.save(payload, f))
    return TrainResult(
        best_epoch=int(best["epoch"]),
        log=log,
        checkpoint=checkpoint,
        legacy_max_test_acc=legacy,
        state_dict=best_state,
        seconds=time.perf_counter() - start,
    )
