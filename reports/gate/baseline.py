"""Baseline files of robustness curves: build from a run, save and load.

A baseline holds, for the report metric, every point's (model x regime x condition) mean, run-to-run
std, n and test size, every curve's nAUC, and per curve the std over runs of each run's mean (the
run part of the pooled variance the check uses, see tacfn_robust.reports.gate.regression). Its
schema is tacfn.core.store.Baseline; a file that does not match it is one DataError line naming the
file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tacfn.core.errors import DataError
from tacfn.core.store import (
    BASELINE_SCHEMA,
    Baseline,
    read_json,
    read_record,
    write_record,
)
from tacfn_robust.reports.statistics.analysis import Analysis

SAVE = "create it with 'tacfn-robust baseline save'"


def build_baseline(analysis: Analysis) -> Baseline:
    """Per model x regime x condition and per curve nAUC: mean, run-to-run std, n."""
    record = analysis.run.record
    m = analysis.means[analysis.means["metric"] == analysis.metric]
    points = [
        {
            "model": r.model,
            "regime": r.regime,
            "sweep": r.sweep,
            "condition": r.condition,
            "value": None if pd.isna(r.value) else float(r.value),
            "mean": float(r.mean),
            "std": None if pd.isna(r.std) else float(r.std),
            "n": int(r.n),
            "n_samples": int(r.n_samples),
        }
        for r in m.itertuples()
    ]
    s = analysis.summary_means
    nauc = s[s["measure"] == "nauc"]
    curves = [
        {
            "model": r.model,
            "regime": r.regime,
            "sweep": r.sweep,
            "mean": float(r.mean),
            "std": None if pd.isna(r.std) else float(r.std),
            "n": int(r.n),
        }
        for r in nauc.itertuples()
    ]
    return Baseline.model_validate(
        {
            "metric": analysis.metric,
            "families": curve_families(analysis.table, analysis.metric),
            "protocol_name": record.get("name"),
            "protocol_hash": record.get("hash"),
            "protocol": record.get("protocol", {}),
            "versions": record.get("versions", {}),
            "git_commit": record.get("git_commit"),
            "points": points,
            "curves": curves,
        }
    )


def curve_families(table: pd.DataFrame, metric: str = "accuracy") -> list[dict]:
    """Per model x regime x sweep: runs, and the std over runs of each run's mean score
    over the sweep's conditions (the run part of the pooled variance)."""
    acc = table[table["metric"] == metric]
    keys = ["model", "regime", "sweep"]
    run_means = acc.groupby([*keys, "seed", "fold"], dropna=False)["score"].mean()
    out = []
    for key, runs in run_means.groupby(level=keys, sort=True):
        std = float(runs.std(ddof=1)) if len(runs) > 1 else None
        out.append({**dict(zip(keys, key, strict=True)), "n": len(runs), "run_mean_std": std})
    return out


def write_baseline(analysis: Analysis, file: str | Path) -> Path:
    """Write the baseline JSON of an analysed run's curves to `file`."""
    return write_record(file, build_baseline(analysis))


def load_baseline(file: str | Path) -> Baseline:
    path = Path(file)
    if not path.is_file():
        raise DataError(f"{path}: baseline file not found; {SAVE}")
    if read_json(path, SAVE).get("schema") != BASELINE_SCHEMA:
        raise DataError(
            f"{path}: not a tacfn-robust baseline (expected schema {BASELINE_SCHEMA!r}); {SAVE}"
        )
    return read_record(path, Baseline, SAVE)


def _flatten(d: object, prefix: str = "") -> dict[str, object]:
    if isinstance(d, dict):
        out: dict[str, object] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def protocol_diff(old: dict, new: dict) -> list[str]:
    """Dotted protocol fields that differ, as 'field: old -> new'."""
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
