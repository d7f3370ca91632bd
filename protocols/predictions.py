"""A cell's stored tables: predictions (one row per sample x condition) and corruption records."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tacfn.core import store
from tacfn_robust.protocols.evaluate import ConditionOutput
from tacfn_robust.protocols.grid import Condition, TrainCell


def predictions_frame(
    cell: TrainCell,
    conditions: list[Condition],
    outputs: dict[str, ConditionOutput],
    meta: pd.DataFrame,
) -> pd.DataFrame:
    """One row per sample x condition (x target for multi-label sets), contract columns."""
    frames = []
    for condition in conditions:
        out = outputs[condition.id]
        logits, labels = out.stacked()
        base = {
            "model": cell.model,
            "regime": cell.regime,
            "seed": cell.seed,
            "fold": cell.fold,
            "condition": condition.id,
            "sweep": condition.sweep,
            **store.condition_columns(condition.columns),
        }
        if logits.dim() == 3:  # multi-label: (N, K, 2) -> one row per sample and target
            n, k, _ = logits.shape
            rows = {
                "sample_id": np.repeat(out.ids, k),
                "target": np.tile(np.arange(k), n),
                "label": labels.reshape(-1).numpy().astype(np.int64),
                "pred": logits.argmax(-1).reshape(-1).numpy().astype(np.int64),
            }
            flat = logits.reshape(n * k, 2).numpy()
            meta_rows = meta.loc[np.repeat(out.ids, k)]
        else:
            rows = {
                "sample_id": np.asarray(out.ids),
                "label": labels.numpy().astype(np.int64),
                "pred": logits.argmax(-1).numpy().astype(np.int64),
            }
            flat = logits.numpy()
            meta_rows = meta.loc[out.ids]
        frame = pd.DataFrame({**{k: [v] * len(rows["sample_id"]) for k, v in base.items()}, **rows})
        frame["identity"] = condition.identity
        frame["realised"] = out.realised(0)
        frame["realised2"] = out.realised(1)
        for j in range(flat.shape[1]):
            frame[f"logit_{j}"] = flat[:, j].astype(np.float32)
        for column in meta_rows.columns:
            if column not in frame.columns:
                frame[column] = meta_rows[column].to_numpy()
        frames.append(frame)
    return store.typed_predictions(pd.concat(frames, ignore_index=True))


def records_frame(outputs: dict[str, ConditionOutput]) -> pd.DataFrame:
    """One row per sample x condition x record field (records.parquet)."""
    return store.typed_records([r for out in outputs.values() for r in out.records])
