"""Fill values that come from the data: the training split's per-modality mean (fill=mean).

A missing corruption with fill=mean at the input stage needs `mean=` (one sample's mean).
Cells bind the training split's real means (TrainMeans) to test sweeps, subset conditions and
train regimes. Where no data is at hand (schema validation, naming the grid's conditions) the
scalar STAND_IN_MEAN takes its place: it lets every other option be validated and changes no
condition id, unit or identity point.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

STAND_IN_MEAN = 0.0


def needs_mean(corruption: str, params: Mapping[str, Any]) -> bool:
    """Whether `corruption` with `params` fills absent inputs with the data mean."""
    stage = params.get("stage") or "input"
    return corruption == "missing" and params.get("fill") == "mean" and stage == "input"


def with_mean(
    corruption: str,
    modality: str,
    params: dict[str, Any],
    means: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """`params` plus `mean` (the training mean of `modality`, or the stand-in) when needed."""
    if not needs_mean(corruption, params) or "mean" in params:
        return params
    return {**params, "mean": STAND_IN_MEAN if means is None else means[modality]}


class TrainMeans(Mapping[str, torch.Tensor]):
    """Modality -> mean sample over the training indices, computed on first use."""

    def __init__(self, dataset: Any, indices: np.ndarray) -> None:
        self._dataset = dataset
        self._indices = indices
        self._cache: dict[str, torch.Tensor] = {}

    def __getitem__(self, modality: str) -> torch.Tensor:
        if modality not in self._cache:
            self._cache[modality] = self._dataset.modality_mean(modality, self._indices)
        return self._cache[modality]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dataset.info.modalities)

    def __len__(self) -> int:
        return len(self._dataset.info.modalities)
