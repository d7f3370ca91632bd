"""How emotion and actor shape the synthetic clips: complementary audio and video cues.

Audio cues take four values, one per pair of AUDIO_PAIR; video cues four, one per pair of
VIDEO_PAIR. The two partitions of the eight emotions into pairs cross (every audio pair
meets every video pair at most once), so audio tells the audio pair, video the video
pair, and only both together the emotion. A weak within-pair cue (WITHIN) lets a single
modality do slightly better than half right. Per-clip noise and per-actor variation make
the pair cues overlap, which keeps fusion below 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#                  neu calm hap sad ang fear dis sur
AUDIO_PAIR = (0, 0, 1, 2, 3, 3, 2, 1)
VIDEO_PAIR = (0, 1, 2, 0, 3, 2, 1, 3)

# Audio cue per audio pair.
F0_MULT = (1.0, 1.3, 0.84, 1.16)
F0_RANGE_ST = (2.0, 7.0, 1.0, 4.5)
F0_SLOPE = (-1.0, 1.0, -1.5, 0.2)
RATE = (1.0, 1.15, 0.75, 1.35)
ENERGY_DB = (0.0, 4.0, -5.0, 7.0)
TILT = (0.72, 0.55, 0.9, 0.35)
JITTER = (0.004, 0.008, 0.01, 0.02)
BREATH = (0.05, 0.05, 0.2, 0.08)

# Video cue per video pair.
MOUTH_CURVE = (0.0, -0.8, 1.0, 0.0)
MOUTH_OPEN = (0.05, 0.1, 0.3, 0.75)
BROW_ANGLE = (0.0, 0.8, -0.2, -0.5)
BROW_RAISE = (0.0, -0.5, 0.3, 1.0)
EYE_OPEN = (0.6, 0.35, 0.55, 1.0)
MOTION = (0.3, 0.6, 0.8, 1.2)

WITHIN = 0.5  # within-pair cue strength, in units of the cue's own noise
AUDIO_NOISE = 0.1  # per-clip relative noise on audio cues
VIDEO_NOISE = 0.07  # per-clip relative noise on video cues (relative to cue spacing)
STRONG_GAIN = 1.4  # strong intensity scales the deviation from the neutral cue


def member_sign(emotion: int, pairs: tuple[int, ...]) -> float:
    """-1 for the first emotion of its pair, +1 for the second."""
    partner = [e for e in range(8) if pairs[e] == pairs[emotion]]
    return -1.0 if partner[0] == emotion else 1.0


@dataclass(frozen=True)
class Actor:
    """Per-actor traits: voice, face and how expressive the actor is."""

    f0: float
    formant_scale: float
    loudness_db: float
    rate: float
    voice_expressive: float
    face_expressive: float
    face_dx: float
    face_dy: float
    face_rx: float
    face_ry: float
    eye_dx: float
    skin: np.ndarray
    background: np.ndarray


def draw_actor(rng: np.random.Generator, actor: int) -> Actor:
    """Odd actors share one voice/face family, even actors the other."""
    odd = actor % 2 == 1
    tone = rng.uniform(0.75, 1.0)
    return Actor(
        f0=(115.0 if odd else 205.0) * rng.uniform(0.88, 1.12),
        formant_scale=(1.0 if odd else 1.15) * rng.uniform(0.96, 1.04),
        loudness_db=rng.normal(0.0, 1.5),
        rate=rng.uniform(0.9, 1.1),
        voice_expressive=rng.uniform(0.75, 1.25),
        face_expressive=rng.uniform(0.75, 1.25),
        face_dx=rng.uniform(-0.06, 0.06),
        face_dy=rng.uniform(-0.04, 0.08),
        face_rx=(0.6 if odd else 0.56) * rng.uniform(0.93, 1.07),
        face_ry=(0.78 if odd else 0.74) * rng.uniform(0.94, 1.06),
        eye_dx=rng.uniform(0.32, 0.4),
        skin=np.array([0.92, 0.72, 0.58]) * tone + rng.uniform(-0.04, 0.04, 3),
        background=rng.uniform(0.3, 0.7, 3),
    )


def cue(
    values: tuple[float, ...], pairs: tuple[int, ...], emotion: int, gain: float, spread: float
) -> float:
    """The emotion's cue value: the pair's value, its deviation from neutral scaled by gain,
    plus a within-pair offset of WITHIN * spread."""
    neutral = values[pairs[0]]
    value = neutral + (values[pairs[emotion]] - neutral) * gain
    return value + WITHIN * spread * member_sign(emotion, pairs)
