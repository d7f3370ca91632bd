"""Realistic audio extras through audiomentations: slower per-sample paths, seeded per sample.

audiomentations draws from Python's and numpy's global RNGs, so every call runs inside
`seeded_global_rng` (seeded by the sample, global state restored afterwards).
Room simulation (RoomSimulator) is not offered: its ray tracing draws from pyroomacoustics'
own package RNG, which can be seeded but not saved and restored, and without ray tracing the
image-source orders that reverberation times of 0.2-1.5 s need take minutes per clip.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust.corruptions.audio import sample_rate_of
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.corruptions.options import CorruptionOptions, Integer
from tacfn_robust.corruptions.registry import register
from tacfn_robust.corruptions.seeding import child_seed, generator, seeded_global_rng

if TYPE_CHECKING:
    from audiomentations.core.transforms_interface import BaseWaveformTransform


def audiomentations() -> Any:
    """The audiomentations module, imported on first use (it takes seconds to import)."""
    return import_module("audiomentations")


StretchMethod = Literal["signalsmith_stretch", "librosa_phase_vocoder"]


class _Audiomentations(Corruption):
    """Shared shell: one audiomentations transform, called per sample under a seeded RNG."""

    kind = "waveform"
    backend = "audiomentations"

    @abstractmethod
    def library_transform(self) -> BaseWaveformTransform:
        """The configured audiomentations transform (p=1, parameter fixed to `value`)."""

    @abstractmethod
    def detail(self, clean: np.ndarray, out: np.ndarray) -> dict[str, Any]:
        """What one sample's record adds: the settings used and what they did to the clip."""

    def check_input(self, x: torch.Tensor, rate: int) -> None:
        """Raise a DataError when the backend cannot take clips like `x` at `rate` Hz."""

    def corrupt(self, x: torch.Tensor, seeds: list[int], batch: Batch):
        rate = sample_rate_of(self.name, batch)
        self.check_input(x, rate)
        transform = self.library_transform()
        clips = x.detach().cpu().numpy().astype(np.float32)
        rows, details = [], []
        for clip, seed in zip(clips, seeds, strict=True):
            with seeded_global_rng(child_seed(generator(seed))):
                out = transform(samples=clip, sample_rate=rate)
            rows.append(torch.from_numpy(out))
            details.append(self.detail(clip, out))
        return torch.stack(rows).to(x), details


def realised_snr_db(clean: np.ndarray, out: np.ndarray) -> float:
    """20 log10(rms(clean) / rms(out - clean)) in float64; NaN for a silent clip."""
    clean64 = clean.astype(np.float64)
    signal = float(np.sqrt(np.mean(clean64**2)))
    error = float(np.sqrt(np.mean((out.astype(np.float64) - clean64) ** 2)))
    if signal == 0.0:
        return math.nan
    return math.inf if error == 0.0 else 20.0 * math.log10(signal / error)


class _Stretching(_Audiomentations):
    """Pitch and tempo changes: a choice of DSP backend, recorded per sample."""

    class Options(CorruptionOptions):
        method: StretchMethod = Field("signalsmith_stretch", description="DSP backend")

    def detail(self, clean, out):
        return {"method": self.config["method"]}


@register
class PitchShift(_Stretching):
    """Pitch shift by a number of semitones, duration kept (audiomentations PitchShift)."""

    name = "pitch_shift"
    param = "semitones"
    unit = "semitones"
    levels = (1.0, 2.0, 3.0, 4.0, 6.0)
    identity = 0.0
    bounds = (-12.0, 12.0)

    def library_transform(self):
        return audiomentations().PitchShift(
            self.value, self.value, method=self.config["method"], p=1.0
        )


@register
class TimeStretch(_Stretching):
    """Tempo change by a rate, pitch and clip length kept (audiomentations TimeStretch)."""

    name = "time_stretch"
    param = "rate"
    unit = "tempo ratio"
    levels = (1.1, 1.2, 1.35, 1.5, 1.75)
    identity = 1.0
    bounds = (0.5, 2.0)

    def library_transform(self):
        return audiomentations().TimeStretch(
            self.value,
            self.value,
            leave_length_unchanged=True,
            method=self.config["method"],
            p=1.0,
        )


@register
class Mp3(_Audiomentations):
    """MP3 encode and decode at a constant bitrate, clip length and timing kept.

    audiomentations Mp3Compression with its fast-mp3-augment backend (LAME encoder, minimp3
    decoder, encoder delay removed). The round trip also scales the clip by about 0.95, so the
    realised SNR recorded per sample levels off at high bitrates.
    """

    name = "mp3"
    param = "bitrate_kbps"
    unit = "kbps"
    levels = (128, 64, 32, 16, 8)
    identity = math.inf  # not compressed
    bounds = (8, 320)
    integer = True

    class Options(CorruptionOptions):
        quality: Integer = Field(7, ge=0, le=9, description="LAME quality: 0 best, 9 fastest")

    @classmethod
    def check_value(cls, value: Any) -> float:
        value = super().check_value(value)
        supported = audiomentations().Mp3Compression.SUPPORTED_BITRATES
        if value != cls.identity and value not in supported:
            raise ConfigError(
                f"{cls.name}: {cls.param}={value!r} is not an MP3 bitrate; expected one of: "
                f"{', '.join(map(str, supported))} ({cls.unit})"
            )
        return value

    def check_input(self, x, rate):
        backend = import_module("fast_mp3_augment")
        if rate not in backend.SUPPORTED_SAMPLE_RATES:
            rates = ", ".join(map(str, sorted(backend.SUPPORTED_SAMPLE_RATES)))
            raise DataError(
                f"{self.name}: sample_rate={rate} is unsupported; expected one of: {rates}"
            )
        if x.shape[-1] < 0.1 * rate:
            raise DataError(
                f"{self.name}: clips of {x.shape[-1]} samples are too short; "
                f"expected at least {math.ceil(0.1 * rate)} (100 ms at {rate} Hz)"
            )

    def library_transform(self):
        bitrate = int(self.value)
        return audiomentations().Mp3Compression(
            bitrate, bitrate, quality=self.config["quality"], p=1.0
        )

    def detail(self, clean, out):
        return {
            "bitrate_kbps": int(self.value),
            "quality": self.config["quality"],
            "snr_db_realised": realised_snr_db(clean, out),
        }
