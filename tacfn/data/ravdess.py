"""RAVDESS audio-visual speech clips: ROOT/Actor_XX/01-01-EE-II-SS-RR-AA.mp4.

Only modality 01 (audio+video) speech files are kept. Frames are sampled uniformly over the
clip, cropped to the face (tight box of the 68 landmarks of a FacialTracking CSV when one is
found in `landmarks`, as LANDMARKS/<stem>.csv or LANDMARKS/Actor_XX/<stem>.csv; a centre
square otherwise), resized to `size` and kept as RGB uint8. Audio is decoded with PyAV (or
read from the matching 03-01-...wav with audio="wav"), mixed to mono, resampled to
`sample_rate`, cut at `offset` for `duration` seconds and zero-padded to the exact length.
Decoded clips are cached, keyed by file content hashes and every setting.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import soundfile
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from tacfn.core.errors import ConfigError, DataError
from tacfn.core.io import file_digest
from tacfn.data.base import EmotionDataset, check_finite
from tacfn.data.cache import atomic_save, cache_dir, load_cached, params_key
from tacfn.data.info import DatasetDescription, DatasetInfo, described_by
from tacfn.data.names import (
    CHANNEL_SPEECH,
    EMOTIONS,
    INTENSITIES,
    MODALITY_AUDIO_ONLY,
    MODALITY_AUDIO_VIDEO,
    ClipName,
    parse_name,
)

DECODER_VERSION = 1
LANDMARK_X = slice(297, 365)  # 68 x coordinates (0-based CSV columns), native pixels
LANDMARK_Y = slice(365, 433)  # 68 y coordinates
LANDMARK_FRAME = (1280, 720)  # frame size the FacialTracking coordinates refer to
ON_ERROR = ("raise", "skip")
AUDIO_SOURCES = ("mp4", "wav")


def sample_indices(count: int, frames: int) -> np.ndarray:
    """Uniform temporal sampling: frame floor(j * count / frames) for j = 0..frames-1."""
    return (np.arange(frames) * count) // frames


def _landmark_boxes(csv: Path, frames: int, width: int, height: int) -> np.ndarray:
    """(frames, 4) integer boxes x0, y0, x1, y1 in the decoded frame's pixels."""
    try:
        table = pd.read_csv(csv, header=None, skiprows=1).to_numpy(dtype=np.float64)
    except Exception as exc:
        raise DataError(f"{csv}: cannot read landmark CSV ({type(exc).__name__}: {exc})") from None
    if table.ndim != 2 or table.shape[1] < LANDMARK_Y.stop or len(table) == 0:
        raise DataError(f"{csv}: expected rows with at least {LANDMARK_Y.stop} columns")
    rows = np.minimum(len(table) - 1, np.ceil(np.arange(frames) * len(table) / frames))
    pick = table[rows.astype(int)]
    xs = pick[:, LANDMARK_X] * width / LANDMARK_FRAME[0]
    ys = pick[:, LANDMARK_Y] * height / LANDMARK_FRAME[1]
    check_finite(xs, str(csv))
    check_finite(ys, str(csv))
    x0 = np.clip(np.floor(xs.min(1)), 0, width - 1)
    y0 = np.clip(np.floor(ys.min(1)), 0, height - 1)
    x1 = np.clip(np.ceil(xs.max(1)), x0 + 1, width)
    y1 = np.clip(np.ceil(ys.max(1)), y0 + 1, height)
    return np.stack([x0, y0, x1, y1], 1).astype(int)


