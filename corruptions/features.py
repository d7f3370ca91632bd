"""Corruptions of feature streams (B, T, D) such as MulT's aligned text/audio/vision features."""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

import torch
from pydantic import Field

from tacfn_robust.corruptions import draws
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.corruptions.functional import audio as audio_f
from tacfn_robust.corruptions.functional import features as F
from tacfn_robust.corruptions.options import CorruptionOptions, TensorOrNumber
from tacfn_robust.corruptions.registry import register
from tacfn_robust.corruptions.seeding import child_seed, generator, noise_fields

DROP_LEVELS = (0.1, 0.2, 0.3, 0.5, 0.7)


def as_vector(value: torch.Tensor | float | None, x: torch.Tensor) -> torch.Tensor:
    """An option value (number or tensor, None = 0) as a tensor on x's device."""
    return torch.as_tensor(0.0 if value is None else value, dtype=x.dtype, device=x.device)


class _Features(Corruption):
    kind = "features"


@register
class FeatureNoise(_Features):
    """Gaussian noise with std as a multiple of the feature's std (the sample's, or a given one)."""

    name = "feature_noise"
    param = "std_multiple"
    unit = "x feature std"
    levels = (0.1, 0.25, 0.5, 1.0, 2.0)
    identity = 0.0
    bounds = (0.0, 20.0)

    class Options(CorruptionOptions):
        feature_std: TensorOrNumber = Field(
            None, description="reference std, number or (D,) tensor; default the sample's"
        )

    def corrupt(self, x, seeds, batch):
        given = self.config["feature_std"]
        reference = F.sample_std(x) if given is None else as_vector(given, x).expand(x.shape)
        noise = noise_fields([child_seed(generator(s)) for s in seeds], x.shape[1:], x.device)
        out = F.add_scaled_noise(x, noise, self.value, reference)
        snr = 20 * torch.log10(audio_f.rms(x.flatten(1)) / audio_f.rms((out - x).flatten(1)))
        return out, [{"snr_db_realised": float(v)} for v in snr.tolist()]


class _StepReplacement(_Features):
    """Shared shell: per-sample time steps drawn on CPU, replaced in one batched op."""

    param = "fraction"
    unit = "fraction of time steps"
    levels = DROP_LEVELS
    identity = 0.0
    bounds = (0.0, 1.0)

    @abstractmethod
    def steps(self, gen: torch.Generator, length: int) -> list[int]:
        """Indices of the replaced time steps of one sample."""

    def vector(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), dtype=x.dtype, device=x.device)

    def corrupt(self, x, seeds, batch):
        length = x.shape[1]
        picks = [self.steps(generator(s), length) for s in seeds]
        flags = torch.zeros(len(seeds), length, dtype=torch.bool)
        for row, idx in enumerate(picks):
            flags[row, idx] = True
        out = F.replace_steps(x, flags, self.vector(x))
        return out, [{"steps": len(p), "step_share": len(p) / length} for p in picks]


@register
class TemporalDrop(_StepReplacement):
    """Zero a fraction of time steps, at random positions or as one contiguous block."""

    name = "temporal_drop"

    class Options(CorruptionOptions):
        mode: Literal["random", "block"] = Field(
            "random", description="steps at random positions or one contiguous block"
        )

    def steps(self, gen, length):
        count = round(self.value * length)
        if self.config["mode"] == "random":
            return draws.subset(gen, length, count)
        start = draws.integer(gen, 0, length - count)
        return list(range(start, start + count))


@register
class TokenDrop(_StepReplacement):
    """Replace each token independently with probability `fraction` by the unknown embedding."""

    name = "token_drop"
    unit = "token drop probability"

    class Options(CorruptionOptions):
        unk: TensorOrNumber = Field(
            None, description="unknown-token vector (D,) or number; default 0"
        )

    def steps(self, gen, length):
        coins = torch.rand(length, generator=gen)
        return torch.nonzero(coins < self.value).flatten().tolist()

    def vector(self, x):
        return as_vector(self.config["unk"], x)
