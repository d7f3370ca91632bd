"""RAVDESS loader on real containers exported from the synthetic set; names; bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given
from hypothesis import strategies as hs

from tacfn.core.errors import ConfigError, DataError
from tacfn.data import build_dataset
from tacfn.data.base import EmotionDataset
from tacfn.data.export import export_ravdess
from tacfn.data.names import ClipName, parse_name
from tacfn.data.ravdess import LANDMARK_X, LANDMARK_Y, sample_indices
from tacfn.data.synthetic import load_synthetic

SETTINGS = dict(frames=8, size=32, sample_rate=8000, offset=0.0, duration=0.5)


@pytest.fixture(scope="module")
def source() -> EmotionDataset:
    return load_synthetic(
        actors=2, duration=0.5, frames=8, size=32, sample_rate=8000, seed=1, use_cache=False
    )


@pytest.fixture(scope="module")
def exported(source: EmotionDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ravdess")
    files = export_ravdess(source, root)
    assert len(files) == 120 and files[0].relative_to(root).as_posix() == (
        "Actor_01/01-01-01-01-01-01-01.mp4"
    )
    return root


def test_export_reads_back(source: EmotionDataset, exported: Path, tmp_path: Path) -> None:
    data = build_dataset("ravdess", path=str(exported), cache=str(tmp_path), **SETTINGS)
    assert len(data) == 120 and data.skipped == []
    assert data.labels.tolist() == source.labels.tolist()
    assert data.meta.actor.tolist() == source.meta.actor.tolist()
    for column in ("emotion", "intensity", "statement", "repetition", "gender"):
        assert data.meta[column].tolist() == source.meta[column].tolist()
    assert data.ids[0] == "ravdess/01-01-01-01-01-01-01"
    assert data.info.shapes == {"audio": (4000,), "video": (3, 8, 32, 32)}
    video_error = (data.inputs["video"].float() - source.inputs["video"].float()).abs().mean()
    assert video_error < 12  # h264 + 4:2:0 chroma on 32x32 frames, out of 255
    a, b = data.inputs["audio"], source.inputs["audio"]
    correlation = (a * b).sum() / (a.norm() * b.norm())
    assert correlation > 0.95  # AAC round trip, same alignment
    cached = build_dataset("ravdess", path=str(exported), cache=str(tmp_path), **SETTINGS)
    assert torch.equal(cached.inputs["video"], data.inputs["video"])
    assert len(list((tmp_path / "ravdess").glob("*.pt"))) == 120
    with pytest.raises(ConfigError, match="folds=2; expected 2..1 for 2 groups"):
        data.splits(None)  # a fold needs test, validation and training actors


def _subset(exported: Path, root: Path, count: int) -> Path:
    """A copy of the first `count` clips of each actor (fewer files to decode)."""
    for actor in sorted(exported.glob("Actor_*")):
        (root / actor.name).mkdir(parents=True)
        for clip in sorted(actor.glob("*.mp4"))[:count]:
            shutil.copy(clip, root / actor.name / clip.name)
    return root


def test_resampling_offset_and_padding(exported: Path, tmp_path: Path) -> None:
    data = build_dataset(
        "ravdess",
        path=str(_subset(exported, tmp_path / "r", 3)),
        frames=3,
        size=16,
        sample_rate=16000,
        offset=0.25,
        duration=1.0,
        use_cache=False,
    )
    audio = data.inputs["audio"]
    assert audio.shape == (6, 16000)
    # 0.25 s of the 0.5 s clip (plus the AAC encoder's last partial frame) follow the offset
    assert audio[:, 4500:].abs().max() == 0
    assert audio[:, :4000].abs().amax(1).min() > 0


def test_landmark_crop(exported: Path, tmp_path: Path) -> None:
    root = _subset(exported, tmp_path / "r", 2)
    marks = tmp_path / "landmarks" / "Actor_01"
    marks.mkdir(parents=True)
    row = np.zeros(LANDMARK_Y.stop + 3)
    # a box x 320..960, y 0..360 of a 1280x720 frame = the top-left-centre of a 32x32 clip
    row[LANDMARK_X] = np.linspace(320, 960, 68)
    row[LANDMARK_Y] = np.linspace(0, 360, 68)
    header = ",".join(f"c{i}" for i in range(len(row)))
    np.savetxt(
        marks / "01-01-01-01-01-01-01.csv",
        np.stack([row] * 5),
        delimiter=",",
        header=header,
        comments="",
    )
    data = build_dataset(
        "ravdess",
        path=str(root),
        landmarks=str(tmp_path / "landmarks"),
        use_cache=False,
        **SETTINGS,
    )
    assert data.meta.crop.tolist() == ["landmarks"] + ["centre"] * 3
    plain = build_dataset("ravdess", path=str(root), use_cache=False, **SETTINGS)
    # the crop box is x 8..24, y 0..16 of the 32x32 frame, upsampled twice
    top = torch.nn.functional.avg_pool2d(data.inputs["video"][0].float(), 2)
    expected = plain.inputs["video"][0, :, :, 0:16, 8:24].float()
    assert (top - expected).abs().mean() < 6


def test_truncated_mp4_raises_or_skips(exported: Path, tmp_path: Path) -> None:
    root = tmp_path / "bad"
    _subset(exported, root, 60)
    shutil.rmtree(root / "Actor_01")
    for extra in sorted((root / "Actor_02").glob("*.mp4"))[4:]:
        if extra.name != "01-01-03-02-01-02-02.mp4":
            extra.unlink()
    victim = root / "Actor_02" / "01-01-03-02-01-02-02.mp4"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    with pytest.raises(DataError, match="01-01-03-02-01-02-02.mp4"):
        build_dataset("ravdess", path=str(root), use_cache=False, **SETTINGS)
    data = build_dataset("ravdess", path=str(root), use_cache=False, on_error="skip", **SETTINGS)
    assert len(data) == 4 and len(data.skipped) == 1
    assert "01-01-03-02-01-02-02.mp4" in data.skipped[0]
    assert "ravdess/01-01-03-02-01-02-02" not in data.ids


def test_wav_with_nan_names_the_file(exported: Path, tmp_path: Path) -> None:
    root = tmp_path / "wav"
    _subset(exported, root, 3)
    for mp4 in sorted(root.glob("Actor_*/*.mp4")):
        wav = mp4.with_name(parse_name(mp4).with_modality(3).stem() + ".wav")
        soundfile.write(wav, np.full(4000, 0.1, np.float32), 8000, subtype="FLOAT")
    data = build_dataset("ravdess", path=str(root), audio="wav", use_cache=False, **SETTINGS)
    assert torch.allclose(data.inputs["audio"], torch.full((6, 4000), 0.1))
    bad = root / "Actor_01" / "03-01-01-01-01-02-01.wav"
    noisy = np.full(4000, 0.1, np.float32)
    noisy[100] = np.nan
    soundfile.write(bad, noisy, 8000, subtype="FLOAT")
    with pytest.raises(DataError, match=r"03-01-01-01-01-02-01\.wav: 1 NaN/Inf values"):
        build_dataset("ravdess", path=str(root), audio="wav", use_cache=False, **SETTINGS)


def test_missing_root_and_empty_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        build_dataset("ravdess", path=str(tmp_path / "nope"))
    with pytest.raises(DataError, match="no Actor_XX/01-01"):
        build_dataset("ravdess", path=str(tmp_path))


@given(
    fields=hs.tuples(
        hs.integers(1, 3),
        hs.integers(1, 2),
        hs.integers(1, 8),
        hs.integers(1, 2),
        hs.integers(1, 2),
        hs.integers(1, 2),
        hs.integers(1, 24),
    ),
    ext=hs.sampled_from([".mp4", ".wav", ".MP4", ".csv"]),
)
def test_filename_round_trip(fields: tuple[int, ...], ext: str) -> None:
    name = ClipName(*fields)
    parsed = parse_name(f"/data/Actor_{fields[6]:02d}/{name.stem()}{ext}")
    assert parsed == name and parsed.fields() == fields and parsed.label == fields[2] - 1


def test_actor_24_is_not_mangled_by_extension() -> None:
    assert parse_name("01-01-03-01-01-01-24.mp4").actor == 24  # str.strip(".mp4") gives 2


@given(
    bad=hs.sampled_from(
        ["01-01-03-01-01-24.mp4", "01-01-09-01-01-01-24.mp4", "x.mp4", "01-01-03-01-01-01-2a.mp4"]
    )
)
def test_bad_names_raise(bad: str) -> None:
    with pytest.raises(DataError, match=bad.split(".")[0]):
        parse_name(bad)


def test_sample_indices_uniform() -> None:
    assert sample_indices(100, 4).tolist() == [0, 25, 50, 75]
    assert sample_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
