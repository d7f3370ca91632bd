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
from reports.stats import N_RESAMPLES, WILCOXON_MIN_N
from reports.summary import failed_cells, records


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


def _summary_rows(summary_means: pd.DataFrame) -> tuple[list[str], list[dict]]:
    """Measures in documented order, and one row per (model, regime, sweep) holding them."""
    if summary_means.empty:
        return [], []
    present = [m for m in MEASURES if m in set(summary_means["measure"])]
    rows = []
    for (regime, model, sweep), g in summary_means.groupby(["regime", "model", "sweep"]):
        cells = {r["measure"]: r for r in records(g)}
        rows.append({"regime": regime, "model": model, "sweep": sweep, "cells": cells})
    return present, rows


def render_html(analysis: Analysis, figures: dict[str, list[Path]], out: Path) -> Path:
    """Write report.html from the analysis and the PNG figures (grouped by section)."""
    record = analysis.run.record
    measure_names, summary_rows = _summary_rows(analysis.summary_means)
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
                (analysis.means["metric"] == "accuracy") & (analysis.means["condition"] != "clean")
            ].sort_values(["sweep", "regime", "model", "value"])
        ),
        "summary_measures": measure_names,
        "summaries": summary_rows,
        "measures": MEASURES,
        "floors": records(analysis.floors),
        "comparisons": records(analysis.comparisons),
        "improvement": records(analysis.improvement),
        "friedman": f,
        "failed": records(failed_cells(analysis)),
        "figures": {k: [(p.stem, data_uri(p)) for p in v] for k, v in figures.items()},
        "n_resamples": N_RESAMPLES,
        "wilcoxon_min_n": WILCOXON_MIN_N,
        "multilabel": analysis.run.multilabel,
    }
    out.write_text(_environment().get_template("report.html.j2").render(**context))
    return out