def _centre_box(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


def decode_video(file: Path, frames: int, size: int, landmarks: Path | None) -> torch.Tensor:
    """Sampled, cropped, resized frames as uint8 (3, frames, size, size)."""
    with av.open(str(file)) as container:
        stream = container.streams.video[0]
        count = stream.frames or sum(1 for _ in container.decode(stream))
    wanted = sample_indices(count, frames)
    picked: dict[int, np.ndarray] = {}
    with av.open(str(file)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                picked[i] = frame.to_ndarray(format="rgb24")
            if i >= wanted[-1]:
                break
    if len(picked) < len(set(wanted.tolist())):
        raise DataError(f"{file}: decoded {len(picked)} of the expected frames; truncated?")
    height, width = picked[wanted[0]].shape[:2]
    boxes = (
        _landmark_boxes(landmarks, frames, width, height)
        if landmarks is not None
        else np.array([_centre_box(width, height)] * frames)
    )
    out = torch.empty(3, frames, size, size, dtype=torch.uint8)
    for j, (index, (x0, y0, x1, y1)) in enumerate(zip(wanted, boxes, strict=True)):
        crop = torch.from_numpy(picked[index][y0:y1, x0:x1]).permute(2, 0, 1)[None].float()
        resized = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True)
        out[:, j] = resized[0].round().clamp(0, 255).to(torch.uint8)
    return out


def _decode_mp4_audio(file: Path) -> tuple[np.ndarray, int]:
    resampler = av.AudioResampler(format="flt", layout="mono")
    chunks: list[np.ndarray] = []
    with av.open(str(file)) as container:
        if not container.streams.audio:
            raise DataError(f"{file}: no audio stream")
        rate = container.streams.audio[0].rate
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32), rate


def _read_wav(file: Path) -> tuple[np.ndarray, int]:
    try:
        data, rate = soundfile.read(str(file), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"{file}: cannot read audio ({type(exc).__name__}: {exc})") from None
    return data.mean(1), rate


def load_audio(file: Path, sample_rate: int, offset: float, duration: float) -> torch.Tensor:
    """Mono float32 waveform of exactly round(duration * sample_rate) samples."""
    wave, rate = _read_wav(file) if file.suffix.lower() == ".wav" else _decode_mp4_audio(file)
    check_finite(wave, str(file))
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    if rate != sample_rate:
        x = AF.resample(x, rate, sample_rate)
    start, length = int(round(offset * sample_rate)), int(round(duration * sample_rate))
    x = x[start : start + length]
    return F.pad(x, (0, length - x.shape[0]))


def _landmark_csv(landmarks: Path | None, name: ClipName) -> Path | None:
    if landmarks is None:
        return None
    for candidate in (
        landmarks / f"{name.stem()}.csv",
        landmarks / f"Actor_{name.actor:02d}" / f"{name.stem()}.csv",
    ):
        if candidate.is_file():
            return candidate
    return None


def _decode_clip(
    file: Path, name: ClipName, settings: dict[str, object], landmarks: Path | None
) -> tuple[dict[str, torch.Tensor], str]:
    """(tensors, crop kind) for one clip, from the cache when its key matches."""
    csv = _landmark_csv(landmarks, name)
    audio_file = file
    if settings["audio"] == "wav":
        audio_file = file.with_name(f"{name.with_modality(MODALITY_AUDIO_ONLY).stem()}.wav")
        if not audio_file.is_file():
            raise DataError(f"{audio_file}: missing; audio='wav' expects it beside {file.name}")
    digests = [file_digest(p) for p in {file, audio_file} | ({csv} if csv else set())]
    params = {**settings, "files": sorted(digests), "version": DECODER_VERSION}
    path = Path(str(settings["cache_root"])) / "ravdess" / f"{params_key(params)}.pt"
    stored = load_cached(path, params) if settings["use_cache"] else None
    if stored is None:
        try:
            stored = {
                "video": decode_video(file, settings["frames"], settings["size"], csv),
                "audio": load_audio(
                    audio_file, settings["sample_rate"], settings["offset"], settings["duration"]
                ),
            }
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{file}: cannot decode ({type(exc).__name__}: {exc})") from None
        if settings["use_cache"]:
            atomic_save(stored, path, params)
    return stored, "landmarks" if csv else "centre"


