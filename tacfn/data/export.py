"""Write a data set's clips in RAVDESS's layout: Actor_XX/01-01-EE-II-SS-RR-AA.mp4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import IO

import av
import numpy as np

from tacfn.core.errors import ConfigError
from tacfn.core.io import atomic_write
from tacfn.data.base import EmotionDataset
from tacfn.data.names import INTENSITIES, ClipName

REQUIRED_META = ("actor", "emotion", "intensity", "statement", "repetition")


def write_mp4(path: Path, video: np.ndarray, audio: np.ndarray, sample_rate: int) -> None:
    """One clip as h264 video (yuv420p) + AAC mono audio; video uint8 (3, T, H, W)."""
    frames = video.shape[1]
    duration = len(audio) / sample_rate
    fps = Fraction(frames, 1) / Fraction(duration).limit_denominator(1000)
    atomic_write(path, lambda f: _mux(f, video, audio, sample_rate, fps))


def _mux(
    file: IO[bytes], video: np.ndarray, audio: np.ndarray, sample_rate: int, fps: Fraction
) -> None:
    frames = video.shape[1]
    with av.open(file, "w", format="mp4") as container:
        vs = container.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "fast"})
        vs.width, vs.height, vs.pix_fmt = video.shape[3], video.shape[2], "yuv420p"
        aus = container.add_stream("aac", rate=sample_rate, layout="mono")
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(video[:, t].transpose(1, 2, 0)))
            container.mux(vs.encode(frame))
        container.mux(vs.encode())
        step = aus.codec_context.frame_size or 1024
        for start in range(0, len(audio), step):
            chunk = audio[None, start : start + step].astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, start
            container.mux(aus.encode(frame))
        container.mux(aus.encode())


def export_ravdess(dataset: EmotionDataset, out: str | Path) -> list[Path]:
    """Export an audio+video data set with RAVDESS factors; returns the written files."""
    missing = [c for c in REQUIRED_META if c not in dataset.meta.columns]
    if missing or set(dataset.info.modalities) != {"audio", "video"}:
        raise ConfigError(
            f"data set {dataset.info.name!r} cannot be exported as RAVDESS; expected audio, "
            f"video and meta columns {', '.join(REQUIRED_META)}"
        )
    root = Path(out)
    written = []
    rate = int(dataset.info.sample_rate or 16000)
    for i, row in enumerate(dataset.meta.itertuples(index=False)):
        name = ClipName(
            modality=1,
            channel=1,
            emotion=int(row.emotion),
            intensity=INTENSITIES.index(row.intensity) + 1,
            statement=int(row.statement),
            repetition=int(row.repetition),
            actor=int(row.actor),
        )
        path = root / f"Actor_{name.actor:02d}" / f"{name.stem()}.mp4"
        write_mp4(
            path,
            dataset.inputs["video"][i].numpy(),
            dataset.inputs["audio"][i].numpy(),
            rate,
        )
        written.append(path)
    return written
