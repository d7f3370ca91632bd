"""summary.json: every curve point with its CI and n, in a stable machine-readable schema.

The schema is tacfn.core.store.Summary (one pydantic model per section, NaN written as null);
this module fills it from a run's Analysis. Its sections:

    schema: "tacfn-robust/summary"     version: 2
    protocol: {name, description, hash}
    ci_level, focus, reference, metric, alpha (1 - ci_level: the level of every test),
    margin (the equivalence margin of every verdict: report.margin, default 0.03)
    contrasts    every contrast (model, regime, interaction) at clean, at each non-identity
                 level and over each whole curve: difference, CI, Holm family and p, TOST p,
                 verdict ("better" | "worse" | "equivalent" | "inconclusive"), MDD and its
                 variance accounting (tacfn.core.store.VarianceAccounting: seed, fold and
                 test-sampling components with intervals, the SD and MDD of other designs,
                 the floor more seeds cannot pass; docs/statistics.md)
    below_floor  the first level from which a fusion model's mean stays below the unimodal
                 floor, with its CI
    palette      {model: {color: "#rrggbb", marker}}   (the colour and marker of every figure)
    points       curve points: mean over runs per model x regime x condition x metric, CI, n
    curves       curve measures (clean, nauc, relative_robustness, mean_corrupted, drop,
                 error_corrupted, ce, relative_ce, effective_robustness; sweep "all": mce,
                 relative_mce)
    floors       the unimodal floor of each missing-modality sweep
    probability_of_improvement, friedman (null with friedman_note saying why), failed_cells
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tacfn.core.store import Summary, write_record
from tacfn_robust.reports.rendering.palette import model_styles
from tacfn_robust.reports.statistics.analysis import Analysis


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
    return records(contrasts)


def summary_record(analysis: Analysis) -> Summary:
    """The summary.json content (numbers of pandas' float columns, such as 3.0 for a count,
    become the model's types)."""
    record = analysis.run.record
    f = analysis.friedman
    content = {
        "protocol": {k: record.get(k) for k in ("name", "description", "hash")},
        "ci_level": analysis.level,
        "focus": analysis.focus,
        "reference": analysis.reference,
        "metric": analysis.metric,
        "alpha": round(1 - analysis.level, 10),
        "margin": analysis.margin,
        "contrasts": contrast_records(analysis.contrasts),
        "palette": model_styles(analysis.models),
        "points": records(analysis.means),
        "curves": records(analysis.summary_means),
        "floors": records(analysis.floors),
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
    return Summary.model_validate(content, strict=False)


def write_summary(analysis: Analysis, path: Path) -> Path:
    return write_record(path, summary_record(analysis))
