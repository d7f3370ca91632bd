"""3D ResNeXt (Hara et al.) as in TACFN: bottlenecks with grouped 3×3×3 convs, shortcut B."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tacfn.models.audio_cnn import conv_out


class Bottleneck(nn.Module):
    """1×1×1 in→P, grouped 3×3×3 P→P (stride s), 1×1×1 P→eP, + shortcut, ReLU."""

    def __init__(
        self, inplanes: int, planes: int, stride: int, cardinality: int, expansion: int
    ) -> None:
        super().__init__()
        out = planes * expansion
        self.body = nn.Sequential(
            nn.Conv3d(inplanes, planes, 1, bias=False),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
            nn.Conv3d(planes, planes, 3, stride, 1, groups=cardinality, bias=False),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
            nn.Conv3d(planes, out, 1, bias=False),
            nn.BatchNorm3d(out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inplanes != out:
            self.shortcut = nn.Sequential(
                nn.Conv3d(inplanes, out, 1, stride, bias=False), nn.BatchNorm3d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNeXt3D(nn.Module):
    """(B, 3, T, H, W) -> (B, widths[-1]·expansion, S, H', W') before global pooling.

    The stem keeps its ReLU (bug B6 fixed). ResNeXt-50: layers (3, 4, 6, 3), widths
    (128, 256, 512, 1024), cardinality 32, stem 64 channels with a 7×7×7 kernel.
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        widths: Sequence[int] = (128, 256, 512, 1024),
        cardinality: int = 32,
        expansion: int = 2,
        stem_channels: int = 64,
        stem_kernel: tuple[int, int, int] = (7, 7, 7),
    ) -> None:
        super().__init__()
        self.stem_kernel = stem_kernel
        pad = tuple(k // 2 for k in stem_kernel)
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_channels, stem_kernel, (1, 2, 2), pad, bias=False),
            nn.BatchNorm3d(stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(3, 2, 1),
        )
        stages, inplanes = [], stem_channels
        for i, (blocks, planes) in enumerate(zip(layers, widths, strict=True)):
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(blocks):
                stage.append(
                    Bottleneck(inplanes, planes, stride if j == 0 else 1, cardinality, expansion)
                )
                inplanes = planes * expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.out_channels = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def out_shape(self, frames: tuple[int, int, int]) -> tuple[int, int, int, int]:
        """(C, S, H, W) of the output for an input of (T, H, W) frames."""
        stem = [
            conv_out(n, k, s, k // 2)
            for n, k, s in zip(frames, self.stem_kernel, (1, 2, 2), strict=True)
        ]
        size = [conv_out(n, 3, 2, 1) for n in stem]
        for _ in range(len(self.stages) - 1):
            size = [conv_out(n, 3, 2, 1) for n in size]
        return (self.out_channels, *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))
