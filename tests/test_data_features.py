"""Feature data sets: MulT pickles and bring-your-own .npz."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tacfn.core.errors import ConfigError, DataError
from tacfn.data import build_dataset

SIZES = {"train": 6, "valid": 3, "test": 4}


def _mult(path: Path, labels: dict[str, np.ndarray], with_ids: bool = False) -> Path:
    rng = np.random.default_rng(0)
    data = {}
    for part, n in SIZES.items():
        audio = rng.normal(size=(n, 5, 4)).astype(np.float32)
        audio[0, 0, 0] = -np.inf
        audio[-1, 1, 2] = np.nan
        data[part] = {
            "text": rng.normal(size=(n, 5, 7)).astype(np.float32),
            "audio": audio,
            "vision": rng.normal(size=(n, 5, 3)).astype(np.float32),
            "labels": labels[part],
        }
        if with_ids:
            data[part]["id"] = np.array([[f"Ses01_{part}_{i}".encode()] for i in range(n)])
    path.write_bytes(pickle.dumps(data))
    return path


def _iemocap_labels() -> dict[str, np.ndarray]:
    out = {}
    for part, n in SIZES.items():
        hot = np.zeros((n, 4, 2))
        hot[:, :, 0] = 1
        hot[np.arange(n), np.arange(n) % 4] = [0, 1]  # sample i shows emotion i % 4
        out[part] = hot
    return out


def test_iemocap_pickle(tmp_path: Path) -> None:
    data = build_dataset(
        "mult_pickle",
        path=str(_mult(tmp_path / "iemocap.pkl", _iemocap_labels(), True)),
        trust_pickle=True,
    )
    assert data.info.task == "multilabel" and data.info.num_classes == 4
    assert data.info.class_names == ("Neutral", "Happy", "Sad", "Angry")
    assert data.info.kinds == {"text": "features", "audio": "features", "vision": "features"}
    assert data.info.shapes == {"text": (5, 7), "audio": (5, 4), "vision": (5, 3)}
    assert data.labels.shape == (13, 4)
    assert data.labels[:6].argmax(1).tolist() == [0, 1, 2, 3, 0, 1]
    assert data.labels.sum(1).tolist() == [1] * 13
    assert torch.isfinite(data.inputs["audio"]).all()
    assert data.inputs["audio"][0, 0, 0] == 0 and data.inputs["audio"][5, 1, 2] == 0
    (split,) = data.splits(None)
    assert [len(split.train), len(split.val), len(split.test)] == [6, 3, 4]
    assert data.ids[0] == "iemocap/train/00000_Ses01_train_0"
    batch = data.batch(split.test)
    assert batch.inputs["text"].shape == (4, 5, 7) and batch.meta["part"] == ["test"] * 4
    with pytest.raises(ConfigError, match="fixed train/valid/test parts; folds=3"):
        data.splits(3)


def test_mosi_labels(tmp_path: Path) -> None:
    scores = {
        p: np.array([-2.6, -0.4, 0.0, 0.4, 1.5, 3.4][:n])[:, None, None] for p, n in SIZES.items()
    }
    scores["train"] = np.array([-2.6, -0.4, 0.0, 0.4, 1.5, 3.4])[:, None, None]
    path = _mult(tmp_path / "mosi.pkl", scores)
    binary = build_dataset("mult_pickle", path=str(path), trust_pickle=True)
    assert binary.info.class_names == ("negative", "positive")
    assert len(binary) == 13 - 3  # the zero score of each part is dropped
    assert binary.labels[:5].tolist() == [0, 0, 1, 1, 1]
    with_zero = build_dataset("mult_pickle", path=str(path), trust_pickle=True, keep_zero=True)
    assert len(with_zero) == 13 and with_zero.labels[:6].tolist() == [0, 0, 1, 1, 1, 1]
    seven = build_dataset("mult_pickle", path=str(path), trust_pickle=True, label_mode="7class")
    assert seven.info.num_classes == 7 and seven.labels[:6].tolist() == [0, 3, 3, 3, 5, 6]
    with pytest.raises(ConfigError, match="label_mode='5class'; expected one of: binary, 7class"):
        build_dataset("mult_pickle", path=str(path), trust_pickle=True, label_mode="5class")


def test_mult_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.pkl: no such pickle file"):
        build_dataset("mult_pickle", path=str(tmp_path / "nope.pkl"), trust_pickle=True)
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DataError, match="expected a dict with keys train, valid, test"):
        build_dataset("mult_pickle", path=str(tmp_path / "list.pkl"), trust_pickle=True)
    labels = _iemocap_labels()
    path = _mult(tmp_path / "nan.pkl", labels)
    data = pickle.loads(path.read_bytes())
    data["valid"]["vision"][1, 2, 0] = np.inf
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(DataError, match=r"nan.pkl: valid/vision: 1 NaN/Inf values"):
        build_dataset("mult_pickle", path=str(path), trust_pickle=True)


def _npz_part(path: Path, n: int, offset: int = 0, **extra: np.ndarray) -> None:
    rng = np.random.default_rng(n)
    np.savez(
        path,
        video=rng.integers(0, 256, size=(n, 3, 2, 8, 8), dtype=np.uint8),
        audio=rng.normal(size=(n, 100)).astype(np.float32),
        pose=rng.normal(size=(n, 6)).astype(np.float32),
        labels=(np.arange(n) + offset) % 3,
        class_names=np.array(["x", "y", "z"]),
        sample_rate=np.array(1000),
        **extra,
    )


def test_npz_per_part(tmp_path: Path) -> None:
    for part, n in SIZES.items():
        _npz_part(tmp_path / f"{part}.npz", n)
    data = build_dataset("npz", path=str(tmp_path), name="mine")
    assert data.info.kinds == {"video": "frames", "audio": "waveform", "pose": "features"}
    assert data.info.shapes == {"video": (3, 2, 8, 8), "audio": (100,), "pose": (1, 6)}
    assert data.info.class_names == ("x", "y", "z") and data.info.sample_rate == 1000
    assert len(data) == 13 and data.ids[6] == "mine/valid/00000"
    (split,) = data.splits(None)
    assert split.val.tolist() == [6, 7, 8] and split.test.tolist() == [9, 10, 11, 12]
    assert data.batch([0]).inputs["video"].max() <= 1.0


def test_npz_single_file_with_groups(tmp_path: Path) -> None:
    groups = np.repeat(np.arange(6), 2)
    ids = np.array([f"clip{i}" for i in range(12)])
    _npz_part(tmp_path / "all.npz", 12, groups=groups, ids=ids)
    data = build_dataset("npz", path=str(tmp_path / "all.npz"))
    splits = data.splits(3)
    assert [sorted(set(groups[s.test])) for s in splits] == [[0, 1], [2, 3], [4, 5]]
    assert data.ids[3] == "clip3" and data.meta.group.tolist() == groups.tolist()


def test_npz_errors(tmp_path: Path) -> None:
    _npz_part(tmp_path / "nogroups.npz", 4)
    with pytest.raises(DataError, match="nogroups.npz: a single .npz needs a 'groups' array"):
        build_dataset("npz", path=str(tmp_path / "nogroups.npz"))
    bad = np.ones((4, 3, 2), np.float32)
    bad[2, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", feats=bad, labels=np.arange(4) % 2, groups=np.arange(4))
    with pytest.raises(DataError, match=r"nan.npz: array 'feats': 1 NaN/Inf values"):
        build_dataset("npz", path=str(tmp_path / "nan.npz"))
    (tmp_path / "parts").mkdir()
    _npz_part(tmp_path / "parts" / "train.npz", 3)
    with pytest.raises(DataError, match="valid.npz: missing; expected train, valid, test.npz"):
        build_dataset("npz", path=str(tmp_path / "parts"))
