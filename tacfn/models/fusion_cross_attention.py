"""MulT-style cross-modal attention fusion: target tokens query the source sequence."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tacfn.data.info import DatasetInfo
from tacfn.models.base import FusionModel
from tacfn.models.blocks import channels_first, channels_last, resolve_blocks
from tacfn.models.presets import Preset
from tacfn.models.registry import register_model
from tacfn.models.transformer import CrossAttentionEncoder


class CrossModalBlock(nn.Module):
    """Target (B, ..., C) channels-last attends to source (B, T, D) in width d.

    With C != d the target is projected to d and back, added as a residual (the back
    projection optionally zero-initialised, so training starts at concatenation); with C == d
    the crossmodal transformer's output replaces the target (MulT). A source of width != d is
    projected to d first.
    """

    def __init__(
        self,
        target_channels: int,
        source_dim: int,
        preset: Preset,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        d = preset.dim
        self.project = target_channels != d
        self.proj_in = nn.Linear(target_channels, d) if self.project else nn.Identity()
        self.proj_out = nn.Linear(d, target_channels) if self.project else nn.Identity()
        if zero_init and self.project:
            nn.init.zeros_(self.proj_out.weight)
            nn.init.zeros_(self.proj_out.bias)
        self.source_proj = nn.Linear(source_dim, d) if source_dim != d else nn.Identity()
        layers = preset.cross_layers if preset.cross_layers is not None else preset.layers
        ffn = preset.cross_ffn if preset.cross_ffn is not None else 4 * d
        self.encoder = CrossAttentionEncoder(
            d, preset.heads, layers, ffn, preset.dropout, preset.embed_dropout
        )

    def forward(self, x_cl: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        tokens = x_cl.reshape(x_cl.shape[0], -1, x_cl.shape[-1])
        y = self.encoder(self.proj_in(tokens), self.source_proj(source))
        out = tokens + self.proj_out(y) if self.project else y
        return out.view_as(x_cl)


@register_model("cross_attention")
class CrossAttention(FusionModel):
    """Each (source -> target) block replaces the TACFN block; same encoders and head."""

    def __init__(
        self,
        info: DatasetInfo,
        preset: Preset,
        blocks: Sequence[Sequence[str]] | None = None,
        zero_init: bool = False,
        causal: bool = False,
        select: str = "last",
        learned_fill: bool = False,
    ) -> None:
        super().__init__(info, preset, info.modalities, learned_fill, causal, select)
        self.pairs = resolve_blocks(info, preset, blocks)
        self.blocks = nn.ModuleList(
            CrossModalBlock(self._channels(t), self.feature_shapes[s][-1], preset, zero_init)
            for s, t in self.pairs
        )
        self.classifier = self.make_head(sum(self.summaries[m].dim for m in self.modalities))

    def _channels(self, m: str) -> int:
        shape = self.feature_shapes[m]
        return shape[0] if len(shape) == 4 else shape[-1]

    def head(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        fused = dict(feats)
        for (source, target), block in zip(self.pairs, self.blocks, strict=True):
            x = fused[target]
            fused[target] = channels_first(block(channels_last(x), feats[source]), x)
        return self.classifier(torch.cat([self.summaries[m](fused[m]) for m in self.modalities], 1))
