"""Evaluation of a trained model under every test condition, reusing untouched encoder outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tacfn.core.batch import Batch
from tacfn.models.base import splits_encode_fuse
from tacfn_robust.protocols.conditions import Corrupted, bind, corrupt
from tacfn_robust.protocols.grid import Condition


@dataclass
class ConditionOutput:
    """Logits of every test sample under one condition, with labels, ids and records."""

    logits: list[torch.Tensor] = field(default_factory=list)
    labels: list[torch.Tensor] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    absent: list[int | None] = field(default_factory=list)

    def add(self, logits: torch.Tensor, corrupted: Corrupted) -> None:
        batch = corrupted.batch
        self.logits.append(logits.detach().float().cpu())
        self.labels.append(batch.labels.detach().cpu())
        self.ids.extend(batch.ids)
        self.records.extend(corrupted.records)
        if not self.absent:
            self.absent = list(corrupted.absent)
            return
        self.absent = [
            None if a is None or b is None else a + b
            for a, b in zip(self.absent, corrupted.absent, strict=True)
        ]

    def realised(self, axis: int) -> float | None:
        """Share of the samples that axis `axis`'s missing corruption removed (else None)."""
        if axis >= len(self.absent) or self.absent[axis] is None or not self.ids:
            return None
        return self.absent[axis] / len(self.ids)

    def stacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cat(self.logits), torch.cat(self.labels)


def _features(
    model: Any, batch: Batch, names: Sequence[str], cache: dict[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """Encoder outputs of `names`, taken from `cache` for modalities it already holds."""
    feats = {}
    for name in names:
        if cache is not None and name in cache:
            feats[name] = cache[name]
        else:
            feats[name] = model.encode_modality(name, batch.inputs[name])
    return feats


@torch.no_grad()
def evaluate(
    model: Any,
    dataset: Any,
    indices: np.ndarray,
    conditions: Sequence[Condition],
    seed: int,
    batch_size: int,
    device: torch.device | str = "cpu",
    reuse: bool = True,
    means: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, ConditionOutput]:
    """Condition id -> outputs over the test samples `indices`.

    `means` (modality -> mean sample, e.g. tacfn_robust.protocols.fills.TrainMeans of the training
    split) is what fill=mean puts in place of a missing input.

    With `reuse`, each modality's encoder runs once per test batch on clean inputs and its
    output serves every condition that leaves that modality untouched; only the touched
    modalities are re-encoded. Without it, or for a model without the encode/fuse split
    (tacfn.models.base.splits_encode_fuse), every condition runs the full forward pass. Both
    give identical logits (eval-mode outputs of a sample never depend on its batch).
    """
    reuse = reuse and splits_encode_fuse(model)
    model.eval()
    outputs = {c.id: ConditionOutput() for c in conditions}
    bound = [bind(c, means) for c in conditions]
    for clean in dataset.iter_batches(indices, batch_size):
        clean = clean.to(device)
        cache = _features(model, clean, model.modalities, None) if reuse else None
        for condition in bound:
            corrupted = corrupt(clean, condition, seed)
            batch = corrupted.batch
            if reuse:
                keep = {m: f for m, f in cache.items() if m not in corrupted.touched}
                feats = _features(model, batch, model.modalities, keep)
                logits = model.fuse(feats, batch.present, batch.feature_fill, batch.fill_seeds)
            else:
                logits = model(batch)
            outputs[condition.condition.id].add(logits, corrupted)
    return outputs
