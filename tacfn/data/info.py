"""Descriptions shared by every data set: what it holds and how it is split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from tacfn.core.errors import ConfigError

Loader = TypeVar("Loader", bound=Callable[..., Any])


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


@dataclass(frozen=True)
class DatasetDescription:
    """What a protocol is checked against before anything trains: the modalities and how the
    set is split into folds.

    groups: how many groups (actors) the folds are built from; None when not known before
    the files are read. fixed_split: the set has one given train/valid/test split.
    task: "multiclass" or "multilabel" (DatasetInfo.task); None when not known before the
    files are read.
    """

    name: str
    modalities: tuple[str, ...]
    groups: int | None = None
    fixed_split: bool = False
    task: str | None = None

    def fold_count(self, folds: int | None) -> int | None:
        """How many folds `splits(folds)` gives (None when the groups are not known yet);
        a ConfigError when `folds` cannot be built."""
        if self.fixed_split:
            if folds not in (None, 1):
                raise ConfigError(
                    f"data set {self.name!r} has fixed train/valid/test parts; "
                    f"folds={folds} expected to be omitted or 1"
                )
            return 1
        if self.groups is None:
            return None
        if self.groups == 0:
            raise ConfigError(f"data set {self.name!r} has no groups to build folds from")
        k = max(2, self.groups // 4) if folds is None else folds
        if not 2 <= k <= self.groups // 2:
            raise ConfigError(
                f"folds={k}; expected 2..{self.groups // 2} for {self.groups} groups "
                "(each fold needs test groups, validation groups and training groups)"
            )
        return k


def described_by(describe: Callable[..., DatasetDescription]) -> Callable[[Loader], Loader]:
    """Mark a loader whose description follows from its parameters alone (no file is read):
    `describe(**params)` takes the loader's parameters (and ignores those it does not use)."""

    def mark(loader: Loader) -> Loader:
        loader.describe = describe  # type: ignore[attr-defined]
        return loader

    return mark
