"""Realistic audio extras through audiomentations: slower per-sample paths, seeded per sample.

audiomentations draws from Python's and numpy's global RNGs, so every call runs inside
`seeded_global_rng` (seeded by the sample, global state restored afterwards).
MP3 compression and room simulation are not offered: their audiomentations backends
(fast-mp3-augment / lameenc / pydub, and pyroomacoustics) are not installed dependencies.
"""

from __future__ import annotations

from abc import abstractmethod
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from corruptions.audio import sample_rate_of
from corruptions.base import Corruption, Option, choice
from corruptions.registry import register
from corruptions.seeding import child_seed, generator, seeded_global_rng
from tacfn.batch import Batch

if TYPE_CHECKING:
    from audiomentations.core.transforms_interface import BaseWaveformTransform


def audiomentations() -> Any:
    """The audiomentations module, imported on first use (it takes seconds to import)."""
    return import_module("audiomentations")


STRETCH_METHODS = ("signalsmith_stretch", "librosa_phase_vocoder")


class _Audiomentations(Corruption):
    """Shared shell: one audiomentations transform, called per sample under a seeded RNG."""

    kind = "waveform"
    backend = "audiomentations"
    options = {"method": Option(STRETCH_METHODS[0], choice(*STRETCH_METHODS), "DSP backend")}

    @abstractmethod
    def transform(self) -> BaseWaveformTransform:
        """The configured audiomentations transform (p=1, parameter fixed to `value`)."""

    def corrupt(self, x: torch.Tensor, seeds: list[int], batch: Batch):
        rate = sample_rate_of(self.name, batch)
        transform = self.transform()
        clips = x.detach().cpu().numpy().astype(np.float32)
        rows = []
        for clip, seed in zip(clips, seeds, strict=True):
            with seeded_global_rng(child_seed(generator(seed))):
                rows.append(torch.from_numpy(transform(samples=clip, sample_rate=rate)))
        details: list[dict[str, Any]] = [{"method": self.config["method"]} for _ in seeds]
        return torch.stack(rows).to(x), details


@register
class PitchShift(_Audiomentations):
    """Pitch shift by a number of semitones, duration kept (audiomentations PitchShift)."""

    name = "pitch_shift"
    param = "semitones"
    unit = "semitones"
    levels = (1.0, 2.0, 3.0, 4.0, 6.0)
    identity = 0.0
    bounds = (-12.0, 12.0)

    def transform(self):
        return audiomentations().PitchShift(
            self.value, self.value, method=self.config["method"], p=1.0
        )


@register
class TimeStretch(_Audiomentations):
    """Tempo change by a rate, pitch and clip length kept (audiomentations TimeStretch)."""

    name = "time_stretch"
    param = "rate"
    unit = "tempo ratio"
    levels = (1.1, 1.2, 1.35, 1.5, 1.75)
    identity = 1.0
    bounds = (0.5, 2.0)

    def transform(self):
        return audiomentations().TimeStretch(
            self.value,
            self.value,
            leave_length_unchanged=True,
            method=self.config["method"],
            p=1.0,
        )
