"""Render report.html: self-contained (PNG figures as base64 data URIs), autoescaped jinja2."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd

from tacfn.core.io import write_text
from tacfn.core.store import CLEAN
from tacfn_robust.reports.rendering.formats import fmt, fmt_p, fmt_signed, p_equals, verdict_text
from tacfn_robust.reports.rendering.summary import contrast_records, failed_cells, records
from tacfn_robust.reports.scoring.metrics import (
    CONFUSION_METRICS,
    custom_metrics,
    metric_info,
    metric_label,
)
from tacfn_robust.reports.statistics.analysis import Analysis
from tacfn_robust.reports.statistics.inference import N_SAMPLE_RESAMPLES
from tacfn_robust.reports.statistics.robustness import MEASURES


def data_uri(path: Path) -> str:
    """A PNG file as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tacfn_robust.reports.rendering", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["fmt_p"] = fmt_p
    env.filters["p_equals"] = p_equals
    env.filters["signed"] = fmt_signed
    env.filters["verdict_text"] = verdict_text
    env.filters["metric_label"] = metric_label
    return env


def _shown_metrics(analysis: Analysis) -> list[str]:
    """The metrics the report tabulates: the built-in ones and the report metric."""
    return [*CONFUSION_METRICS, *custom_metrics([analysis.metric])]


def _clean_table(analysis: Analysis) -> list[dict]:
    m = analysis.means
    clean = m[(m["condition"] == CLEAN) & m["metric"].isin(_shown_metrics(analysis))]
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


VERDICT_CLASSES = {"better": "v-better", "worse": "v-worse", "equivalent": "v-equal"}


def level_label(row: dict) -> str:
    """Where a contrast row was tested: "whole curve (nAUC)", "clean", or the sweep's x."""
    if row["scope"] == "curve":
        return "whole curve (nAUC)"
    if row["scope"] == "clean":
        return "clean"
    return f"{row['sweep'].rsplit('.', 1)[-1]} = {fmt(row['x'], 2)}"


def answers(contrasts: list[dict]) -> tuple[list[dict], list[dict]]:
    """(headline rows: each contrast's whole-curve rows, or its clean row without a curve;
    per question, its contrasts with their clean and level rows in level order)."""
    order = {"curve": 0, "clean": 1, "level": 2}
    rows = [
        {**r, "label": level_label(r), "css": VERDICT_CLASSES.get(r["verdict"], "")}
        for r in sorted(contrasts, key=lambda r: (order[r["scope"]], r["sweep"], r["x"] or 0.0))
    ]
    curves = {r["contrast"] for r in rows if r["scope"] == "curve"}
    headline = [
        r
        for r in rows
        if r["scope"] == "curve" or (r["scope"] == "clean" and r["contrast"] not in curves)
    ]
    questions: dict[str, dict[str, list[dict]]] = {}
    for r in rows:
        if r["scope"] != "curve":
            questions.setdefault(r["question"], {}).setdefault(r["contrast"], []).append(r)
    by_level = [
        {"question": q, "contrasts": [{"name": n, "rows": v} for n, v in by.items()]}
        for q, by in questions.items()
    ]
    return headline, by_level


COMPONENT_LABELS = {
    "seed": "seed",
    "fold": "fold (actors)",
    "test_shared": "test clips, shared",
    "test_own": "test clips, own",
    "seed + fold": "seed + fold",
    "test": "test clips",
}


NO_FLOOR = "not estimable: needs 2 or more seeds per fold on 2 or more folds"


def component_text(name: str, c: dict) -> str:
    """One component as an SD with its interval and its share: "seed 0.031 [0.000, 0.080] 45 %"."""
    sd = [fmt(None if v is None else v**0.5) for v in (c["variance"], c["low"], c["high"])]
    share = "" if c["share"] is None else f" {round(100 * c['share'])} %"
    return f"{COMPONENT_LABELS.get(name, name)} {sd[0]} [{sd[1]}, {sd[2]}]{share}"


def design_text(d: dict) -> str:
    """A predicted design as "2× seeds per fold (4 × 6 folds): MDD 0.041 [0.030, 0.072]"."""
    return (
        f"{d['design']} ({d['seeds']} × {d['folds']} folds): "
        f"MDD {fmt(d['mdd'])} [{fmt(d['mdd_low'])}, {fmt(d['mdd_high'])}]"
    )


