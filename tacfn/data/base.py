"""The in-memory data set every loader returns: tensors, labels, ids, metadata and splits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn.data.info import DatasetDescription, DatasetInfo, Split

IndexLike = Sequence[int] | np.ndarray | torch.Tensor


def _as_index(indices: IndexLike) -> torch.Tensor:
    return torch.as_tensor(np.asarray(indices, dtype=np.int64))


def all_finite(x: torch.Tensor) -> bool:
    """Whether `x` holds no NaN or Inf: one min/max pass (both propagate NaN), many times
    faster than torch.isfinite(x).all()."""
    if not x.is_floating_point() or x.numel() == 0:
        return True
    low, high = torch.aminmax(x)
    return bool(torch.isfinite(low) & torch.isfinite(high))


def check_finite(x: np.ndarray | torch.Tensor, source: str) -> None:
    """Raise DataError naming `source` when `x` holds NaN or Inf."""
    t = torch.as_tensor(x)
    if not all_finite(t):
        bad = int((~torch.isfinite(t)).sum())
        raise DataError(f"{source}: {bad} NaN/Inf values; expected finite numbers")


def check_labels(info: DatasetInfo, labels: torch.Tensor, ids: Sequence[str]) -> None:
    """Raise DataError naming the data set unless `labels` are int64 class indices of its
    classes: (N,) in 0..C-1, or (N, C) of 0/1 for a multilabel set."""
    multilabel = info.task == "multilabel"
    shape = (len(ids), info.num_classes) if multilabel else (len(ids),)
    if labels.dtype != torch.int64 or tuple(labels.shape) != shape:
        raise DataError(
            f"data set {info.name!r}: labels are {labels.dtype} of shape "
            f"{tuple(labels.shape)}; expected int64 class indices of shape {shape}"
        )
    top = 1 if multilabel else info.num_classes - 1
    bad = ((labels < 0) | (labels > top)).reshape(len(ids), -1)
    if bool(bad.any()):
        row = int(bad.any(1).nonzero()[0])
        value = int(labels.reshape(len(ids), -1)[row][bad[row]][0])
        raise DataError(
            f"data set {info.name!r}: {int(bad.sum())} labels outside 0..{top} (first {value} "
            f"of sample {ids[row]!r}); expected class indices of its {info.num_classes} classes"
        )


def check_split(name: str, split: Split, n: int) -> None:
    """Raise DataError naming data set `name` and the split unless its parts index the data
    set's `n` samples, train and test are not empty and test shares no sample with the others."""
    where = f"data set {name!r}: split {split.name!r}"
    parts = {"train": split.train, "val": split.val, "test": split.test}
    for part, idx in parts.items():
        idx = np.asarray(idx)
        if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n):
            raise DataError(f"{where}: {part} indices outside 0..{n - 1}; expected sample rows")
    for part in ("train", "test"):
        if not len(parts[part]):
            raise DataError(f"{where} has no {part} samples; expected at least one")
    for part in ("train", "val"):
        shared = np.intersect1d(parts[part], split.test).size
        if shared:
            raise DataError(
                f"{where}: {shared} test samples are also {part} samples; expected a test "
                "part disjoint from train and val"
            )