def describe_ravdess(**_: object) -> DatasetDescription:
    """RAVDESS holds audio and video, one emotion per clip; its actors are known once the
    folder is read."""
    return DatasetDescription("ravdess", ("audio", "video"), task="multiclass")


@described_by(describe_ravdess)
def load_ravdess(
    path: str,
    frames: int = 30,
    size: int = 224,
    sample_rate: int = 44100,
    offset: float = 0.5,
    duration: float = 2.45,
    landmarks: str | None = None,
    audio: str = "mp4",
    on_error: str = "raise",
    cache: str | None = None,
    use_cache: bool = True,
) -> EmotionDataset:
    """Load RAVDESS speech clips from `path` (folders Actor_XX); folds of 4 actors."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected the RAVDESS root with Actor_XX folders")
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error={on_error!r}; expected one of: {', '.join(ON_ERROR)}")
    if audio not in AUDIO_SOURCES:
        raise ConfigError(f"audio={audio!r}; expected one of: {', '.join(AUDIO_SOURCES)}")
    if frames < 1 or size < 8 or sample_rate < 1000 or duration <= 0 or offset < 0:
        raise ConfigError(
            f"ravdess: frames={frames}, size={size}, sample_rate={sample_rate}, offset={offset}, "
            f"duration={duration}; expected frames >= 1, size >= 8, sample_rate >= 1000, "
            "offset >= 0, duration > 0"
        )
    marks = Path(landmarks) if landmarks else None
    if marks is not None and not marks.is_dir():
        raise DataError(f"{marks}: no such landmarks folder")
    clips, skipped = [], []
    for file in sorted(root.glob("Actor_*/*.mp4")):
        try:
            name = parse_name(file)
        except DataError as exc:
            if on_error == "raise":
                raise
            skipped.append(str(exc))
            continue
        if name.modality == MODALITY_AUDIO_VIDEO and name.channel == CHANNEL_SPEECH:
            clips.append((file, name))
    if not clips:
        raise DataError(f"{root}: no Actor_XX/01-01-*.mp4 speech clips found")
    settings: dict[str, object] = {
        "frames": frames,
        "size": size,
        "sample_rate": sample_rate,
        "offset": offset,
        "duration": duration,
        "audio": audio,
        "cache_root": str(cache_dir(cache)),
        "use_cache": use_cache,
    }
    videos, audios, rows = [], [], []
    for file, name in clips:
        try:
            tensors, crop = _decode_clip(file, name, settings, marks)
        except DataError as exc:
            if on_error == "raise":
                raise
            skipped.append(str(exc))
            continue
        videos.append(tensors["video"])
        audios.append(tensors["audio"])
        rows.append(
            {
                "actor": name.actor,
                "gender": "male" if name.actor % 2 == 1 else "female",
                "emotion": name.emotion,
                "emotion_name": EMOTIONS[name.label],
                "intensity": INTENSITIES[name.intensity - 1],
                "statement": name.statement,
                "repetition": name.repetition,
                "crop": crop,
                "path": str(file.relative_to(root)),
            }
        )
    if not rows:
        raise DataError(f"{root}: every clip failed to decode; first: {skipped[0]}")
    meta = pd.DataFrame(rows)
    inputs = {"audio": torch.stack(audios), "video": torch.stack(videos)}
    info = DatasetInfo(
        name="ravdess",
        modalities=("audio", "video"),
        kinds={"audio": "waveform", "video": "frames"},
        shapes={m: tuple(x.shape[1:]) for m, x in inputs.items()},
        num_classes=len(EMOTIONS),
        class_names=EMOTIONS,
        sample_rate=sample_rate,
        extra={"path": str(root), "landmarks": str(marks) if marks else None},
    )
    ids = [f"ravdess/{Path(p).stem}" for p in meta["path"]]
    labels = torch.tensor(meta["emotion"].to_numpy() - 1, dtype=torch.long)
    return EmotionDataset(
        info, inputs, labels, ids, meta, groups=meta["actor"].to_numpy(), skipped=skipped
    )
