"""MulT-style aligned feature pickles (IEMOCAP, CMU-MOSI, CMU-MOSEI).

The pickle is a dict {"train", "valid", "test"} of dicts with "text" (N, T, 300),
"audio" (N, T, 74), "vision" (N, T, 35), "labels" and optionally "id". IEMOCAP labels
(N, 4, 2) become four binary labels (Neutral, Happy, Sad, Angry), task "multilabel";
MOSI/MOSEI sentiment scores become "binary" (score > 0 vs < 0; zeros dropped unless
keep_zero) or "7class" (rounded and clipped to [-3, 3]). -inf and NaN in audio become 0.

Warning: unpickling executes code stored in the file. Only load a path you named yourself
and trust; this loader never looks for pickles on its own.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tacfn.core.errors import ConfigError, DataError
from tacfn.data.base import EmotionDataset, check_finite
from tacfn.data.info import DatasetDescription, DatasetInfo, Split, described_by

PARTS = ("train", "valid", "test")
MODALITIES = ("text", "audio", "vision")
IEMOCAP_EMOTIONS = ("Neutral", "Happy", "Sad", "Angry")
SENTIMENT_7 = ("-3", "-2", "-1", "0", "1", "2", "3")
LABEL_MODES = ("binary", "7class")


def _read(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: no such pickle file")
    try:
        with open(path, "rb") as f:
            try:
                data = pickle.load(f)
            except UnicodeDecodeError:
                f.seek(0)
                data = pickle.load(f, encoding="latin1")
    except Exception as exc:
        raise DataError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or any(p not in data for p in PARTS):
        raise DataError(f"{path}: expected a dict with keys {', '.join(PARTS)}")
    return data


def _part_ids(part: dict, name: str, split: str, n: int) -> list[str]:
    raw = part.get("id")
    if raw is None:
        return [f"{name}/{split}/{i:05d}" for i in range(n)]
    keys = []
    for item in np.asarray(raw, dtype=object).reshape(n, -1):
        words = [w.decode() if isinstance(w, bytes) else str(w) for w in item.tolist()]
        keys.append("/".join(w for w in words if w))
    return [f"{name}/{split}/{i:05d}_{k}" for i, k in enumerate(keys)]


def describe_mult_pickle(**_: object) -> DatasetDescription:
    """A MulT pickle holds text, audio and vision in one given train/valid/test split."""
    return DatasetDescription("mult_pickle", MODALITIES, fixed_split=True)


@described_by(describe_mult_pickle)
def load_mult_pickle(
    path: str,
    label_mode: str = "binary",
    keep_zero: bool = False,
    name: str | None = None,
    trust_pickle: bool = False,
) -> EmotionDataset:
    """Load a MulT pickle the user named and trusts (unpickling runs code in the file), only
    with trust_pickle=True."""
    file = Path(path)
    if trust_pickle is not True:
        raise ConfigError(
            f"{file}: loading a pickle runs code stored in it; expected trust_pickle=True "
            "(protocol: dataset.options.trust_pickle: true) for a file you trust"
        )
    if label_mode not in LABEL_MODES:
        raise ConfigError(f"label_mode={label_mode!r}; expected one of: {', '.join(LABEL_MODES)}")
    data = _read(file)
    name = name or file.stem
    feats: dict[str, list[np.ndarray]] = {m: [] for m in MODALITIES}
    labels, ids, parts = [], [], []
    task, class_names = "multiclass", SENTIMENT_7
    for split in PARTS:
        part = data[split]
        missing = [k for k in (*MODALITIES, "labels") if k not in part]
        if missing:
            raise DataError(f"{file}: part {split!r} has no {missing[0]!r} array")
        raw = np.asarray(part["labels"], dtype=np.float64)
        n = raw.shape[0]
        arrays = {m: np.asarray(part[m], dtype=np.float32) for m in MODALITIES}
        arrays["audio"] = np.nan_to_num(arrays["audio"], nan=0.0, neginf=0.0, posinf=0.0)
        for m, x in arrays.items():
            if x.ndim != 3 or x.shape[0] != n:
                raise DataError(
                    f"{file}: {split}/{m} has shape {x.shape}; expected ({n}, T, D) like labels"
                )
            check_finite(x, f"{file}: {split}/{m}")
        part_ids = _part_ids(part, name, split, n)
        if raw.ndim == 3 and raw.shape[1:] == (4, 2):
            task, class_names = "multilabel", IEMOCAP_EMOTIONS
            y = raw.argmax(-1).astype(np.int64)
            keep = np.ones(n, bool)
        else:
            score = raw.reshape(n, -1)[:, 0]
            if label_mode == "binary":
                class_names = ("negative", "positive")
                keep = np.ones(n, bool) if keep_zero else score != 0
                y = (score >= 0).astype(np.int64) if keep_zero else (score > 0).astype(np.int64)
            else:
                keep = np.ones(n, bool)
                y = (np.clip(np.round(score), -3, 3) + 3).astype(np.int64)
        for m in MODALITIES:
            feats[m].append(arrays[m][keep])
        labels.append(y[keep])
        ids.extend(i for i, k in zip(part_ids, keep, strict=True) if k)
        parts.extend([split] * int(keep.sum()))
    inputs = {m: torch.from_numpy(np.concatenate(v)) for m, v in feats.items()}
    part_arr = np.array(parts)
    split = Split(
        name="given",
        train=np.flatnonzero(part_arr == "train"),
        val=np.flatnonzero(part_arr == "valid"),
        test=np.flatnonzero(part_arr == "test"),
    )
    info = DatasetInfo(
        name=name,
        modalities=MODALITIES,
        kinds=dict.fromkeys(MODALITIES, "features"),
        shapes={m: tuple(x.shape[1:]) for m, x in inputs.items()},
        num_classes=len(class_names),
        class_names=class_names,
        task=task,
        extra={"path": str(file), "label_mode": None if task == "multilabel" else label_mode},
    )
    return EmotionDataset(
        info,
        inputs,
        torch.from_numpy(np.concatenate(labels)),
        ids,
        pd.DataFrame({"part": parts}),
        given_split=split,
    )