class EmotionDataset:
    """Samples held as tensors in memory; frames stay uint8 and become float [0, 1] per batch.

    inputs: modality -> (N, ...) tensor (frames uint8 (N, 3, T, H, W) or float32 in [0, 1];
    waveform float32 (N, L); features float32 (N, T, D)), finite. labels: check_labels.
    `groups` (e.g. actors) drive the folds; a data set with fixed train/valid/test parts
    passes `given_split` instead (checked by check_split when the folds are taken).
    """

    def __init__(
        self,
        info: DatasetInfo,
        inputs: dict[str, torch.Tensor],
        labels: torch.Tensor,
        ids: list[str],
        meta: pd.DataFrame,
        groups: np.ndarray | None = None,
        given_split: Split | None = None,
        skipped: list[str] | None = None,
    ) -> None:
        n = len(ids)
        for name, x in inputs.items():
            if x.shape[0] != n:
                raise DataError(f"{info.name}: modality {name!r} has {x.shape[0]} rows, ids {n}")
        if labels.shape[0] != n or len(meta) != n:
            raise DataError(f"{info.name}: labels/meta rows differ from {n} ids")
        if len(set(ids)) != n:
            raise DataError(f"{info.name}: sample ids are not unique")
        for name, x in inputs.items():
            check_finite(x, f"data set {info.name!r}: modality {name!r}")
        check_labels(info, labels, ids)
        self.info = info
        self.inputs = inputs
        self.labels = labels
        self.ids = list(ids)
        self.meta = meta.reset_index(drop=True)
        self._columns = {c: self.meta[c].tolist() for c in self.meta.columns}
        self.groups = groups
        self.given_split = given_split
        self.skipped: list[str] = list(skipped or [])

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{m}={tuple(s)}" for m, s in self.info.shapes.items())
        return f"EmotionDataset({self.info.name!r}, n={len(self)}, {shapes})"

    def _float(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def batch(self, indices: IndexLike) -> Batch:
        """Samples `indices` as a Batch: float tensors, all modalities present."""
        idx = _as_index(indices)
        rows = idx.tolist()
        return Batch(
            inputs={m: self._float(x[idx]) for m, x in self.inputs.items()},
            present={m: torch.ones(len(rows), dtype=torch.bool) for m in self.inputs},
            labels=self.labels[idx],
            ids=tuple(self.ids[i] for i in rows),
            meta={c: [column[i] for i in rows] for c, column in self._columns.items()},
            sample_rate=self.info.sample_rate,
        )

    def iter_batches(
        self, indices: IndexLike, batch_size: int, shuffle_seed: int | None = None
    ) -> Iterator[Batch]:
        """Batches of at most `batch_size` samples, shuffled when shuffle_seed is given."""
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size}; expected a positive integer")
        order = np.asarray(indices, dtype=np.int64)
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(order)
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])

    def modality_mean(self, modality: str, indices: IndexLike) -> torch.Tensor:
        """Mean sample (per-sample shape, float) of `modality` over `indices`, for fill='mean'."""
        if modality not in self.inputs:
            raise ConfigError(
                f"modality {modality!r} not in data set {self.info.name!r}; "
                f"expected one of: {', '.join(self.inputs)}"
            )
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            raise ConfigError("modality_mean needs at least one index")
        x = self.inputs[modality]
        total = torch.zeros(x.shape[1:], dtype=torch.float64)
        for start in range(0, idx.size, 256):
            total += x[_as_index(idx[start : start + 256])].double().sum(0)
        mean = total / idx.size
        return (mean / 255.0 if x.dtype == torch.uint8 else mean).float()

    @property
    def description(self) -> DatasetDescription:
        """The modalities and groups a protocol is checked against."""
        groups = 0 if self.groups is None else len(np.unique(self.groups))
        return DatasetDescription(
            self.info.name,
            self.info.modalities,
            groups,
            self.given_split is not None,
            self.info.task,
        )

    def splits(self, folds: int | None = None) -> list[Split]:
        """Folds by group: test = one fold's groups; val = half a fold's worth of the other
        groups (the first groups of the next fold, cyclically); train = the rest.

        A data set with fixed parts returns its one given split (folds must be None or 1).
        Without `folds`, groups are split into folds of 4 (RAVDESS: 6 folds of 4 actors).
        """
        k = self.description.fold_count(folds)
        if self.given_split is not None:
            check_split(self.info.name, self.given_split, len(self))
            return [self.given_split]
        assert self.groups is not None and k is not None
        unique = np.unique(self.groups)
        parts = np.array_split(unique, k)
        out = []
        for i, test_groups in enumerate(parts):
            rest = np.concatenate([parts[(i + j) % k] for j in range(1, k)])
            n_val = max(1, len(test_groups) // 2)
            val_groups, train_groups = rest[:n_val], rest[n_val:]
            out.append(
                Split(
                    name=f"fold{i}",
                    train=np.flatnonzero(np.isin(self.groups, train_groups)),
                    val=np.flatnonzero(np.isin(self.groups, val_groups)),
                    test=np.flatnonzero(np.isin(self.groups, test_groups)),
                )
            )
            check_split(self.info.name, out[-1], len(self))
        return out
