"""The embedded synthetic data set: RAVDESS-structured audio-visual emotion clips.

Factors as RAVDESS: actors (odd / even = two voice and face families), 8 emotions,
intensity normal/strong (neutral: normal only), 2 statements, 2 repetitions: 60 clips per
actor. Every clip is drawn from its own generator keyed by (seed, clip factors), so a clip
does not depend on how many actors were generated. The result is cached on disk under
cache_dir()/synthetic/<hash of all parameters and GENERATOR_VERSION>.pt.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tacfn.core.errors import ConfigError
from tacfn.data.base import EmotionDataset
from tacfn.data.cache import atomic_save, cache_dir, load_cached, params_key
from tacfn.data.info import DatasetDescription, DatasetInfo, described_by
from tacfn.data.names import EMOTIONS, INTENSITIES, STATEMENTS
from tacfn.data.synth_audio import render_audio
from tacfn.data.synth_style import draw_actor
from tacfn.data.synth_video import render_video

GENERATOR_VERSION = 3
MAX_ACTORS = 24
_ACTOR_STREAM = 1_000_003


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the generated clips."""

    actors: int = 12
    duration: float = 2.0
    frames: int = 16
    size: int = 64
    sample_rate: int = 16000
    seed: int = 0

    def validate(self) -> None:
        checks = {
            "actors": (1 <= self.actors <= MAX_ACTORS, f"1..{MAX_ACTORS}"),
            "duration": (0.5 <= self.duration <= 10.0, "0.5..10 seconds"),
            "frames": (2 <= self.frames <= 128, "2..128"),
            "size": (16 <= self.size <= 256 and self.size % 2 == 0, "an even number 16..256"),
            "sample_rate": (4000 <= self.sample_rate <= 48000, "4000..48000 Hz"),
            "seed": (self.seed >= 0, "a non-negative integer"),
        }
        for field, (ok, expected) in checks.items():
            if not ok:
                raise ConfigError(
                    f"synthetic data set: {field}={getattr(self, field)!r}; expected {expected}"
                )

    def cache_params(self) -> dict[str, object]:
        """What the cache entry of this set is built from (its key, recorded in the entry)."""
        return {**asdict(self), "generator_version": GENERATOR_VERSION}

    def cache_path(self, root: str | Path | None = None) -> Path:
        return cache_dir(root) / "synthetic" / f"{params_key(self.cache_params())}.pt"


def clip_factors(actors: int) -> pd.DataFrame:
    """One row per clip in RAVDESS order: actor, emotion, intensity, statement, repetition."""
    rows = [
        (actor, emotion, intensity, statement, repetition)
        for actor in range(1, actors + 1)
        for emotion in range(8)
        for intensity in range(1 if emotion == 0 else 2)
        for statement in range(2)
        for repetition in range(2)
    ]
    return pd.DataFrame(rows, columns=["actor", "emotion", "intensity", "statement", "repetition"])


def clip_id(actor: int, emotion: int, intensity: int, statement: int, repetition: int) -> str:
    """Stable id, 1-based like RAVDESS fields: synthetic/a03_e05_i2_s1_r2."""
    return (
        f"synthetic/a{actor:02d}_e{emotion + 1:02d}_i{intensity + 1}"
        f"_s{statement + 1}_r{repetition + 1}"
    )


def generate(config: SynthConfig) -> dict[str, object]:
    """Render every clip; returns tensors and factor columns (no caching)."""
    config.validate()
    factors = clip_factors(config.actors)
    n = len(factors)
    audio = np.empty((n, int(round(config.sample_rate * config.duration))), np.float32)
    video = np.empty((n, 3, config.frames, config.size, config.size), np.uint8)
    actors = {
        a: draw_actor(np.random.default_rng([config.seed, _ACTOR_STREAM, a]), a)
        for a in range(1, config.actors + 1)
    }
    for i, row in enumerate(factors.itertuples(index=False)):
        rng = np.random.default_rng([config.seed, *row])
        strong = row.intensity == 1
        actor = actors[row.actor]
        audio[i] = render_audio(
            rng, actor, row.emotion, strong, row.statement, config.sample_rate, config.duration
        )
        video[i] = render_video(rng, actor, row.emotion, strong, config.frames, config.size)
    return {
        "audio": torch.from_numpy(audio),
        "video": torch.from_numpy(video),
        "factors": {c: factors[c].tolist() for c in factors.columns},
    }


def describe_synthetic(
    actors: int = 12,
    duration: float = 2.0,
    frames: int = 16,
    size: int = 64,
    sample_rate: int = 16000,
    seed: int = 0,
    **_: object,
) -> DatasetDescription:
    """The synthetic set's description from its parameters (checked as the loader does)."""
    SynthConfig(actors, duration, frames, size, sample_rate, seed).validate()
    return DatasetDescription("synthetic", ("audio", "video"), groups=actors, task="multiclass")


@described_by(describe_synthetic)
def load_synthetic(
    actors: int = 12,
    duration: float = 2.0,
    frames: int = 16,
    size: int = 64,
    sample_rate: int = 16000,
    seed: int = 0,
    cache: str | None = None,
    use_cache: bool = True,
) -> EmotionDataset:
    """The synthetic set, generated once and then read from the disk cache."""
    config = SynthConfig(actors, duration, frames, size, sample_rate, seed)
    config.validate()
    path = config.cache_path(cache)
    started = time.perf_counter()
    stored = load_cached(path, config.cache_params()) if use_cache else None
    hit = stored is not None
    if stored is None:
        stored = generate(config)
        if use_cache:
            atomic_save(stored, path, config.cache_params())
    factors = pd.DataFrame(stored["factors"])
    meta = pd.DataFrame(
        {
            "actor": factors["actor"],
            "gender": np.where(factors["actor"] % 2 == 1, "male", "female"),
            "emotion": factors["emotion"] + 1,
            "emotion_name": [EMOTIONS[e] for e in factors["emotion"]],
            "intensity": [INTENSITIES[i] for i in factors["intensity"]],
            "statement": factors["statement"] + 1,
            "repetition": factors["repetition"] + 1,
        }
    )
    ids = [clip_id(*row) for row in factors.itertuples(index=False)]
    audio, video = stored["audio"], stored["video"]
    info = DatasetInfo(
        name="synthetic",
        modalities=("audio", "video"),
        kinds={"audio": "waveform", "video": "frames"},
        shapes={"audio": tuple(audio.shape[1:]), "video": tuple(video.shape[1:])},
        num_classes=len(EMOTIONS),
        class_names=EMOTIONS,
        sample_rate=sample_rate,
        extra={
            "statements": STATEMENTS,
            "max_actors": MAX_ACTORS,
            "max_clips_per_actor": len(clip_factors(1)),
            "cache_path": str(path) if use_cache else None,
            "cache_hit": hit,
            "seconds": time.perf_counter() - started,
        },
    )
    return EmotionDataset(
        info,
        {"audio": audio, "video": video},
        torch.tensor(factors["emotion"].to_numpy(), dtype=torch.long),
        ids,
        meta,
        groups=factors["actor"].to_numpy(),
    )
