"""A cell's stored tables: predictions (one row per sample x condition) and corruption records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from protocols.evaluate import ConditionOutput
from protocols.grid import Condition, TrainCell


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
            **_condition_columns(condition),
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
    table = pd.concat(frames, ignore_index=True)
    for column in TEXT_COLUMNS:
        table[column] = table[column].astype("str")
    for column in ("value", "value2", "realised", "realised2"):
        table[column] = table[column].astype("float64")
    return table


AXIS_COLUMNS = ("corruption", "modality", "param", "value", "unit")
TEXT_COLUMNS = [f"{n}{s}" for s in ("", "2") for n in AXIS_COLUMNS if n != "value"] + [
    "stage",
    "fill",
]


def _condition_columns(condition: Condition) -> dict[str, Any]:
    empty = {f"{n}{s}": None for s in ("", "2") for n in AXIS_COLUMNS} | {
        "stage": None,
        "fill": None,
    }
    return {**empty, **condition.columns}


def records_frame(outputs: dict[str, ConditionOutput]) -> pd.DataFrame:
    rows = [r for out in outputs.values() for r in out.records]
    columns = ["condition", "corruption", "sample_id", "field", "value", "text"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["value"] = frame["value"].astype("float64")
    return frame