def variance_rows(contrasts: list[dict]) -> list[dict]:
    """The contrast rows that carry variance components, as text for the report's table."""
    out = []
    for row in contrasts:
        v = row.get("variance") or {}
        if "components" not in v:
            continue
        floor = v["floor"]
        out.append(
            {
                "contrast": row["contrast"],
                "label": level_label(row),
                "scope": row["scope"],
                "components": [component_text(n, c) for n, c in v["components"].items()],
                "floor": NO_FLOOR if floor is None else design_text(floor),
                "designs": [design_text(d) for d in v["designs"]],
                "notes": v["notes"],
            }
        )
    return out


def shared(rows: list[dict], key: str) -> object:
    """The value every row has under `key`, or None when rows differ or there are none."""
    values = {r.get(key) for r in rows}
    return values.pop() if len(values) == 1 else None


def plural(n: int, word: str) -> str:
    """A count with its noun: "1 seed", "3 seeds"."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def protocol_line(record: dict, cells: pd.DataFrame) -> str:
    """The effective protocol (after --set) in one line: models, regimes, seeds, folds, epochs."""
    protocol = record.get("protocol", {})
    train = protocol.get("train", {})
    folds = protocol.get("folds") or sorted(set(cells["fold"]) if not cells.empty else [])
    parts = [
        plural(len(protocol.get("models", [])), "model"),
        plural(len(train.get("regimes", {})), "training regime"),
        plural(len(protocol.get("seeds", [])), "seed"),
        plural(len(folds), "fold"),
    ]
    if train.get("epochs"):
        parts.append(plural(int(train["epochs"]), "epoch"))
    dataset = protocol.get("dataset", {})
    if dataset.get("name"):
        parts.append(f"data: {dataset['name']}")
    return " · ".join(parts)


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


def render_html(
    analysis: Analysis,
    figures: dict[str, list[Path]],
    out: Path,
) -> Path:
    """Write report.html from the analysis and the PNG figures (by section)."""
    record = analysis.run.record
    contrasts = contrast_records(analysis.contrasts)
    headline, by_level = answers(contrasts)
    measure_names, per_sweep = summary_rows(analysis.summary_means)
    all_names, across = summary_rows(analysis.summary_means, across_sweeps=True)
    f = analysis.friedman
    context = {
        "record": record,
        "cells": analysis.run.cells,
        "protocol_line": protocol_line(record, analysis.run.cells),
        "answers": headline,
        "by_level": by_level,
        "contrast_n": shared(contrasts, "n"),
        "contrast_method": shared(contrasts, "ci_method"),
        "variance": variance_rows(contrasts),
        "margin": analysis.margin,
        "below_floor": records(analysis.below_floor),
        "model_names": [
            m if isinstance(m, str) else m["name"]
            for m in record.get("protocol", {}).get("models", [])
        ],
        "n_done": int((analysis.run.cells["status"] == "done").sum()),
        "level_pct": round(100 * analysis.level),
        "focus": analysis.focus,
        "reference": analysis.reference,
        "clean": _clean_table(analysis),
        "metric_infos": [metric_info(name) for name in _shown_metrics(analysis)],
        "points": records(
            analysis.means[
                (analysis.means["metric"] == analysis.metric)
                & (analysis.means["condition"] != CLEAN)
            ].sort_values(["sweep", "regime", "model", "value"])
        ),
        "summary_measures": measure_names,
        "summaries": per_sweep,
        "across_measures": all_names,
        "across": across,
        "machine": machine_text(record.get("machine")),
        "measures": MEASURES,
        "floors": records(analysis.floors),
        "improvement": records(analysis.improvement),
        "friedman": f,
        "friedman_note": analysis.friedman_note,
        "metric": analysis.metric,
        "alpha": 1 - analysis.level,
        "failed": records(failed_cells(analysis)),
        "skipped": list(analysis.run.record.get("skipped") or []),
        "figures": {k: [(p.stem, data_uri(p)) for p in v] for k, v in figures.items()},
        "n_sample_resamples": N_SAMPLE_RESAMPLES,
        "multilabel": analysis.run.multilabel,
    }
    return write_text(out, _environment().get_template("report.html.j2").render(**context))
