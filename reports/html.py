"""Render report.html: self-contained (PNG figures as base64 data URIs), autoescaped jinja2."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2
import pandas as pd

from reports.analysis import Analysis
from reports.metrics import METRIC_LABELS
from reports.robustness import MEASURES
from reports.stats import N_SAMPLE_RESAMPLES
from reports.summary import failed_cells, records, verdict_records
from tacfn.io import write_text


def data_uri(path: Path) -> str:
    """A PNG file as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def fmt(value: object, digits: int = 3) -> str:
    """A number for a table cell; an em dash for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    return env


def _clean_table(analysis: Analysis) -> list[dict]:
    m = analysis.means
    clean = m[(m["condition"] == "clean") & m["metric"].isin(list(METRIC_LABELS))]
    return records(clean.sort_values(["regime", "model", "metric"]))


MACHINE_LABELS = {
    "platform": "platform",
    "processor": "processor",
    "cores": "cores",
    "torch_threads": "torch threads",
    "cuda": "CUDA device",
}


def machine_text(machine: dict | None) -> str:
    """protocol.json's machine record as one readable line; keys without a value are left out."""
    items = {k: v for k, v in (machine or {}).items() if v not in (None, "")}
    order = [k for k in MACHINE_LABELS if k in items] + [
        k for k in items if k not in MACHINE_LABELS
    ]
    return "; ".join(f"{MACHINE_LABELS.get(k, k)}: {items[k]}" for k in order) or "not recorded"


def summary_rows(
    summary_means: pd.DataFrame, across_sweeps: bool = False
) -> tuple[list[str], list[dict]]:
    """Measures with a value, in documented order, and one row per (model, regime, sweep).

    Per-sweep rows by default; `across_sweeps` gives the sweep 'all' rows (mCE). Rows and
    measure columns with no finite mean are left out.
    """
    if summary_means.empty:
        return [], []
    is_all = summary_means["sweep"] == "all"
    rows_of = summary_means[is_all if across_sweeps else ~is_all]
    rows_of = rows_of[rows_of["mean"].notna()]
    present = [m for m in MEASURES if m in set(rows_of["measure"])]
    rows = []
    for (regime, model, sweep), g in rows_of.groupby(["regime", "model", "sweep"]):
        cells = {r["measure"]: r for r in records(g)}
        rows.append({"regime": regime, "model": model, "sweep": sweep, "cells": cells})
    return present, rows


def render_html(analysis: Analysis, figures: dict[str, list[Path]], out: Path) -> Path:
    """Write report.html from the analysis and the PNG figures (grouped by section)."""
    record = analysis.run.record
    measure_names, per_sweep = summary_rows(analysis.summary_means)
    all_names, across = summary_rows(analysis.summary_means, across_sweeps=True)
    f = analysis.friedman
    context = {
        "record": record,
        "cells": analysis.run.cells,
        "n_done": int((analysis.run.cells["status"] == "done").sum()),
        "level_pct": round(100 * analysis.level),
        "focus": analysis.focus,
        "reference": analysis.reference,
        "clean": _clean_table(analysis),
        "metric_labels": METRIC_LABELS,
        "points": records(
            analysis.means[
                (analysis.means["metric"] == analysis.metric)
                & (analysis.means["condition"] != "clean")
            ].sort_values(["sweep", "regime", "model", "value"])
        ),
        "summary_measures": measure_names,
        "summaries": per_sweep,
        "across_measures": all_names,
        "across": across,
        "machine": machine_text(record.get("machine")),
        "measures": MEASURES,
        "floors": records(analysis.floors),
        "comparisons": records(analysis.comparisons),
        "improvement": records(analysis.improvement),
        "friedman": f,
        "friedman_note": analysis.friedman_note,
        "verdicts": verdict_records(analysis.comparisons),
        "metric": analysis.metric,
        "alpha": 1 - analysis.level,
        "failed": records(failed_cells(analysis)),
        "skipped": list(analysis.run.record.get("skipped") or []),
        "figures": {k: [(p.stem, data_uri(p)) for p in v] for k, v in figures.items()},
        "n_sample_resamples": N_SAMPLE_RESAMPLES,
        "multilabel": analysis.run.multilabel,
    }
    return write_text(out, _environment().get_template("report.html.j2").render(**context))
