"""Unimodal reference `<modality>_only`: one encoder, its summary and the preset's head."""

from __future__ import annotations

import torch

from tacfn.data.info import DatasetInfo
from tacfn.models.base import FusionModel
from tacfn.models.presets import Preset


class Unimodal(FusionModel):
    """Reads only `modality`; absent samples are whatever the input/feature fill made them."""

    def __init__(
        self,
        info: DatasetInfo,
        preset: Preset,
        modality: str,
        causal: bool = False,
        select: str = "last",
        learned_fill: bool = False,
    ) -> None:
        super().__init__(info, preset, (modality,), learned_fill, causal, select)
        self.modality = modality
        self.classifier = self.make_head(self.summaries[modality].dim)

    def head(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.summaries[self.modality](feats[self.modality]))
