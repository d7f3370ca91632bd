"""Which (source -> target) fusion blocks a model builds, and channels-last target views."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tacfn.core.errors import ConfigError
from tacfn.data.info import DatasetInfo
from tacfn.models.presets import Preset


def resolve_blocks(
    info: DatasetInfo, preset: Preset, blocks: Sequence[Sequence[str]] | None
) -> tuple[tuple[str, str], ...]:
    """Explicit blocks, else the preset's, else every other modality -> the video (or first)."""
    if blocks is None:
        blocks = preset.blocks
        if not all(m in info.modalities for pair in blocks for m in pair):
            frames = [m for m in info.modalities if info.kinds[m] == "frames"]
            target = frames[0] if frames else info.modalities[0]
            blocks = tuple((m, target) for m in info.modalities if m != target)
    pairs = tuple((str(s), str(t)) for s, t in blocks)
    for source, target in pairs:
        for m in (source, target):
            if m not in info.modalities:
                raise ConfigError(
                    f"block {source}->{target}: modality {m!r} is not in data set "
                    f"{info.name!r} (it has {', '.join(info.modalities)})"
                )
        if source == target or info.kinds[source] == "frames":
            raise ConfigError(
                f"block {source}->{target}: the source must be another, sequence-shaped modality"
            )
    if not pairs:
        raise ConfigError("option blocks is empty; expected at least one (source, target) pair")
    return pairs


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(B, C, S, H, W) -> (B, S, H, W, C) or (B, T, C) as is; a copy only if not laid out so."""
    if x.dim() == 5:
        return x.permute(0, 2, 3, 4, 1).contiguous()
    return x.contiguous()


def channels_first(x_cl: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of channels_last: a (B, C, S, H, W) view with channels-last strides."""
    if like.dim() == 5:
        return x_cl.permute(0, 4, 1, 2, 3)
    return x_cl
