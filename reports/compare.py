"""compare_runs: two run directories -> paired differences B − A with verdicts, JSON and a page.

Cells are matched by model, regime, seed and fold; each (model, regime) of both runs is one contrast
"model [B] − model [A]" paired within (seed, fold), tested by the report's machinery
(tacfn_robust.reports.statistics.contrasts.contrast_table): at the clean condition, at every
non-identity level and over each whole 1-D curve (normalised AUC), Holm within each family at alpha
= 1 − report.ci, TOST against ±report.margin, the MDD. Runs whose grids differ are compared on their
intersection (cells and conditions of both); what differs is listed in one place: protocol fields,
and cells and conditions present in one run only. The metric, CI level and margin are run B's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tacfn.core import store
from tacfn.core.errors import DataError
from tacfn.core.store import RUN_KEYS
from tacfn_robust.reports.reading.run_dir import Run, load_run
from tacfn_robust.reports.rendering.compare_page import write_page
from tacfn_robust.reports.rendering.summary import contrast_records
from tacfn_robust.reports.scoring.metrics import report_metric
from tacfn_robust.reports.scoring.table import results_table
from tacfn_robust.reports.statistics.contrasts import Contrast, contrast_table
from tacfn_robust.reports.statistics.inference import DETECT
from tacfn_robust.reports.statistics.robustness import curve_points

COMPARISON_JSON = "comparison.json"
SIDES = ("A", "B")
QUESTION = "B − A"


def tagged(model: str, side: str) -> str:
    """The model of one run in the combined table, e.g. "tacfn [B]"."""
    return f"{model} [{side}]"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested protocol as dotted path -> leaf value (lists are leaves)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): value}


def protocol_differences(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every protocol field (dotted path) whose value differs, with both values."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [
        {"field": field, "a": flat_a.get(field), "b": flat_b.get(field)}
        for field in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(field) != flat_b.get(field)
    ]


def _cells(table: pd.DataFrame) -> set[tuple[Any, ...]]:
    return set(table[RUN_KEYS].drop_duplicates().itertuples(index=False, name=None))


def _label(cell: tuple[Any, ...]) -> str:
    model, regime, seed, fold = cell
    return f"{model}/{regime}/seed{seed}/fold{fold}"


def _scored(run: Run, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = results_table(run)
    return table, curve_points(table, run.protocol, metric)


def comparison(run_a: Run, run_b: Run) -> dict[str, Any]:
    """The comparison of two loaded runs: differences, and the contrasts B − A."""
    metric = report_metric(run_b.protocol)
    if report_metric(run_a.protocol) != metric:
        raise DataError(
            f"{run_a.root}: report.metric {report_metric(run_a.protocol)!r} differs from "
            f"{run_b.root}'s {metric!r}; expected runs scored by the same metric"
        )
    options = run_b.report_options
    level = float(options.get("ci", 0.95))
    margin = float(options.get("margin") or DETECT)
    (table_a, points_a), (table_b, points_b) = _scored(run_a, metric), _scored(run_b, metric)
    cells_a, cells_b = _cells(table_a), _cells(table_b)
    common = cells_a & cells_b
    conditions = set(table_a["condition"]) & set(table_b["condition"])
    tables, points = [], []
    for side, table, curve in (("A", table_a, points_a), ("B", table_b, points_b)):
        keep = pd.MultiIndex.from_frame(table[RUN_KEYS]).isin(list(common))
        kept = table[keep & table["condition"].isin(conditions)]
        tables.append(kept.assign(model=kept["model"].map(lambda m, s=side: tagged(m, s))))
        keep = pd.MultiIndex.from_frame(curve[RUN_KEYS]).isin(list(common))
        kept_points = curve[keep & curve["condition"].isin(conditions)]
        points.append(
            kept_points.assign(model=kept_points["model"].map(lambda m, s=side: tagged(m, s)))
        )
    pairs = sorted({(model, regime) for model, regime, _, _ in common})
    contrasts = [
        Contrast.models(tagged(m, "B"), tagged(m, "A"), regime, QUESTION) for m, regime in pairs
    ]
    rows = contrast_table(
        pd.concat(tables, ignore_index=True),
        pd.concat(points, ignore_index=True),
        contrasts,
        level,
        margin,
        metric,
    )
    rows.insert(1, "model", [c.split(" [B]")[0] for c in rows["a"]])
    return {
        "a": str(run_a.root),
        "b": str(run_b.root),
        "metric": metric,
        "ci_level": level,
        "alpha": round(1 - level, 10),
        "margin": margin,
        "differences": {
            "protocol": protocol_differences(run_a.protocol, run_b.protocol),
            "cells_only_in_a": sorted(map(_label, cells_a - cells_b)),
            "cells_only_in_b": sorted(map(_label, cells_b - cells_a)),
            "conditions_only_in_a": sorted(set(table_a["condition"]) - conditions),
            "conditions_only_in_b": sorted(set(table_b["condition"]) - conditions),
            "cells_compared": len(common),
        },
        "contrasts": contrast_records(rows),
    }


def compare_runs(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Compare run B with run A; write comparison.json, comparison.html and comparison.png
    under `out` (default: B's directory/compare; never in a run's own entries:
    tacfn.core.store.check_output) and return the JSON's path."""
    loaded_a, loaded_b = load_run(run_a), load_run(run_b)
    directory = store.check_output(out if out is not None else loaded_b.root / "compare")
    result = comparison(loaded_a, loaded_b)
    path = store.write_json(directory / COMPARISON_JSON, result)
    write_page(result, directory)
    return Path(path)
