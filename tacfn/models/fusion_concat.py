"""Concatenation fusion: every modality's summary concatenated -> the preset's head."""

from __future__ import annotations

import torch

from tacfn.data.info import DatasetInfo
from tacfn.models.base import FusionModel
from tacfn.models.presets import Preset
from tacfn.models.registry import register_model


@register_model("concat")
class Concat(FusionModel):
    """logits = head([summary_m(X_m) for m]) with no interaction between modalities."""

    def __init__(
        self,
        info: DatasetInfo,
        preset: Preset,
        causal: bool = False,
        select: str = "last",
        learned_fill: bool = False,
    ) -> None:
        super().__init__(info, preset, info.modalities, learned_fill, causal, select)
        self.classifier = self.make_head(sum(self.summaries[m].dim for m in self.modalities))

    def head(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(torch.cat([self.summaries[m](feats[m]) for m in self.modalities], 1))
