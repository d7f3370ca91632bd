"""The tidy results table: one row per run x test condition x metric, and chance levels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tacfn.core import store
from tacfn.core.errors import ConfigError
from tacfn.core.io import write_text
from tacfn.core.store import CLEAN, RUN_KEYS
from tacfn_robust.reports.reading.run_dir import Run
from tacfn_robust.reports.scoring.metrics import (
    custom_metrics,
    multiclass_scores,
    multilabel_scores,
    report_metric,
)

# the columns of predictions.parquet that say which condition a row is, as the table keeps them
CONDITION_COLUMNS = [*store.CONDITION_COLUMNS, "identity", "realised"]
COLUMNS = [*RUN_KEYS, *CONDITION_COLUMNS, "metric", "score", "n"]


def _condition_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictions with every condition column present (null where the runner left it out)."""
    frame = predictions.copy()
    for column in CONDITION_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame


def results_table(run: Run) -> pd.DataFrame:
    """Score every (run, condition) of the done cells with every built-in metric and the
    report metric."""
    frame = _condition_frame(run.predictions)
    extra = custom_metrics([report_metric(run.protocol)])
    if extra and run.multilabel:
        raise ConfigError(
            f"report.metric {extra[0]!r}: registered metrics score single-label sets; "
            "expected accuracy or weighted_f1 for a multi-label set"
        )
    class_names = run.class_names()
    keys = [*RUN_KEYS, "condition"]
    rows = []
    for _, group in frame.groupby(keys, sort=True, dropna=False):
        first = group.iloc[0]
        labels = group["label"].to_numpy()
        preds = group["pred"].to_numpy()
        if run.multilabel:
            scores = multilabel_scores(group["target"].to_numpy(), labels, preds, class_names)
            n = group["sample_id"].nunique()
        else:
            scores = multiclass_scores(labels, preds, class_names, extra)
            n = len(group)
        base = {c: first[c] for c in [*RUN_KEYS, *CONDITION_COLUMNS]}
        rows.extend({**base, "metric": m, "score": s, "n": n} for m, s in scores.items())
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("value", "value2", "realised", "score"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    table["n"] = table["n"].astype(np.int64)
    return table


def chance_level(predictions: pd.DataFrame, class_names: list[str], metric: str) -> float:
    """Score of always predicting the test split's majority class (per label when multilabel)."""
    if "target" in predictions.columns:
        rows = predictions.drop_duplicates(["fold", "sample_id", "target"])
        targets, labels = rows["target"].to_numpy(), rows["label"].to_numpy()
        shares = rows.groupby("target")["label"].mean()
        majority = (shares.reindex(targets).to_numpy() >= 0.5).astype(np.int64)
        return multilabel_scores(targets, labels, majority, class_names)[metric]
    rows = predictions.drop_duplicates(["fold", "sample_id"])
    labels = rows["label"].to_numpy()
    majority = np.full(labels.shape, np.bincount(labels).argmax())
    return multiclass_scores(labels, majority, class_names, custom_metrics([metric]))[metric]


def chance_table(run: Run, metric: str) -> pd.DataFrame:
    """Per model x regime: the chance level of its clean test predictions (report metric)."""
    clean = run.predictions[run.predictions["condition"] == CLEAN]
    rows = [
        {"model": model, "regime": regime, "chance": chance_level(g, run.class_names(), metric)}
        for (model, regime), g in clean.groupby(["model", "regime"], sort=True)
    ]
    return pd.DataFrame(rows, columns=["model", "regime", "chance"])


@dataclass(frozen=True)
class Scores:
    """What scoring hands to statistics: the run, its report metric, its scores and chance."""

    run: Run
    metric: str
    table: pd.DataFrame
    chance: pd.DataFrame


def score_run(run: Run) -> Scores:
    """Score a loaded run once: the results table and each model x regime's chance level."""
    metric = report_metric(run.protocol)
    return Scores(run, metric, results_table(run), chance_table(run, metric))


def write_table(table: pd.DataFrame, root: Path) -> tuple[Path, Path]:
    """Write results.parquet and results.csv into the run directory."""
    parquet, csv = root / store.RESULTS_PARQUET, root / store.RESULTS_CSV
    store.write_parquet(parquet, table)
    write_text(csv, table.to_csv(index=False))
    return parquet, csv
