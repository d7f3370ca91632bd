"""Late fusion: the average of per-modality unimodal heads' logits."""

from __future__ import annotations

import torch
from torch import nn

from tacfn.data.info import DatasetInfo
from tacfn.models.base import FusionModel
from tacfn.models.presets import Preset
from tacfn.models.registry import register_model


@register_model("late_average")
class LateAverage(FusionModel):
    """logits = mean_m head_m(summary_m(X_m))."""

    def __init__(
        self,
        info: DatasetInfo,
        preset: Preset,
        causal: bool = False,
        select: str = "last",
        learned_fill: bool = False,
    ) -> None:
        super().__init__(info, preset, info.modalities, learned_fill, causal, select)
        self.heads = nn.ModuleDict(
            {m: self.make_head(self.summaries[m].dim) for m in self.modalities}
        )

    def head(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = [self.heads[m](self.summaries[m](feats[m])) for m in self.modalities]
        return torch.stack(logits).mean(dim=0)
