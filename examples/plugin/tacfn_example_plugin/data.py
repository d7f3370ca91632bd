"""A small data set of two feature streams whose class signal is split between them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tacfn.data import DatasetInfo, EmotionDataset

CLASSES = ("calm", "happy", "sad", "angry")


def load_toy_emotions(
    speakers: int = 8, per_class: int = 6, steps: int = 10, dim: int = 12, seed: int = 0
) -> EmotionDataset:
    """`speakers` x `per_class` samples of each class: "audio" and "text" features (steps, dim)
    with a class-dependent mean each, plus speaker offsets and noise; folds by speaker."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    centres = {m: rng.normal(0.0, 0.8, (k, dim)) for m in ("audio", "text")}
    rows = [(s, c, r) for s in range(speakers) for c in range(k) for r in range(per_class)]
    speaker = np.array([s for s, _, _ in rows])
    labels = np.array([c for _, c, _ in rows])
    offsets = {m: rng.normal(0.0, 0.3, (speakers, dim)) for m in centres}
    inputs = {
        m: torch.from_numpy(
            (
                centres[m][labels][:, None, :]
                + offsets[m][speaker][:, None, :]
                + rng.normal(0.0, 1.0, (len(rows), steps, dim))
            ).astype(np.float32)
        )
        for m in centres
    }
    info = DatasetInfo(
        name="toy_emotions",
        modalities=("audio", "text"),
        kinds={"audio": "features", "text": "features"},
        shapes={m: (steps, dim) for m in inputs},
        num_classes=k,
        class_names=CLASSES,
    )
    meta = pd.DataFrame({"speaker": speaker, "emotion": [CLASSES[c] for c in labels]})
    ids = [f"toy/{s:02d}/{CLASSES[c]}/{r}" for s, c, r in rows]
    return EmotionDataset(info, inputs, torch.from_numpy(labels), ids, meta, groups=speaker)
