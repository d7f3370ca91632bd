"""Evaluation-mode prediction and the loss/accuracy used by the trainer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn.data.base import all_finite
from tacfn.data.info import DatasetInfo


class BatchSource(Protocol):
    """What the trainer needs from a data set (tacfn.data.EmotionDataset follows it)."""

    info: DatasetInfo
    labels: torch.Tensor

    def iter_batches(
        self, indices: Sequence[int] | np.ndarray, batch_size: int, shuffle_seed: int | None = None
    ) -> Iterable[Batch]: ...


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move a batch; on CUDA through pinned memory with non_blocking copies."""
    if device.type != "cuda":
        return batch.to(device)
    pinned = batch.with_inputs(**{m: x.pin_memory() for m, x in batch.inputs.items()})
    return pinned.to(device, non_blocking=True)


def check_logits(
    logits: object, n: int, info: DatasetInfo, where: str, finite: bool = True
) -> None:
    """Raise DataError naming `where` unless `logits` are the logits of `n` samples of data set
    `info`: a tensor (n, C), or (n, K, 2) for multilabel sets, of finite values (`finite`)."""
    if info.task == "multilabel":
        expected: tuple[int, ...] = (n, info.num_classes, 2)
    else:
        expected = (n, info.num_classes)
    what = f"{info.num_classes} classes of data set {info.name!r}"
    if not isinstance(logits, torch.Tensor):
        raise DataError(
            f"{where}: the model returned a {type(logits).__name__}; expected a logits tensor "
            f"of shape {expected} ({what})"
        )
    if tuple(logits.shape) != expected:
        raise DataError(
            f"{where}: the model returned logits of shape {tuple(logits.shape)}; expected "
            f"{expected} ({n} samples, {what})"
        )
    if finite and not all_finite(logits):
        bad = ~torch.isfinite(logits).reshape(n, -1)
        raise DataError(
            f"{where}: the model's logits hold {int(bad.sum())} NaN/Inf values in "
            f"{int(bad.any(1).sum())} of {n} samples; expected finite logits"
        )


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; multilabel logits (B, K, 2) are scored as (B·K, 2)."""
    if logits.dim() == 3:
        return F.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))
    return F.cross_entropy(logits, labels)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (multilabel: mean over samples and labels)."""
    return float((logits.argmax(dim=-1) == labels).float().mean())


def predict(
    model: nn.Module,
    data: BatchSource | Iterable[Batch],
    indices: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    batch_transform: Callable[[Batch], Batch] | None = None,
) -> torch.Tensor:
    """Logits (on CPU) of every sample, in order, in eval mode under inference_mode.

    `data` is a data set (with `indices`, default all) or an iterable of batches. The model
    is given each batch without its labels; a data set's logits are checked (check_logits).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    info = getattr(data, "info", None)
    if hasattr(data, "iter_batches"):
        rows = np.arange(len(data.labels)) if indices is None else indices
        batches: Iterable[Batch] = data.iter_batches(rows, batch_size)
    else:
        batches = data
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for batch in batches:
                if batch_transform is not None:
                    batch = batch_transform(batch)
                logits = model(to_device(batch.without_labels(), device))
                if info is not None:
                    check_logits(logits, len(batch), info, "predict")
                out.append(logits.float().cpu())
    finally:
        model.train(was_training)
    if not out:
        raise ConfigError("predict: no samples to predict; expected at least one index")
    return torch.cat(out)
