"""TACFN fusion: self-attended source vector -> spliced tanh score -> softmax over
target positions -> (1 + γα) ⊙ target, then the preset's head over all modality summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tacfn.core.errors import ConfigError
from tacfn.data.info import DatasetInfo
from tacfn.models.base import FusionModel
from tacfn.models.blocks import channels_first, channels_last, resolve_blocks
from tacfn.models.encoders import TransformerSummary, select_step
from tacfn.models.presets import Preset
from tacfn.models.registry import register_model

SOFTMAX_AXES = ("spatial", "spatiotemporal", "channels")


class AdaptiveBlock(nn.Module):
    """α = softmax(wᵀ tanh(W_v x_p + b_v + U h) + c) over target positions; x̂ = (1 + γα) ⊙ x.

    softmax_axis: "spatial" (over H·W per temporal slice of a video target), "spatiotemporal"
    (over all S·H·W positions) or "channels" (per position over the C channels, with a
    Linear(k -> C) score). For a sequence target both position axes mean its T time steps.
    gain γ: a number, "size" (the softmax group size, e.g. H·W) or "learnable" (scalar from 1).
    """

    def __init__(
        self,
        target_channels: int,
        source_dim: int,
        k: int,
        softmax_axis: str = "spatial",
        gain: float | str = 1.0,
        residual: bool = True,
        legacy_batch_sum: bool = False,
    ) -> None:
        super().__init__()
        if softmax_axis not in SOFTMAX_AXES:
            raise ConfigError(
                f"option softmax_axis={softmax_axis!r}; expected one of: {', '.join(SOFTMAX_AXES)}"
            )
        self.channel_affine = nn.Linear(target_channels, k)
        self.y_affine = nn.Linear(source_dim, k, bias=False)
        scores = target_channels if softmax_axis == "channels" else 1
        self.attn_weight_affine = nn.Linear(k, scores)
        self.softmax_axis, self.residual, self.legacy_batch_sum = (
            softmax_axis,
            residual,
            legacy_batch_sum,
        )
        self.gain_mode = gain if isinstance(gain, str) else "fixed"
        if self.gain_mode not in ("fixed", "size", "learnable"):
            raise ConfigError(f"option gain={gain!r}; expected a number, 'size' or 'learnable'")
        self.fixed_gain = float(gain) if self.gain_mode == "fixed" else 1.0
        self.gain = nn.Parameter(torch.ones(())) if self.gain_mode == "learnable" else None

    def groups(self, x_cl: torch.Tensor) -> torch.Tensor:
        """Channels-last target -> (B, G, N, C): softmax groups G of N positions."""
        b, c = x_cl.shape[0], x_cl.shape[-1]
        if x_cl.dim() == 5 and self.softmax_axis == "spatial":
            return x_cl.reshape(b, x_cl.shape[1], -1, c)
        return x_cl.reshape(b, 1, -1, c)

    def attention(self, x_g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """α of shape (B, G, N) (or (B, G, N, C) over channels), summed over B if legacy."""
        q = torch.tanh(self.channel_affine(x_g) + self.y_affine(h)[:, None, None, :])
        e = self.attn_weight_affine(q)
        alpha = e.softmax(dim=-1) if self.softmax_axis == "channels" else e[..., 0].softmax(-1)
        if self.legacy_batch_sum:
            alpha = alpha.sum(dim=0, keepdim=True).expand_as(alpha)
        return alpha

    def forward(self, x_cl: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Channels-last target (B, ..., C) and source vector (B, D) -> (x̂ like x_cl, α)."""
        x_g = self.groups(x_cl)
        alpha = self.attention(x_g, h)
        if self.gain_mode == "size":
            gain: float | torch.Tensor = float(alpha.shape[-1])
        else:
            gain = self.gain if self.gain is not None else self.fixed_gain
        weight = gain * alpha
        if self.residual:
            weight = weight + 1.0
        if self.softmax_axis != "channels":
            weight = weight[..., None]
        return (x_g * weight).view_as(x_cl), alpha


@register_model("tacfn")
class TACFN(FusionModel):
    """TACFN over any list of (source -> target) blocks (paper: audio -> video; IEMOCAP:
    vision -> text, audio -> text). Sources are selected by a self-attention encoder
    (last step or mean); the head reads every modality's summary after the blocks."""

    def __init__(
        self,
        info: DatasetInfo,
        preset: Preset,
        blocks: Sequence[Sequence[str]] | None = None,
        softmax_axis: str = "spatial",
        gain: float | str = 1.0,
        residual: bool = True,
        legacy_batch_sum: bool = False,
        causal: bool = False,
        select: str = "last",
        learned_fill: bool = False,
    ) -> None:
        super().__init__(info, preset, info.modalities, learned_fill, causal, select)
        self.pairs = resolve_blocks(info, preset, blocks)
        self.sources = tuple(dict.fromkeys(s for s, _ in self.pairs))
        self.targets = frozenset(t for _, t in self.pairs)
        self.selectors = nn.ModuleDict(
            {
                s: preset.transformer(self.feature_shapes[s][-1], causal)
                for s in self.sources
                if not isinstance(self.summaries[s], TransformerSummary)
            }
        )
        self.blocks = nn.ModuleList(
            AdaptiveBlock(
                self._channels(t),
                self.feature_shapes[s][-1],
                preset.dim,
                softmax_axis,
                gain,
                residual,
                legacy_batch_sum,
            )
            for s, t in self.pairs
        )
        self.classifier = self.make_head(sum(self.summaries[m].dim for m in self.modalities))

    def _channels(self, m: str) -> int:
        shape = self.feature_shapes[m]
        return shape[0] if len(shape) == 4 else shape[-1]

    def group_sizes(self) -> list[int]:
        """Per block, how many entries one softmax spans (H·W, S·H·W, C or T): α averages
        1/size, so with γ = 1 the reinforcement γα is 1/size of the target on average."""
        sizes = []
        for (_, target), block in zip(self.pairs, self.blocks, strict=True):
            shape = self.feature_shapes[target]
            if block.softmax_axis == "channels":
                sizes.append(self._channels(target))
            elif len(shape) == 4 and block.softmax_axis == "spatial":
                sizes.append(shape[2] * shape[3])
            else:
                sizes.append(math.prod(shape[:-1] if len(shape) == 2 else shape[1:]))
        return sizes

    def source_vector(self, m: str, x: torch.Tensor) -> torch.Tensor:
        """h_m: the selected (last or mean) step of the source's self-attention encoder."""
        summary = self.summaries[m]
        if isinstance(summary, TransformerSummary):
            return summary(x)
        return select_step(self.selectors[m](x), self.select)

    def apply_blocks(
        self, feats: dict[str, torch.Tensor], selected: dict[str, torch.Tensor] | None = None
    ) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """Reinforce the targets block by block; returns the new features and every α."""
        if selected is None:
            selected = {s: self.source_vector(s, feats[s]) for s in self.sources}
        feats, alphas = dict(feats), []
        for (source, target), block in zip(self.pairs, self.blocks, strict=True):
            x = feats[target]
            x_hat, alpha = block(channels_last(x), selected[source])
            feats[target] = channels_first(x_hat, x)
            alphas.append(alpha)
        return feats, alphas

    def head(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        selected = {s: self.source_vector(s, feats[s]) for s in self.sources}
        fused, _ = self.apply_blocks(feats, selected)
        parts = []
        for m in self.modalities:
            reuse = m in selected and m not in self.targets and m not in self.selectors
            parts.append(selected[m] if reuse else self.summaries[m](fused[m]))
        return self.classifier(torch.cat(parts, dim=1))
