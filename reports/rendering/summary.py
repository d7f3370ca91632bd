"""summary.json: every curve point with its CI and n, in a stable machine-readable schema.

Schema (version 1); NaN is written as null:

    schema: "tacfn-robust/summary"     version: 1
    protocol: {name, description, hash}
    ci_level: float                    focus: str     reference: str     metric: str
    alpha: float (1 - ci_level: the level of every test and verdict)
    margin: float (the equivalence margin of every verdict: report.margin, default 0.03)
    palette: {model: {color: "#rrggbb", marker}}   (the colour and marker of every figure)
    points:  [{model, regime, sweep, condition, corruption, modality, param, value, unit,
               corruption2, modality2, param2, value2, unit2, stage, fill, metric,
               mean, std, ci_low, ci_high, ci_method, n (runs), n_samples}]
    curves:  [{model, regime, sweep, measure, mean, std, ci_low, ci_high, ci_method, n}]
             (measure: clean, nauc, relative_robustness, mean_corrupted, drop,
              error_corrupted, ce, relative_ce, effective_robustness; sweep "all": mce,
              relative_mce)
    floors:  [{regime, sweep, missing, floor, models}]
    contrasts: [{contrast, kind (model | regime | interaction), question, a, b, within,
                 scope (clean | level | curve), sweep, condition ("nauc" for a whole curve), x,
                 metric, family, family_size, n (paired runs), units (runs, or folds when
                 clustered), diff, sd, ci_low, ci_high, ci_method, p, p_holm, margin,
                 p_equivalence (TOST, Holm within the family), verdict, mdd, variance}]
               (see reports.statistics.contrasts: one row per contrast at the clean condition,
                at each non-identity level and over each whole 1-D curve (normalised AUC);
                verdict: "better" | "worse" | "equivalent" (within ±margin) |
                "inconclusive"; mdd: minimum detectable difference at 80 % power at the
                family's first Holm step; variance: null, or the VarianceComponents of the
                paired difference {seed, fold, seed_and_fold, test_sampling, method})
    below_floor: [{model, regime, sweep, missing, floor, x, mean, ci_low, ci_high, below}]
               (the first level from which a fusion model's mean stays below the unimodal
                floor; below: whether the whole interval is under it)
    probability_of_improvement: [{model_a, model_b, probability, ci_low, ci_high, n, method}]
    friedman: null | {statistic, p, n_blocks, models, mean_ranks, nemenyi, method}
    friedman_note: str (why the Friedman test is not computed, when it is null)
    failed_cells: [{key, model, regime, seed, fold, error}]
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from reports.rendering.palette import model_styles
from reports.statistics.analysis import Analysis
from tacfn.core.store import write_json

SCHEMA = "tacfn-robust/summary"
VERSION = 2


def records(frame: pd.DataFrame | None) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (NaN -> None)."""
    if frame is None or frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", double_precision=10))


def failed_cells(analysis: Analysis) -> pd.DataFrame:
    cells = analysis.run.cells
    failed = cells[cells["status"] != "done"]
    return failed.reindex(columns=["key", "model", "regime", "seed", "fold", "error"])


def contrast_records(contrasts: pd.DataFrame | None) -> list[dict]:
    """The contrast table in summary.json's `contrasts` schema (variance as a dict or null)."""
    if contrasts is None or contrasts.empty:
        return []
    out = records(contrasts.drop(columns="variance"))
    for row, variance in zip(out, contrasts["variance"], strict=True):
        row["variance"] = None if variance is None else asdict(variance)
    return out


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
        "margin": analysis.margin,
        "palette": model_styles(analysis.models),
        "points": records(analysis.means),
        "curves": records(analysis.summary_means),
        "floors": records(analysis.floors),
        "contrasts": contrast_records(analysis.contrasts),
        "below_floor": records(analysis.below_floor),
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
