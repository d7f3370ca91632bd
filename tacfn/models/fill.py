"""Feature-stage fill of absent modalities: zeros | running mean | noise | learned token."""

from __future__ import annotations

import torch
from torch import nn

from tacfn.core.errors import ConfigError
from tacfn.core.hashing import hash64

FILL_MODES = ("zeros", "mean", "noise", "learned")


class RunningStats(nn.Module):
    """Running per-element mean and variance of one encoder's outputs (momentum update)."""

    def __init__(self, shape: tuple[int, ...], momentum: float) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))

    @torch.no_grad()
    def update(self, rows: torch.Tensor) -> None:
        if rows.shape[0] == 0:
            return
        rows = rows.detach().float()
        self.mean.lerp_(rows.mean(0), self.momentum)
        self.var.lerp_(rows.var(0, unbiased=False), self.momentum)


class FeatureFill(nn.Module):
    """Replaces the encoder outputs of absent samples for the modalities named in feature_fill.

    Running statistics are updated in train mode from the samples where a modality is present.
    Learned tokens (one nn.Parameter per modality) exist only when `learned=True`, so default
    parameter counts are unchanged. Noise is Gaussian around the running mean with the running
    std, drawn per sample from its fill seed and the modality (batch.fill_seeds), so it never
    depends on the batch or on global RNG state.
    """

    def __init__(
        self, shapes: dict[str, tuple[int, ...]], learned: bool = False, momentum: float = 0.1
    ) -> None:
        super().__init__()
        self.stats = nn.ModuleDict({m: RunningStats(s, momentum) for m, s in shapes.items()})
        self.tokens = (
            nn.ParameterDict({m: nn.Parameter(torch.zeros(s)) for m, s in shapes.items()})
            if learned
            else None
        )

    def forward(
        self,
        feats: dict[str, torch.Tensor],
        present: dict[str, torch.Tensor],
        feature_fill: dict[str, str],
        seeds: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        out = dict(feats)
        for m, x in feats.items():
            mask = present.get(m)
            if mask is None:
                continue
            mask = mask.to(x.device, torch.bool)
            if self.training:
                self.stats[m].update(x[mask])
            mode = feature_fill.get(m)
            if mode is None or bool(mask.all()):
                continue
            fill = self._fill(m, mode, x, seeds)
            keep = mask.view(-1, *([1] * (x.dim() - 1)))
            out[m] = torch.where(keep, x, fill.to(x.dtype)).contiguous(
                memory_format=_memory_format(x)
            )
        return out

    def _fill(self, m: str, mode: str, x: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        stats = self.stats[m]
        if mode == "zeros":
            return torch.zeros_like(x)
        if mode == "mean":
            return stats.mean.expand_as(x)
        if mode == "noise":
            return stats.mean + stats.var.sqrt() * _noise(x, seeds, m)
        if mode == "learned":
            if self.tokens is None:
                raise ConfigError(
                    f"feature_fill {m!r}='learned' needs a model built with learned_fill=True"
                )
            return self.tokens[m].expand_as(x)
        raise ConfigError(
            f"feature_fill {m!r} has mode {mode!r}; expected one of: {', '.join(FILL_MODES)}"
        )


def _noise(x: torch.Tensor, seeds: torch.Tensor | None, modality: str) -> torch.Tensor:
    """Standard normal noise shaped like x; row i drawn from (seeds[i], modality) on the CPU."""
    if seeds is None:
        raise ConfigError(
            f"feature_fill {modality!r}='noise' needs per-sample fill seeds; expected a batch "
            "with fill_seeds (set by the missing corruption's caller or the train regime)"
        )
    rows = []
    for seed in seeds.tolist():
        gen = torch.Generator().manual_seed(hash64(f"fill:{int(seed)}:{modality}") >> 1)
        rows.append(torch.randn(x.shape[1:], generator=gen))
    return torch.stack(rows).to(x.device)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 5 and x.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return torch.contiguous_format
