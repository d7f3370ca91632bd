"""The MFCC 1D CNN of TACFN (ReLU before BatchNorm, as in the reference)."""

from __future__ import annotations

import torch
from torch import nn


def conv_out(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis."""
    return (n + 2 * padding - kernel) // stride + 1


class MFCCNet(nn.Module):
    """(B, n_mfcc, T) -> (B, c3, T'): conv7-ReLU-BN, conv7-ReLU, pool-BN-drop, conv5-ReLU-BN."""

    def __init__(
        self, n_mfcc: int = 13, channels: tuple[int, int, int] = (32, 32, 64), pool: int = 8
    ) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.pool = pool
        self.body = nn.Sequential(
            nn.Conv1d(n_mfcc, c1, 7, padding=2),
            nn.ReLU(),
            nn.BatchNorm1d(c1),
            nn.Conv1d(c1, c2, 7, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            nn.BatchNorm1d(c2),
            nn.Dropout(0.2),
            nn.Conv1d(c2, c3, 5, padding=2),
            nn.ReLU(),
            nn.BatchNorm1d(c3),
        )
        self.out_channels = c3

    def out_length(self, frames: int) -> int:
        return conv_out(conv_out(conv_out(frames, 7, 1, 2), 7, 1, 2), self.pool, self.pool)

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        return self.body(mfcc)
