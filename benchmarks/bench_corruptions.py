"""Batched corruptions vs the per-sample library path doing the same job (ratio > 1: batched wins).

The baseline is what a deterministic library path costs on a tensor batch: per sample, move to
numpy, seed (audiomentations: the global RNGs, saved and restored; albumentations: Compose's
seed), transform, move back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.harness import Row, compare
from tacfn.core.batch import Batch
from tacfn_robust import corruptions as C
from tacfn_robust.corruptions.seeding import seeded_global_rng

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import audiomentations as AM  # noqa: E402

RATE = 16000


def audio_batch(n: int, length: int) -> Batch:
    t = torch.arange(length) / RATE
    f0 = torch.linspace(110, 260, n)[:, None]
    audio = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 6)) * 0.2
    return Batch(
        inputs={"audio": audio.float()},
        present={"audio": torch.ones(n, dtype=torch.bool)},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"a{i}" for i in range(n)),
        sample_rate=RATE,
    )


def video_batch(n: int, frames: int, size: int) -> Batch:
    video = torch.rand(n, 3, frames, size, size, generator=torch.Generator().manual_seed(0))
    return Batch(
        inputs={"video": video},
        present={"video": torch.ones(n, dtype=torch.bool)},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"v{i}" for i in range(n)),
    )


def per_sample_audio(transform: Callable, batch: Batch, seeds: list[int]) -> Callable[[], object]:
    def run() -> torch.Tensor:
        rows = []
        for clip, seed in zip(batch.inputs["audio"].numpy(), seeds, strict=True):
            with seeded_global_rng(seed):
                rows.append(torch.from_numpy(transform(samples=clip, sample_rate=RATE)))
        return torch.stack(rows)

    return run


def per_sample_video(transform: object, batch: Batch, seeds: list[int]) -> Callable[[], object]:
    def run() -> torch.Tensor:
        clips = batch.inputs["video"].permute(0, 2, 3, 4, 1).numpy()
        rows = []
        for clip, seed in zip(clips, seeds, strict=True):
            out = A.Compose([transform], seed=seed % 2**32)(images=np.ascontiguousarray(clip))
            rows.append(torch.from_numpy(out["images"]))
        return torch.stack(rows).permute(0, 4, 1, 2, 3)

    return run


def batched(corruption: C.Corruption, batch: Batch) -> Callable[[], object]:
    seeds = C.test_seeds(0, repr(corruption), batch.ids)
    return lambda: corruption.apply(batch, seeds)


def run(quick: bool) -> list[Row]:
    """Rows per family: audio noise / low-pass / clipping, video noise / blur / occlusion /
    brightness."""
    repeats = 3 if quick else 7
    audio = audio_batch(8 if quick else 32, RATE if quick else 3 * RATE)
    video = video_batch(4 if quick else 16, 8 if quick else 16, 64 if quick else 112)
    seeds = list(range(len(audio)))
    vseeds = list(range(len(video)))
    blur = C.build("gaussian_blur", "video", level=3)
    sigma = blur.value * video.inputs["video"].shape[-1] / 224
    kernel = 2 * int(np.ceil(3 * sigma)) + 1
    cases = [
        (
            "audio/gaussian_snr",
            ("audiomentations AddGaussianSNR", AM.AddGaussianSNR(10.0, 10.0, p=1.0), "audio"),
            C.build("gaussian_snr", "audio", snr_db=10),
        ),
        (
            "audio/lowpass",
            ("audiomentations LowPassFilter", AM.LowPassFilter(2833, 2833, p=1.0), "audio"),
            C.build("lowpass", "audio", cutoff_hz=2833),
        ),
        (
            "audio/clipping",
            ("audiomentations ClippingDistortion", AM.ClippingDistortion(20, 20, p=1.0), "audio"),
            C.build("clipping", "audio", fraction=0.6),
        ),
        (
            "video/gaussian_noise",
            ("albumentations GaussNoise", A.GaussNoise(std_range=(0.18, 0.18), p=1.0), "video"),
            C.build("gaussian_noise", "video", std=0.18),
        ),
        (
            "video/gaussian_blur",
            (
                "albumentations GaussianBlur",
                A.GaussianBlur(blur_limit=(kernel, kernel), sigma_limit=(sigma, sigma), p=1.0),
                "video",
            ),
            blur,
        ),
        (
            "video/occlusion",
            (
                "albumentations CoarseDropout",
                A.CoarseDropout(
                    num_holes_range=(1, 1),
                    hole_height_range=(0.55, 0.55),
                    hole_width_range=(0.55, 0.55),
                    p=1.0,
                ),
                "video",
            ),
            C.build("occlusion", "video", fraction=0.3),
        ),
        (
            "video/brightness",
            (
                "albumentations RandomBrightnessContrast",
                A.RandomBrightnessContrast(
                    brightness_limit=(0.3, 0.3), contrast_limit=(0.0, 0.0), p=1.0
                ),
                "video",
            ),
            C.build("brightness", "video", delta=0.3),
        ),
    ]
    rows = []
    for name, (base_name, transform, kind), corruption in cases:
        if kind == "audio":
            baseline, data = per_sample_audio(transform, audio, seeds), audio
        else:
            baseline, data = per_sample_video(transform, video, vseeds), video
        shape = "x".join(str(d) for d in data.inputs[kind].shape)
        rows.append(
            compare(
                name,
                (f"{base_name} per sample", baseline),
                (f"corruptions {corruption.name} batched", batched(corruption, data)),
                repeats=repeats,
                note=f"batch {shape}, CPU threads {torch.get_num_threads()}",
            )
        )
    return rows


def main(argv: list[str]) -> None:
    for row in run(quick="--quick" in argv):
        print(
            f"{row.name:22s} {row.baseline_s * 1e3:9.2f} ms -> {row.candidate_s * 1e3:8.2f} ms  "
            f"x{row.ratio:6.1f}  ({row.note})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
