"""summary.json: every curve point with its CI and n, in a stable machine-readable schema.

Schema (version 1); NaN is written as null:

    schema: "tacfn-robust/summary"     version: 1
    protocol: {name, description, hash}
    ci_level: float                    focus: str     reference: str     metric: str
    alpha: float (1 - ci_level: the level of every test and verdict)
    verdicts: [{focus, other, regime, sweep, condition, x, metric, n, diff, ci_low, ci_high,
                p_holm, verdict, mdd, min_p}]
              (verdict: "better" | "worse" | "no detectable difference"; from the paired t
               test after Holm; mdd: minimum detectable difference at 80 % power; min_p:
               smallest attainable p after Holm)
    palette: {model: {color: "#rrggbb", marker}}   (the colour and marker of every figure)
    points:  [{model, regime, sweep, condition, corruption, modality, param, value, unit,
               corruption2, modality2, param2, value2, unit2, stage, fill, metric,
               mean, std, ci_low, ci_high, ci_method, n (runs), n_samples}]
    curves:  [{model, regime, sweep, measure, mean, std, ci_low, ci_high, ci_method, n}]
             (measure: clean, nauc, relative_robustness, mean_corrupted, drop,
              error_corrupted, ce, relative_ce, effective_robustness; sweep "all": mce,
              relative_mce)
    floors:  [{regime, sweep, missing, floor, models}]
    comparisons: [{model_a, model_b, regime, condition, sweep, value, metric, n (paired runs),
                   units (runs, or folds when clustered), mean_diff, sd_diff, ci_low, ci_high,
                   ci_method, p, p_method, p_holm, family_size, verdict, mdd, units_for_3pt,
                   min_p, mcnemar_b, mcnemar_c, mcnemar_midp (conditional on these trained
                   models; never a verdict)}]
    probability_of_improvement: [{model_a, model_b, probability, ci_low, ci_high, n, method}]
    friedman: null | {statistic, p, n_blocks, models, mean_ranks, nemenyi, method}
    friedman_note: str (why the Friedman test is not computed, when it is null)
    failed_cells: [{key, model, regime, seed, fold, error}]
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reports.rendering.palette import model_styles
from reports.statistics.analysis import Analysis
from tacfn.core.store import write_json

SCHEMA = "tacfn-robust/summary"
VERSION = 1


def records(frame: pd.DataFrame | None) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN -> None)."""
    if frame is None or frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", double_precision=10))


def failed_cells(analysis: Analysis) -> pd.DataFrame:
    cells = analysis.run.cells
    failed = cells[cells["status"] != "done"]
    return failed.reindex(columns=["key", "model", "regime", "seed", "fold", "error"])


VERDICT_KEYS = {
    "focus": "model_a",
    "other": "model_b",
    "regime": "regime",
    "sweep": "sweep",
    "condition": "condition",
    "x": "value",
    "metric": "metric",
    "n": "n",
    "diff": "mean_diff",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "p_holm": "p_holm",
    "verdict": "verdict",
    "mdd": "mdd",
    "min_p": "min_p",
}


def verdict_records(comparisons: pd.DataFrame | None) -> list[dict]:
    """One verdict per comparison and condition, in summary.json's `verdicts` schema."""
    if comparisons is None or comparisons.empty:
        return []
    frame = comparisons[list(VERDICT_KEYS.values())]
    frame.columns = list(VERDICT_KEYS)
    return records(frame.sort_values(["other", "regime", "sweep", "x", "condition"]))


def summary_dict(analysis: Analysis) -> dict:
    """The summary.json content."""
    record = analysis.run.record
    f = analysis.friedman
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "protocol": {k: record.get(k) for k in ("name", "description", "hash")},
        "ci_level": analysis.level,
        "focus": analysis.focus,
        "reference": analysis.reference,
        "metric": analysis.metric,
        "alpha": round(1 - analysis.level, 10),
        "verdicts": verdict_records(analysis.comparisons),
        "palette": model_styles(analysis.models),
        "points": records(analysis.means),
        "curves": records(analysis.summary_means),
        "floors": records(analysis.floors),
        "comparisons": records(analysis.comparisons),
        "probability_of_improvement": records(analysis.improvement),
        "friedman": None
        if f is None
        else {
            "statistic": f.statistic,
            "p": f.p,
            "n_blocks": f.n_blocks,
            "models": f.models,
            "mean_ranks": f.mean_ranks.to_dict(),
            "nemenyi": json.loads(f.nemenyi.to_json()),
            "method": f.method,
        },
        "friedman_note": None if f is not None else analysis.friedman_note,
        "failed_cells": records(failed_cells(analysis)),
    }


def write_summary(analysis: Analysis, path: Path) -> Path:
    return write_json(path, summary_dict(analysis))
