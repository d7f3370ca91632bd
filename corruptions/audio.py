"""Waveform corruptions on (B, L) audio, batched in torch."""

from __future__ import annotations

import math
from abc import abstractmethod
from pathlib import Path
from typing import Annotated, Any, Literal

import soundfile
import torch
import torchaudio.functional as AF
from pydantic import AfterValidator, Field

from tacfn.core.batch import Batch
from tacfn.core.errors import DataError
from tacfn_robust.corruptions import draws
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.corruptions.functional import audio as F
from tacfn_robust.corruptions.options import CorruptionOptions, Folder, Integer, Number
from tacfn_robust.corruptions.registry import register
from tacfn_robust.corruptions.seeding import child_seed, generator, noise_fields

SNR_LEVELS = (30.0, 20.0, 10.0, 5.0, 0.0)
SNR_BOUNDS = (-30.0, 100.0)
NOISE_EXPONENTS = {"pink": 1.0, "brown": 2.0}


def sample_rate_of(name: str, batch: Batch) -> int:
    """The batch's audio sample rate, or a one-line error naming the corruption."""
    if not batch.sample_rate:
        raise DataError(
            f"{name}: batch has no sample_rate; expected the audio rate in Hz "
            "(Batch.sample_rate, or sample_rate= on a tensor)"
        )
    return int(batch.sample_rate)


def odd(n: int) -> int:
    """n, or n + 1 when n is even."""
    return n | 1


def snr_details(realised: torch.Tensor) -> list[dict[str, Any]]:
    return [{"snr_db_realised": float(v)} for v in realised.tolist()]


class _AdditiveNoise(Corruption):
    """Shared shell of the noise-at-SNR corruptions: subclasses make the noise (B, L)."""

    kind = "waveform"
    param = "snr_db"
    unit = "dB SNR"
    levels = SNR_LEVELS
    identity = math.inf
    bounds = SNR_BOUNDS

    @abstractmethod
    def noise(self, x: torch.Tensor, seeds: list[int], batch: Batch) -> tuple[torch.Tensor, list]:
        """Noise (B, L) and per-sample details of where it came from."""

    def corrupt(self, x: torch.Tensor, seeds: list[int], batch: Batch):
        noise, details = self.noise(x, seeds, batch)
        snr = torch.full((x.shape[0],), float(self.value))
        mixed, realised = F.mix_at_snr(x, noise, snr)
        return mixed, [d | s for d, s in zip(details, snr_details(realised), strict=True)]


@register
class GaussianSNR(_AdditiveNoise):
    """White Gaussian noise mixed at an exact SNR."""

    name = "gaussian_snr"

    def noise(self, x, seeds, batch):
        noise_seeds = [child_seed(generator(s)) for s in seeds]
        return noise_fields(noise_seeds, (x.shape[1],), x.device), [{} for _ in seeds]


@register
class ColoredNoise(_AdditiveNoise):
    """Pink (1/f) or brown (1/f²) noise mixed at an exact SNR."""

    name = "colored_noise"

    class Options(CorruptionOptions):
        color: Literal[tuple(NOISE_EXPONENTS)] = Field("pink", description="noise colour")

    def noise(self, x, seeds, batch):
        noise_seeds = [child_seed(generator(s)) for s in seeds]
        white = noise_fields(noise_seeds, (x.shape[1],), x.device)
        color = self.config["color"]
        return F.colored(white, NOISE_EXPONENTS[color]), [{"color": color} for _ in seeds]


@register
class Background(_AdditiveNoise):
    """A recording from a user's folder of .wav files, looped, mixed at an exact SNR."""

    name = "background"

    class Options(CorruptionOptions):
        folder: Folder = Field(description="folder of noise .wav files (soundfile)")

    def __init__(self, modality: str, value: float, config: dict[str, Any]) -> None:
        super().__init__(modality, value, config)
        self.files = sorted(p for p in Path(config["folder"]).iterdir() if p.suffix == ".wav")
        if not self.files:
            raise DataError(f"background: folder {str(config['folder'])!r} has no .wav files")
        self._cache: dict[tuple[int, int], torch.Tensor] = {}

    def recording(self, index: int, sample_rate: int) -> torch.Tensor:
        """Mono recording `index` resampled to `sample_rate` (loaded once, kept)."""
        key = (index, sample_rate)
        if key not in self._cache:
            path = self.files[index]
            try:
                data, rate = soundfile.read(path, dtype="float32", always_2d=True)
            except (RuntimeError, soundfile.LibsndfileError) as exc:
                raise DataError(f"background: cannot read {str(path)!r}: {exc}") from None
            if data.shape[0] == 0:
                raise DataError(f"background: {str(path)!r} is empty; expected audio samples")
            mono = torch.from_numpy(data.mean(axis=1))
            self._cache[key] = AF.resample(mono, rate, sample_rate) if rate != sample_rate else mono
        return self._cache[key]

    def noise(self, x, seeds, batch):
        rate = sample_rate_of(self.name, batch)
        length = x.shape[1]
        rows, details = [], []
        for seed in seeds:
            gen = generator(seed)
            index = draws.integer(gen, 0, len(self.files) - 1)
            source = self.recording(index, rate)
            offset = draws.integer(gen, 0, source.numel() - 1)
            looped = source.roll(-offset).repeat(math.ceil(length / source.numel()))[:length]
            rows.append(looped)
            details.append({"noise_file": self.files[index].name, "noise_offset": offset})
        return torch.stack(rows).to(x), details


