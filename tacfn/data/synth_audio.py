"""Source-filter speech-like audio: glottal pulses along an f0 contour through vowel formants."""

from __future__ import annotations

import numpy as np
from scipy import signal

from tacfn.data import synth_style as st

# (F1, F2, F3) in Hz of each syllable's vowel for a base voice; statements have 7 syllables.
_VOWELS = {
    "i": (390.0, 1990.0, 2550.0),
    "a": (710.0, 1100.0, 2540.0),
    "o": (590.0, 880.0, 2540.0),
    "ai": (750.0, 1300.0, 2500.0),
    "e": (500.0, 1500.0, 2500.0),
}
_SYLLABLES = (
    ("i", "a", "o", "i", "ai", "e", "o"),  # Kids are talking by the door
    ("o", "a", "i", "i", "ai", "e", "o"),  # Dogs are sitting by the door
)
_BANDWIDTHS = (80.0, 100.0, 130.0)
_BASE_RMS = 0.05


def _formant_sos(formants: np.ndarray, sr: int) -> np.ndarray:
    """Cascade of two-pole resonators, one per formant, as second-order sections."""
    sos = np.zeros((len(formants), 6))
    for i, (f, bw) in enumerate(zip(formants, _BANDWIDTHS, strict=True)):
        r = np.exp(-np.pi * bw / sr)
        sos[i] = (1.0 - r, 0.0, 0.0, 1.0, -2.0 * r * np.cos(2 * np.pi * f / sr), r * r)
    return sos


def _glottal_source(
    f0: np.ndarray, sr: int, shimmer: float, rng: np.random.Generator
) -> np.ndarray:
    """Differentiated Rosenberg pulses along the f0 track (Hz per sample), with shimmer."""
    phase = np.cumsum(f0) / sr
    p = phase % 1.0
    flow = np.where(
        p < 0.4,
        0.5 * (1 - np.cos(np.pi * p / 0.4)),
        np.where(p < 0.6, np.cos(0.5 * np.pi * (p - 0.4) / 0.2), 0.0),
    )
    period = phase.astype(np.int64)
    amp = 1.0 + shimmer * rng.standard_normal(period[-1] + 2)
    return np.diff(flow, prepend=0.0) * amp[period]


def render_audio(
    rng: np.random.Generator,
    actor: st.Actor,
    emotion: int,
    strong: bool,
    statement: int,
    sample_rate: int,
    duration: float,
) -> np.ndarray:
    """One clip's waveform, float32 (sample_rate * duration,)."""
    sr = sample_rate
    n = int(round(sr * duration))
    pairs = st.AUDIO_PAIR
    gain = actor.voice_expressive * (st.STRONG_GAIN if strong else 1.0)
    noise = st.AUDIO_NOISE

    def jittered(values: tuple[float, ...], within: bool = False) -> float:
        base = st.cue(values, pairs, emotion, gain, noise * values[pairs[emotion]] if within else 0)
        return base * float(np.exp(noise * rng.standard_normal()))

    f0_mean = actor.f0 * jittered(st.F0_MULT, within=True)
    f0_range = jittered(st.F0_RANGE_ST)
    slope = st.cue(st.F0_SLOPE, pairs, emotion, gain, 0.0) + 0.3 * rng.standard_normal()
    rate = actor.rate * jittered(st.RATE, within=True)
    energy_db = st.cue(st.ENERGY_DB, pairs, emotion, gain, 0.0) + 2.0 * rng.standard_normal()
    tilt = float(
        np.clip(
            st.cue(st.TILT, pairs, emotion, 1.0, 0.0) + 0.06 * rng.standard_normal(), 0.05, 0.97
        )
    )
    jitter = jittered(st.JITTER)
    breath = jittered(st.BREATH)

    syllables = _SYLLABLES[statement]
    k = len(syllables)
    durs = 0.2 / rate * np.clip(1 + 0.15 * rng.standard_normal(k), 0.6, 1.4)
    start = rng.uniform(0.08, 0.2) * duration
    room = duration - start - 0.05 * duration
    durs *= min(1.0, room / durs.sum())
    edges = start + np.concatenate([[0.0], np.cumsum(durs)])
    total = edges[-1] - edges[0]

    t = np.arange(n) / sr
    u = np.clip((t - edges[0]) / total, 0.0, 1.0)
    mids = 0.5 * (edges[:-1] + edges[1:])
    accents = rng.uniform(0.2, 1.0, k)
    bumps = accents[:, None] * np.exp(-(((t[None] - mids[:, None]) / (0.4 * durs[:, None])) ** 2))
    contour = slope * (u - 0.5) + bumps.sum(0) - 0.5
    wobble = signal.lfilter([0.02], [1, -0.98], rng.standard_normal(n))
    f0 = f0_mean * 2.0 ** (f0_range * contour / 12.0) * (1.0 + jitter * 7.0 * wobble)
    source = _glottal_source(f0, sr, 2 * jitter, rng)
    source = signal.lfilter([1.0 - tilt], [1.0, -tilt], source)
    source /= np.sqrt(np.mean(source**2)) + 1e-12
    source += breath * rng.standard_normal(n)

    out = np.zeros(n)
    pad = int(0.02 * sr)
    for i, vowel in enumerate(syllables):
        a, b = int(edges[i] * sr), min(n, int(edges[i + 1] * sr))
        lo, hi = max(0, a - pad), min(n, b + pad)
        formants = np.array(_VOWELS[vowel]) * actor.formant_scale
        formants *= 1 + 0.03 * rng.standard_normal(3)
        seg = signal.sosfilt(_formant_sos(formants, sr), source[lo:hi])
        seg /= np.sqrt(np.mean(seg**2)) + 1e-12
        env = _envelope(hi - lo, sr) * accents[i] ** 0.5
        burst_len = min(int(0.025 * sr), hi - lo)
        seg[:burst_len] += 0.4 * np.diff(rng.standard_normal(burst_len + 1))
        out[lo:hi] += seg * env
    out *= _BASE_RMS * 10 ** ((energy_db + actor.loudness_db) / 20)
    out += 10 ** (-55 / 20) * rng.standard_normal(n)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _envelope(length: int, sr: int) -> np.ndarray:
    """Raised-cosine attack (25 ms) and release (40 ms) around a flat vowel."""
    env = np.ones(length)
    attack, release = min(length // 2, int(0.025 * sr)), min(length // 2, int(0.04 * sr))
    env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / max(attack, 1))
    env[length - release :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(release) / max(release, 1))
    return env
