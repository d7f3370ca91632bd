"""Per-modality encoders: input tensor -> fusion-point features, and their summaries for heads.

Fusion-point feature layouts: sequences (B, T, C) time-major; volumes (B, C, S, H, W) kept in
channels_last_3d memory so a channels-last view is contiguous.
"""

from __future__ import annotations

import torch
from torch import nn

from tacfn.models.audio_cnn import MFCCNet
from tacfn.models.mfcc import MFCC
from tacfn.models.resnext3d import ResNeXt3D
from tacfn.models.transformer import SelfAttentionEncoder

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WaveformEncoder(nn.Module):
    """Waveform (B, L) -> MFCC -> MFCCNet -> sequence (B, T_a, C)."""

    kind = "sequence"

    def __init__(self, mfcc: MFCC, cnn: MFCCNet) -> None:
        super().__init__()
        self.mfcc, self.cnn = mfcc, cnn
        self.feature_shape = (cnn.out_length(mfcc.frames), cnn.out_channels)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.mfcc(wave)).transpose(1, 2)


class FramesEncoder(nn.Module):
    """Frames (B, 3, T, H, W) in [0, 1] -> ImageNet normalisation -> optional average pooling
    -> 3D ResNeXt -> volume (B, C, S, H', W') in channels_last_3d memory."""

    kind = "volume"

    def __init__(
        self, backbone: ResNeXt3D, frames: tuple[int, int, int], pool: tuple[int, int, int]
    ) -> None:
        super().__init__()
        self.backbone, self.pool = backbone, tuple(pool)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), False)
        pooled = tuple(n // p for n, p in zip(frames, self.pool, strict=True))
        self.feature_shape = backbone.out_shape(pooled)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = _average_pool(frames, self.pool)  # first: it commutes with the normalisation
        x = (x - self.mean) / self.std
        return self.backbone(x).contiguous(memory_format=torch.channels_last_3d)


def _average_pool(x: torch.Tensor, pool: tuple[int, int, int]) -> torch.Tensor:
    """Non-overlapping average pooling of (B, C, T, H, W)."""
    if pool == (1, 1, 1):
        return x
    return nn.functional.avg_pool3d(x, pool)


class FeatureEncoder(nn.Module):
    """Feature stream (B, T, D) -> per-step projection to d (Conv1d k=1 without bias, written
    as the equivalent Linear) -> (B, T, d)."""

    kind = "sequence"

    def __init__(self, in_dim: int, length: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, dim, bias=False)
        self.feature_shape = (length, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.float())


class FlattenSummary(nn.Module):
    """Sequence (B, T, C) -> Dropout(Flatten) (B, T·C): the reference audio branch."""

    def __init__(self, shape: tuple[int, ...], dropout: float = 0.4) -> None:
        super().__init__()
        self.dim = shape[0] * shape[1]
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x.flatten(1))


class PoolSummary(nn.Module):
    """Volume (B, C, S, H, W) -> global average pool (B, C)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.dim = shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))


class TransformerSummary(nn.Module):
    """Sequence (B, T, d) -> self-attention encoder -> last step or mean (B, d)."""

    def __init__(self, encoder: SelfAttentionEncoder, dim: int, select: str = "last") -> None:
        super().__init__()
        self.encoder, self.dim, self.select = encoder, dim, select

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return select_step(self.encoder(x), self.select)


def select_step(z: torch.Tensor, select: str) -> torch.Tensor:
    """The selected vector of a (B, T, d) sequence: its last step or its mean over time."""
    return z[:, -1] if select == "last" else z.mean(dim=1)