@register
class Clipping(Corruption):
    """Hard clipping at a fraction of each clip's own peak."""

    name = "clipping"
    kind = "waveform"
    param = "fraction"
    unit = "fraction of peak"
    levels = (0.8, 0.6, 0.4, 0.2, 0.1)
    identity = 1.0
    bounds = (0.001, 1.0)

    def corrupt(self, x, seeds, batch):
        out, clipped = F.clip_relative(x, torch.full((x.shape[0],), float(self.value)))
        return out, [{"clipped_share": float(c)} for c in clipped.tolist()]


@register
class Lowpass(Corruption):
    """Zero-phase windowed-sinc low-pass filter at a cutoff frequency."""

    name = "lowpass"
    kind = "waveform"
    param = "cutoff_hz"
    unit = "Hz"
    levels = (8000.0, 4000.0, 2833.0, 1666.0, 500.0)
    identity = math.inf
    bounds = (20.0, 96000.0)

    class Options(CorruptionOptions):
        taps: Annotated[Integer, AfterValidator(odd)] = Field(
            511, ge=31, le=8191, description="FIR length (odd; an even length is made odd)"
        )

    def corrupt(self, x, seeds, batch):
        rate = sample_rate_of(self.name, batch)
        nyquist = rate / 2
        if self.value >= nyquist:
            note = {"cutoff_hz": self.value, "filtered": False, "nyquist_hz": nyquist}
            return x, [dict(note) for _ in seeds]
        out = F.lowpass(x, rate, self.value, self.config["taps"])
        return out, [{"cutoff_hz": self.value, "filtered": True} for _ in seeds]


@register
class Reverb(Corruption):
    """Convolution with an exponentially decaying synthetic room response (RMS kept).

    The direct-to-reverberant ratio falls as the room gets more reverberant, as in a room with
    the source at a fixed distance: DRR = drr_db - 10 log10(RT60 / 1 s).
    """

    name = "reverb"
    kind = "waveform"
    param = "rt60_s"
    unit = "s RT60"
    levels = (0.2, 0.4, 0.7, 1.0, 1.5)
    identity = 0.0
    bounds = (0.01, 10.0)

    class Options(CorruptionOptions):
        drr_db: Number = Field(
            -3.0, ge=-40.0, le=40.0, description="direct-to-reverberant dB at RT60 1 s"
        )

    def corrupt(self, x, seeds, batch):
        rate = sample_rate_of(self.name, batch)
        taps = max(2, math.ceil(self.value * rate))
        drr = self.config["drr_db"] - 10.0 * math.log10(self.value)
        noise = noise_fields([child_seed(generator(s)) for s in seeds], (taps,), x.device)
        rir = F.exponential_rir(noise, self.value, rate, drr)
        out = F.convolve_rms_matched(x, rir)
        detail = {"rt60_s": self.value, "drr_db": drr, "rir_taps": taps}
        return out, [dict(detail) for _ in seeds]


@register
class TimeMask(Corruption):
    """Silence a fraction of the clip in contiguous segments placed at random."""

    name = "time_mask"
    kind = "waveform"
    param = "fraction"
    unit = "fraction of clip silenced"
    levels = (0.1, 0.2, 0.3, 0.5, 0.7)
    identity = 0.0
    bounds = (0.0, 1.0)

    class Options(CorruptionOptions):
        segments: Integer = Field(1, ge=1, le=64, description="number of silenced segments")

    def corrupt(self, x, seeds, batch):
        length = x.shape[1]
        total = round(self.value * length)
        count = self.config["segments"]
        plans = [draws.segments(generator(s), length, total, count) for s in seeds]
        width = max(1, max(len(p) for p in plans))
        starts = torch.zeros(len(seeds), width, dtype=torch.long)
        sizes = torch.zeros(len(seeds), width, dtype=torch.long)
        for row, plan in enumerate(plans):
            for col, (start, size) in enumerate(plan):
                starts[row, col], sizes[row, col] = start, size
        mask = F.segment_mask(length, starts.to(x.device), sizes.to(x.device))
        out = x.masked_fill(mask, 0.0)
        details = [
            {"segments": len(p), "masked_share": sum(s for _, s in p) / length} for p in plans
        ]
        return out, details
