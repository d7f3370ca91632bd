"""Synthetic data set: factors, shapes, determinism, cache, batches and actor folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from tacfn.core.errors import ConfigError
from tacfn.data import build_dataset
from tacfn.data.base import EmotionDataset
from tacfn.data.info import DatasetInfo
from tacfn.data.synthetic import SynthConfig, generate, load_synthetic

TINY = dict(actors=2, duration=0.5, frames=4, size=16, sample_rate=8000, seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> EmotionDataset:
    cache = tmp_path_factory.mktemp("cache")
    return load_synthetic(**TINY, cache=str(cache))


def test_factor_counts_and_shapes(tiny: EmotionDataset) -> None:
    assert len(tiny) == 120
    assert tiny.meta.groupby("actor").size().tolist() == [60, 60]
    per_emotion = tiny.meta.groupby("emotion_name").size()
    assert per_emotion["neutral"] == 8 and (per_emotion.drop("neutral") == 16).all()
    assert set(tiny.meta.loc[tiny.meta.emotion == 1, "intensity"]) == {"normal"}
    assert torch.bincount(tiny.labels).tolist() == [8] + [16] * 7
    assert tiny.inputs["audio"].shape == (120, 4000) and tiny.inputs["audio"].dtype == torch.float32
    assert tiny.inputs["video"].shape == (120, 3, 4, 16, 16)
    assert tiny.inputs["video"].dtype == torch.uint8
    assert tiny.info.shapes == {"audio": (4000,), "video": (3, 4, 16, 16)}
    assert tiny.info.num_classes == 8 and tiny.info.sample_rate == 8000
    assert list(tiny.meta.gender.unique()) == ["male", "female"]
    assert tiny.ids[0] == "synthetic/a01_e01_i1_s1_r1"
    assert tiny.ids[-1] == "synthetic/a02_e08_i2_s2_r2"


def test_deterministic_and_independent_of_actor_count() -> None:
    small = SynthConfig(actors=1, duration=0.5, frames=4, size=16, sample_rate=8000, seed=3)
    larger = SynthConfig(actors=2, duration=0.5, frames=4, size=16, sample_rate=8000, seed=3)
    a, b = generate(small), generate(larger)
    assert torch.equal(a["audio"], b["audio"][:60])
    assert torch.equal(a["video"], b["video"][:60])
    other = generate(SynthConfig(**{**TINY, "actors": 1, "seed": 4}))
    assert not torch.equal(a["audio"], other["audio"])


def test_cache_hit_returns_same_tensors(tmp_path, monkeypatch, tiny: EmotionDataset) -> None:
    monkeypatch.setenv("TACFN_ROBUST_CACHE", str(tmp_path))
    first = build_dataset("synthetic", **TINY)
    second = build_dataset("synthetic", **TINY)
    assert not first.info.extra["cache_hit"] and second.info.extra["cache_hit"]
    assert str(tmp_path) in second.info.extra["cache_path"]
    assert len(list((tmp_path / "synthetic").glob("*.pt"))) == 1
    assert torch.equal(second.inputs["video"], tiny.inputs["video"])
    assert torch.equal(second.inputs["audio"], first.inputs["audio"])


def test_batch_converts_frames_and_carries_meta(tiny: EmotionDataset) -> None:
    batch = tiny.batch([5, 0, 64])
    video = batch.inputs["video"]
    assert video.dtype == torch.float32 and 0.0 <= video.min() and video.max() <= 1.0
    assert torch.equal(video[1], tiny.inputs["video"][0].float() / 255)
    assert batch.present["audio"].all() and batch.present["video"].all()
    assert batch.ids == (tiny.ids[5], tiny.ids[0], tiny.ids[64])
    assert batch.meta["actor"] == [1, 1, 2] and batch.sample_rate == 8000
    assert batch.labels.tolist() == tiny.labels[[5, 0, 64]].tolist()


def test_iter_batches_covers_each_index_once(tiny: EmotionDataset) -> None:
    indices = np.arange(10, 47)
    ids = [i for b in tiny.iter_batches(indices, 8, shuffle_seed=1) for i in b.ids]
    assert sorted(ids) == sorted(tiny.ids[i] for i in indices)
    again = [i for b in tiny.iter_batches(indices, 5, shuffle_seed=1) for i in b.ids]
    assert ids == again and ids != [tiny.ids[i] for i in indices]
    with pytest.raises(ConfigError, match="batch_size=0"):
        next(tiny.iter_batches(indices, 0))


def test_modality_mean(tiny: EmotionDataset) -> None:
    mean = tiny.modality_mean("video", [0, 1])
    expected = tiny.inputs["video"][:2].double().mean(0).div(255).float()
    assert mean.shape == (3, 4, 16, 16) and torch.allclose(mean, expected)
    with pytest.raises(ConfigError, match="expected one of: audio, video"):
        tiny.modality_mean("text", [0])


def _grouped(groups: np.ndarray) -> EmotionDataset:
    n = len(groups)
    info = DatasetInfo("g", ("x",), {"x": "features"}, {"x": (1, 1)}, 2, ("a", "b"))
    return EmotionDataset(
        info,
        {"x": torch.zeros(n, 1, 1)},
        torch.zeros(n, dtype=torch.long),
        [str(i) for i in range(n)],
        pd.DataFrame({"g": groups}),
        groups=groups,
    )


@settings(max_examples=30, deadline=None)
@given(n_groups=hs.integers(4, 24), data=hs.data())
def test_folds_partition_groups(n_groups: int, data: hs.DataObject) -> None:
    folds = data.draw(hs.integers(2, n_groups // 2))
    groups = np.repeat(np.arange(1, n_groups + 1), 3)
    splits = _grouped(groups).splits(folds)
    assert len(splits) == folds
    tested = np.concatenate([groups[s.test] for s in splits])
    assert sorted(tested) == sorted(groups)  # every group is tested exactly once
    for s in splits:
        parts = [set(groups[s.train]), set(groups[s.val]), set(groups[s.test])]
        assert all(parts) and not (
            parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]
        )
        assert len(s.train) + len(s.val) + len(s.test) == len(groups)


def test_ravdess_style_folds() -> None:
    splits = _grouped(np.repeat(np.arange(1, 25), 60)).splits(None)
    assert len(splits) == 6
    assert [len(s.test) for s in splits] == [240] * 6
    assert [len(s.val) for s in splits] == [120] * 6
    with pytest.raises(ConfigError, match="folds=13; expected 2..12"):
        _grouped(np.arange(24)).splits(13)


def test_registry_errors() -> None:
    with pytest.raises(ConfigError, match="expected one of: mult_pickle, npz, ravdess, synthetic"):
        build_dataset("iemocap")
    with pytest.raises(ConfigError, match="unknown parameter 'actor'.*actors"):
        build_dataset("synthetic", actor=3)
    with pytest.raises(ConfigError, match="actors=25; expected 1..24"):
        build_dataset("synthetic", actors=25)
    with pytest.raises(ConfigError, match="parameter frames='x'"):
        build_dataset("synthetic", frames="x")
