"""Pure batched waveform functions on (B, L) tensors; per-sample parameters come as (B,) tensors."""

from __future__ import annotations

import math

import torch
import torchaudio.functional as AF


def rms(x: torch.Tensor) -> torch.Tensor:
    """Root mean square over the last axis."""
    return x.double().pow(2).mean(-1).sqrt().to(x.dtype)


def mix_at_snr(
    x: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add `noise` scaled so that rms(x) / rms(added) = 10^(snr_db / 20).

    Returns the mixture and the realised SNR in dB, measured on the result (NaN for a silent
    clip, which is returned unchanged: there is no signal level to set the noise against).
    """
    signal, level = rms(x).double(), rms(noise).double()
    target = torch.pow(10.0, snr_db.double().to(x.device) / 20.0)
    scale = torch.where(level > 0, signal / (level * target), torch.zeros_like(level))
    added = noise * scale.to(x.dtype)[:, None]
    mixed = x + added
    realised = 20.0 * torch.log10(signal / rms(mixed - x).double())
    realised = torch.where(signal > 0, realised, torch.full_like(realised, math.nan))
    return mixed, realised


def colored(white: torch.Tensor, exponent: float) -> torch.Tensor:
    """Shape white noise to a 1/f^exponent power spectrum (1 = pink, 2 = brown); no DC."""
    length = white.shape[-1]
    freqs = torch.fft.rfftfreq(length, device=white.device, dtype=torch.float64)
    gain = freqs.clamp_min(freqs[1] if length > 1 else 1.0).pow(-exponent / 2.0)
    gain[0] = 0.0
    spectrum = torch.fft.rfft(white.double(), dim=-1) * gain
    return torch.fft.irfft(spectrum, n=length, dim=-1).to(white.dtype)


def clip_relative(x: torch.Tensor, fraction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip each clip at `fraction` of its own peak; returns the result and the clipped share."""
    threshold = (fraction.to(x) * x.abs().amax(-1))[:, None]
    clipped = (x.abs() > threshold).float().mean(-1)
    return torch.clamp(x, min=-threshold, max=threshold), clipped


def lowpass_kernel(
    sample_rate: int, cutoff_hz: float, taps: int, device: torch.device | None = None
) -> torch.Tensor:
    """Blackman-windowed sinc low-pass FIR (odd length, unit DC gain, about 74 dB stopband)."""
    n = torch.arange(taps, device=device, dtype=torch.float64) - (taps - 1) / 2
    ratio = 2.0 * cutoff_hz / sample_rate
    kernel = (
        ratio
        * torch.sinc(ratio * n)
        * torch.blackman_window(taps, periodic=False, dtype=torch.float64, device=device)
    )
    return kernel / kernel.sum()


def lowpass(x: torch.Tensor, sample_rate: int, cutoff_hz: float, taps: int) -> torch.Tensor:
    """Zero-phase FIR low-pass of every clip at `cutoff_hz`."""
    kernel = lowpass_kernel(sample_rate, cutoff_hz, taps, x.device).to(x.dtype)
    return AF.fftconvolve(x, kernel[None, :], mode="same")


def exponential_rir(
    noise: torch.Tensor, rt60_s: float, sample_rate: int, drr_db: float
) -> torch.Tensor:
    """Synthetic room responses (B, K): a unit direct path, then `noise` decaying 60 dB at RT60,
    scaled so that the direct-to-reverberant energy ratio is exactly `drr_db`."""
    t = torch.arange(noise.shape[-1], device=noise.device, dtype=torch.float64) / sample_rate
    tail = noise.double() * torch.exp(-3.0 * math.log(10.0) * t / rt60_s)
    tail[:, 0] = 0.0
    energy = tail.pow(2).sum(-1, keepdim=True).clamp_min(1e-30)
    rir = tail * torch.sqrt(10.0 ** (-drr_db / 10.0) / energy)
    rir[:, 0] = 1.0
    return rir.to(noise.dtype)


def convolve_rms_matched(x: torch.Tensor, rir: torch.Tensor) -> torch.Tensor:
    """Convolve each clip with its response, keep the first L samples and the clip's RMS."""
    wet = AF.fftconvolve(x, rir)[..., : x.shape[-1]]
    level = rms(wet)
    gain = torch.where(level > 0, rms(x) / level.clamp_min(1e-12), torch.zeros_like(level))
    return wet * gain[:, None]


def segment_mask(length: int, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, L) bool mask, True inside the segments [starts, starts + lengths) of each row (B, K)."""
    pos = torch.arange(length, device=starts.device)
    inside = (pos >= starts[..., None]) & (pos < (starts + lengths)[..., None])
    return inside.any(dim=1)
