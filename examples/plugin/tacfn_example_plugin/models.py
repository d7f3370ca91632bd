"""A small fusion model that only follows the minimal contract: an nn.Module, Batch -> logits."""

from __future__ import annotations

import torch
from torch import nn

from tacfn.core.batch import Batch
from tacfn.data import DatasetInfo


class MeanPoolFusion(nn.Module):
    """Each feature stream (B, T, D) mean-pooled over time and projected; the projections of
    the present modalities are averaged and classified.

    No encode/fuse split: tacfn-robust evaluates it by a full forward pass per condition.
    """

    def __init__(self, info: DatasetInfo, hidden: int = 16) -> None:
        super().__init__()
        self.modalities = tuple(info.modalities)
        self.project = nn.ModuleDict(
            {m: nn.Linear(info.shapes[m][-1], hidden) for m in self.modalities}
        )
        self.classify = nn.Linear(hidden, info.num_classes)

    def forward(self, batch: Batch) -> torch.Tensor:
        parts, weights = [], []
        for m in self.modalities:
            x = batch.inputs[m]
            present = batch.present[m].to(x.dtype)[:, None]
            parts.append(torch.relu(self.project[m](x.mean(dim=1))) * present)
            weights.append(present)
        pooled = torch.stack(parts).sum(0) / torch.stack(weights).sum(0).clamp(min=1.0)
        return self.classify(pooled)
