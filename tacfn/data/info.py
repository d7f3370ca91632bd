"""Descriptions shared by every data set: what it holds and how it is split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set to be built for it.

    kinds: modality -> "waveform" | "frames" | "features".
    shapes: modality -> per-sample tensor shape (without the batch axis), e.g.
            audio (L,), video (3, T, H, W), text (T, D).
    task: "multiclass" (labels (N,)) or "multilabel" (labels (N, K) binary, K = num_classes).
    """

    name: str
    modalities: tuple[str, ...]
    kinds: dict[str, str]
    shapes: dict[str, tuple[int, ...]]
    num_classes: int
    class_names: tuple[str, ...]
    task: str = "multiclass"
    sample_rate: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Split:
    """One fold: index arrays into the data set; `val` never overlaps `test`."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
