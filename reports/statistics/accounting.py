"""Variance accounting of one contrast of a run: its components and the designs they predict.

Glue between a loaded run (tacfn_robust.reports.reading) and the pure functions of
tacfn_robust.reports.statistics.variance (components) and tacfn_robust.reports.statistics.designs
(predictions).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tacfn_robust.reports.reading.run_dir import Run
from tacfn_robust.reports.statistics.contrasts import UNIT_KEYS, Contrast, unit_values
from tacfn_robust.reports.statistics.designs import (
    Limits,
    alternatives,
    current_design,
    floor,
    predict,
)
from tacfn_robust.reports.statistics.variance import (
    Components,
    clip_sampling_bootstrap,
    clip_sampling_of_means,
    components,
    correctness,
    per_sample_values,
)

MULTILABEL = "not computed: test sampling of multilabel sets is not modelled"


def run_limits(run: Run) -> Limits:
    """The data set's actors and clips per actor (cell.json `dataset_limits`), and the run's.

    A data set that records no maximum is bounded by the actors it was built with.
    """
    done = run.cells[run.cells["status"] == "done"]
    recorded = next(
        (c for c in done.get("dataset_limits", pd.Series(dtype=object)) if isinstance(c, dict)),
        {},
    )
    preds = run.predictions
    keys = ["model", "regime", *UNIT_KEYS, "condition"]
    one_cell = preds.groupby(keys, sort=False).get_group(tuple(preds.iloc[0][keys]))
    if "actor" in one_cell:
        per_actor = float(one_cell.groupby("actor").size().mean())
        seen = int(preds["actor"].nunique())
    else:
        per_actor, seen = float(len(one_cell)), 1
    actors = recorded.get("actors") or run.protocol.get("dataset", {}).get("actors") or seen
    most = recorded.get("max_actors")
    clips = recorded.get("max_clips_per_actor")
    source = (
        "the data set's maximum"
        if most
        else f"the data set records no maximum: its {actors} actors as built"
    )
    return Limits(
        actors=int(most or actors),
        clips_per_actor=float(clips or per_actor),
        run_actors=int(actors),
        run_clips_per_actor=per_actor,
        source=source,
    )


def summary_units(
    scores: pd.DataFrame, contrast: Contrast, weights: Mapping[str, float]
) -> pd.DataFrame:
    """The contrast's value per (seed, fold): the weighted sum over conditions (one level:
    weight 1), on the units that hold every condition."""
    rows = unit_values(scores[scores["condition"].isin(list(weights))], contrast)
    rows = rows.assign(value=rows["value"] * rows["condition"].map(weights))
    out = rows.groupby(UNIT_KEYS).agg(value=("value", "sum"), count=("value", "size"))
    return out[out["count"] == len(weights)].drop(columns="count").reset_index()


def contrast_components(
    run: Run,
    scores: pd.DataFrame,
    wide: pd.DataFrame,
    contrast: Contrast,
    weights: Mapping[str, float],
    metric: str,
) -> Components | str:
    """Variance components of the contrast over `weights` (condition -> weight), or why not.

    `scores`: the results table of the report metric; `wide`: the run's per-sample correctness
    (tacfn_robust.reports.statistics.variance.correctness). For accuracy the unit values are the
    means of the per-sample values (the same numbers as the scores' contrast).
    """
    if run.multilabel:
        return MULTILABEL
    if metric == "accuracy":
        samples = per_sample_values(wide, contrast, weights)
        units = samples.groupby(UNIT_KEYS, as_index=False)["value"].mean()
    else:
        units = summary_units(scores, contrast, weights)
    if units.empty or units["fold"].nunique() * units.groupby("fold").size().max() < 2:
        return "not computed: needs ≥ 2 paired runs"
    if metric == "accuracy":
        test = clip_sampling_of_means(samples)
    else:
        cells = run.predictions[run.predictions["fold"].isin(units["fold"])]
        test = clip_sampling_bootstrap(cells, contrast, weights, metric, len(run.class_names()))
    return components(units, test)


def accounting_record(comps: Components | str, limits: Limits, level: float, alpha: float) -> dict:
    """summary.json's `variance` of one contrast record: components with intervals, the
    predicted SD and MDD of other designs, and the floor more seeds cannot pass.

    `alpha`: the level of the family's first Holm step (alpha / family size).
    """
    if isinstance(comps, str):
        return {"note": comps}
    now = current_design(comps, limits)
    designs = alternatives(comps, limits) if comps.anova.folds >= 2 else []
    lowest = floor(comps, now, level, alpha) if comps.anova.folds >= 2 else None
    return {
        **comps.record(level),
        "designs": [predict(comps, d, level, alpha).record() for d in designs],
        "floor": None if lowest is None else lowest.record(),
        "limits": {
            "actors": limits.actors,
            "clips_per_actor": limits.clips_per_actor,
            "source": limits.source,
        },
    }


def curve_weights(points: pd.DataFrame, sweep: str) -> dict[str, float]:
    """Condition -> weight of the sweep's normalised AUC (trapezoids over its x, / span)."""
    levels = points[points["sweep"] == sweep].drop_duplicates("value").sort_values("value")
    x = levels["value"].to_numpy(float)
    span = x[-1] - x[0] if x.size else 0.0
    if span == 0:
        w = np.full(x.size, 1.0 / max(x.size, 1))
    else:
        gaps = np.diff(x)
        w = (np.concatenate([gaps, [0.0]]) + np.concatenate([[0.0], gaps])) / (2 * span)
    out: dict[str, float] = {}
    for condition, weight in zip(levels["condition"], w, strict=True):
        out[condition] = out.get(condition, 0.0) + float(weight)
    return out


def row_components(
    run: Run,
    table: pd.DataFrame,
    points: pd.DataFrame,
    contrasts: list[Contrast],
    rows: pd.DataFrame,
    metric: str,
) -> list[Components | str]:
    """The variance components (or why none) of every row of a contrast table
    (tacfn_robust.reports.statistics.contrasts): one level, the clean condition, or a whole
    curve."""
    scores = table[table["metric"] == metric]
    wide = correctness(run.predictions) if not run.multilabel else pd.DataFrame()
    by_name = {c.name: c for c in contrasts}
    out = []
    for row in rows.itertuples(index=False):
        weights = curve_weights(points, row.sweep) if row.scope == "curve" else {row.condition: 1.0}
        contrast = by_name[row.contrast]
        out.append(contrast_components(run, scores, wide, contrast, weights, metric))
    return out


def variance_column(
    run: Run,
    table: pd.DataFrame,
    points: pd.DataFrame,
    contrasts: list[Contrast],
    rows: pd.DataFrame,
    level: float,
    metric: str,
) -> list[dict]:
    """The `variance` record of every row of a contrast table."""
    limits = run_limits(run)
    comps = row_components(run, table, points, contrasts, rows, metric)
    return [
        accounting_record(c, limits, level, (1 - level) / max(int(size), 1))
        for c, size in zip(comps, rows["family_size"], strict=True)
    ]
