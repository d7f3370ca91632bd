"""Evaluation of a trained model under every test condition, reusing untouched encoder outputs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn.data.base import all_finite
from tacfn.models.base import splits_encode_fuse
from tacfn.train.predict import check_logits
from tacfn_robust.protocols.conditions import Corrupted, bind, corrupt
from tacfn_robust.protocols.grid import Condition
from tacfn_robust.protocols.schema import Protocol, corruption_fields


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


def refuse_feature_stage(protocol: Protocol, name: str, model: Any) -> None:
    """ConfigError when `protocol` fills at `stage: feature` and model entry `name` (a model or
    its class) lacks the encode/fuse split through which that fill reaches encoder outputs."""
    fields = corruption_fields(protocol, "stage", "feature")
    if fields and not splits_encode_fuse(model):
        raise ConfigError(
            f"{fields[0]}: stage: feature fills encoder outputs, but model {name!r} has no "
            "encode/fuse split (modalities, encode_modality, fuse) to apply it, so it would "
            "ignore the fill; expected stage: input or a model with tacfn.models.FusionModel's "
            "interface"
        )


def _own_copy(batch: Batch, modalities: Collection[str]) -> Batch:
    """`batch` with private copies of the inputs of `modalities`, of the presence masks and
    of the feature fills: what one condition may change in place without changing what
    another condition sees."""
    return replace(
        batch,
        inputs={m: x.clone() if m in modalities else x for m, x in batch.inputs.items()},
        present={m: p.clone() for m, p in batch.present.items()},
        feature_fill=dict(batch.feature_fill),
    )


def _features(
    model: Any, batch: Batch, names: Sequence[str], cache: dict[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """Encoder outputs of `names`: private copies of those in `cache`, the others encoded."""
    feats = {}
    for name in names:
        if cache is not None and name in cache:
            feats[name] = cache[name].clone()
        else:
            feats[name] = model.encode_modality(name, batch.inputs[name])
    return feats


def _check_inputs(corrupted: Corrupted, seen: Collection[str], where: str) -> None:
    """DataError naming `where` when a corruption left NaN or Inf in an input it changed that
    the model sees (`seen`)."""
    for m in sorted(corrupted.touched & frozenset(seen)):
        x = corrupted.batch.inputs[m]
        if not all_finite(x):
            bad = int((~torch.isfinite(x)).sum())
            raise DataError(
                f"{where}: the corrupted {m} input holds {bad} NaN/Inf values; expected the "
                "corruption to give finite values"
            )


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

    Each condition corrupts and shows the model its own copy of every tensor the model sees
    (inputs, presence masks, encoder outputs), never the labels, so a model or corruption that
    changes its input in place changes no other condition. A condition whose corrupted inputs
    or logits hold NaN/Inf, or whose logits do not have the data set's shape
    (tacfn.train.predict.check_logits), is a DataError naming it.
    """
    reuse = reuse and splits_encode_fuse(model)
    model.eval()
    outputs = {c.id: ConditionOutput() for c in conditions}
    bound = [bind(c, means) for c in conditions]
    for clean in dataset.iter_batches(indices, batch_size):
        clean = clean.to(device)
        if reuse:
            cache = _features(model, _own_copy(clean, model.modalities), model.modalities, None)
        for condition in bound:
            where = f"condition {condition.condition.id!r}"
            seen = condition.touches & frozenset(model.modalities) if reuse else clean.modalities
            corrupted = corrupt(_own_copy(clean, seen), condition, seed)
            _check_inputs(corrupted, seen, where)
            batch = corrupted.batch
            if reuse:
                keep = {m: f for m, f in cache.items() if m not in corrupted.touched}
                feats = _features(model, batch, model.modalities, keep)
                logits = model.fuse(feats, batch.present, batch.feature_fill, batch.fill_seeds)
            else:
                logits = model(batch.without_labels())
            check_logits(logits, len(batch), dataset.info, where)
            outputs[condition.condition.id].add(logits, corrupted)
    return outputs
