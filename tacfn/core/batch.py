"""The batch type that data sets produce, corruptions transform and models consume."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch


@dataclass(frozen=True)
class Batch:
    """Per-modality tensors with a presence mask, labels, stable ids and report metadata.

    inputs:  modality -> tensor with the batch first. Conventions:
             audio (B, L) float32 waveform; video (B, 3, T, H, W) float32 in [0, 1];
             feature streams (B, T, D) float32.
    present: modality -> (B,) bool; False where the modality is absent for a sample.
    feature_fill: modality -> fill mode ("zeros" | "mean" | "noise" | "learned") that the
             model applies to the encoder output of absent samples. Modalities not listed
             here were filled at the input stage (or are present) and are used as given.
    labels:  (B,) int64 class indices, or (B, K) int64 binary labels for multi-label sets;
             None in the batch a model is given (without_labels): a model never sees labels.
    ids:     stable sample ids (str), the seed key of every corruption.
    fill_seeds: (B,) int64 seeds of the feature-stage fill (noise), set by whatever set
             feature_fill: (test seed, condition, id) at test time, (seed, epoch, id) in training.
    meta:    column -> list of per-sample values (actor, intensity, statement, ...).
    sample_rate: audio sample rate in Hz, when the batch has audio.
    """

    inputs: dict[str, torch.Tensor]
    present: dict[str, torch.Tensor]
    labels: torch.Tensor | None
    ids: tuple[str, ...]
    meta: dict[str, list[Any]] = field(default_factory=dict)
    feature_fill: dict[str, str] = field(default_factory=dict)
    sample_rate: int | None = None
    fill_seeds: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name, x in self.inputs.items():
            if x.shape[0] != n:
                raise ValueError(f"batch input {name!r} has {x.shape[0]} rows, ids have {n}")
        missing = set(self.inputs) - set(self.present)
        if missing:
            raise ValueError(f"batch has no presence mask for {sorted(missing)}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.inputs)

    def with_inputs(self, **changes: torch.Tensor) -> Batch:
        """A copy with some modality tensors replaced."""
        return replace(self, inputs={**self.inputs, **changes})

    def with_present(self, **changes: torch.Tensor) -> Batch:
        """A copy with some presence masks replaced."""
        return replace(self, present={**self.present, **changes})

    def without_labels(self) -> Batch:
        """A copy with the labels withheld (None): what a model's forward is given."""
        return replace(self, labels=None)

    def with_feature_fill(self, **changes: str) -> Batch:
        return replace(self, feature_fill={**self.feature_fill, **changes})

    def with_fill_seeds(self, seeds: torch.Tensor) -> Batch:
        """A copy whose feature-stage fill draws from `seeds` (B,) int64."""
        if seeds.shape != (len(self),):
            raise ValueError(f"fill_seeds has shape {tuple(seeds.shape)}; expected ({len(self)},)")
        return replace(self, fill_seeds=seeds.to("cpu", torch.int64))

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return replace(
            self,
            inputs={k: move(v) for k, v in self.inputs.items()},
            present={k: move(v) for k, v in self.present.items()},
            labels=None if self.labels is None else move(self.labels),
        )

    def select(self, index: torch.Tensor | list[int]) -> Batch:
        """Rows `index` of every tensor, id and metadata column."""
        idx = torch.as_tensor(index, dtype=torch.long)
        rows = idx.tolist()
        return replace(
            self,
            inputs={k: v[idx.to(v.device)] for k, v in self.inputs.items()},
            present={k: v[idx.to(v.device)] for k, v in self.present.items()},
            labels=None if self.labels is None else self.labels[idx.to(self.labels.device)],
            ids=tuple(self.ids[i] for i in rows),
            meta={k: [v[i] for i in rows] for k, v in self.meta.items()},
            fill_seeds=None if self.fill_seeds is None else self.fill_seeds[idx],
        )
