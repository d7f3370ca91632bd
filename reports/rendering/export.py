"""Paper tables of a run: mean ± CI per model × condition, verdict marks and n (LaTeX,
Markdown, CSV), from summary.json.

Rows are models (with their regime when the run has several), columns the clean condition
and every level of each one-dimensional sweep; a cell is the mean over runs ± half the width
of its interval (report.ci). A mark gives the verdict of the focus model against the row's
model at that condition (summary.json `contrasts`, kind model; a sweep's identity level holds
the clean predictions and carries the clean verdict). LaTeX goes through pandas' Styler with
every name escaped; Markdown through pandas (tabulate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from tacfn.core import store
from tacfn.core.errors import ConfigError
from tacfn.core.store import CLEAN
from tacfn_robust.reports.rendering.formats import fmt

Format = Literal["latex", "markdown", "csv"]
FORMATS: tuple[Format, ...] = ("latex", "markdown", "csv")
# verdict of focus − row model -> mark (plain text, LaTeX)
MARKS = {"better": ("†", r"\dag"), "worse": ("‡", r"\ddag"), "equivalent": ("≈", r"$\approx$")}


@dataclass(frozen=True)
class Entry:
    """One table cell: mean, half-width of its interval, and the verdict mark's key."""

    mean: float
    half: float
    verdict: str | None

    def text(self, latex: bool = False) -> str:
        pm = r" $\pm$ " if latex else " ± "
        out = fmt(self.mean) if math.isnan(self.half) else f"{fmt(self.mean)}{pm}{fmt(self.half)}"
        mark = MARKS.get(self.verdict or "")
        return out if mark is None else f"{out}{mark[1] if latex else ' ' + mark[0]}"


def _verdicts(summary: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(other model, regime, condition) -> verdict of focus − other (model contrasts)."""
    focus = summary.get("focus")
    return {
        (r["b"], r["within"], r["condition"]): r["verdict"]
        for r in summary.get("contrasts") or []
        if r["kind"] == "model" and r["a"] == focus and r["scope"] in ("clean", "level")
    }


def tidy_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per model × regime × condition of the clean condition and the 1-D sweeps:
    metric, mean, ci_low, ci_high, n (runs), n_samples and the verdict of focus − model."""
    points = pd.DataFrame(summary.get("points") or [])
    if points.empty:
        return pd.DataFrame()
    points = points[(points["metric"] == summary["metric"]) & points["corruption2"].isna()]
    verdicts = _verdicts(summary)

    def verdict(row: pd.Series) -> str | None:
        condition = CLEAN if bool(row.get("identity")) else row["condition"]
        return verdicts.get((row["model"], row["regime"], condition))

    out = points.assign(verdict=points.apply(verdict, axis=1))
    columns = ["model", "regime", "sweep", "condition", "value", "metric"]
    columns += ["mean", "ci_low", "ci_high", "n", "n_samples", "verdict"]
    return out[columns].reset_index(drop=True)


def paper_table(
    summary: dict[str, Any], models: list[str] | None = None, latex: bool = False
) -> pd.DataFrame:
    """The wide table: rows model (regime) in the order of `models` (the protocol's), columns
    conditions then n, cells as text."""
    tidy = tidy_table(summary)
    if tidy.empty:
        return pd.DataFrame()
    several = tidy["regime"].nunique() > 1
    order = models or list(tidy["model"].unique())
    conditions = [CLEAN] + [
        c for c in tidy.sort_values(["sweep", "value"])["condition"].unique() if c != CLEAN
    ]
    rows = []
    for (model, regime), g in tidy.groupby(["model", "regime"], sort=False):
        by = g.set_index("condition")
        row = {"": f"{model} ({regime})" if several else model}
        for c in conditions:
            if c not in by.index:
                row[c] = "—"
                continue
            r = by.loc[c]
            half = (r["ci_high"] - r["ci_low"]) / 2 if pd.notna(r["ci_low"]) else math.nan
            row[c] = Entry(float(r["mean"]), float(half), r["verdict"]).text(latex)
        n = sorted({int(v) for v in g["n"]})
        row["n"] = str(n[0]) if len(n) == 1 else f"{n[0]}–{n[-1]}"
        rank = order.index(model) if model in order else len(order)
        rows.append(((rank, regime), row))
    frame = pd.DataFrame([row for _, row in sorted(rows, key=lambda r: r[0])]).set_index("")
    frame.index.name = None
    return frame


def legend(summary: dict[str, Any], latex: bool = False) -> str:
    """What the cells and marks mean, for a caption (LaTeX-escaped with `latex`)."""
    escape = latex_escape if latex else str
    level = escape(f"{summary.get('ci_level', 0.95):.0%}")
    metric = escape(str(summary.get("metric", "accuracy")))
    focus = escape(str(summary.get("focus")))
    better, worse, equivalent = (
        (m[1] + "{}" if m[1].startswith("\\") else m[1]) if latex else m[0] for m in MARKS.values()
    )
    pm = r"$\pm$" if latex else "±"
    return (
        f"{metric}: mean over runs {pm} half-width of the {level} interval; n runs. "
        f"{better} {focus} better than this model, {worse} worse, {equivalent} equivalent "
        f"within {pm}{summary.get('margin')} (Holm, alpha {summary.get('alpha')}); "
        "unmarked: inconclusive or not compared."
    )


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped (as Styler's escape="latex" does)."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(summary: dict[str, Any], models: list[str] | None = None) -> str:
    """A LaTeX table environment (booktabs rules): names escaped, caption with the legend."""
    frame = paper_table(summary, models, latex=True)
    name = (summary.get("protocol") or {}).get("name") or "run"
    styler = frame.style.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    caption = f"{latex_escape(str(name))}. {legend(summary, latex=True)}"
    return styler.to_latex(
        caption=caption,
        label=f"tab:{name}",
        hrules=True,
        position_float="centering",
        column_format="l" + "c" * len(frame.columns),
        environment="table",
    )


def to_markdown(summary: dict[str, Any], models: list[str] | None = None) -> str:
    """A Markdown (pipe) table followed by its legend."""
    frame = paper_table(summary, models)
    return f"{frame.to_markdown()}\n\n{legend(summary)}\n"


def export_table(run_dir: str | Path, format: str) -> str:
    """The run's paper table as `format` (latex, markdown or csv), from its summary.json."""
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r}; expected one of: {', '.join(FORMATS)}")
    path = Path(run_dir) / store.SUMMARY_FILE
    summary = store.read_json(path, f"build it with `tacfn-robust report {run_dir}`")
    if format == "csv":
        return tidy_table(summary).to_csv(index=False)
    protocol = store.read_json(Path(run_dir) / store.PROTOCOL_FILE).get("protocol") or {}
    models = [m if isinstance(m, str) else m["name"] for m in protocol.get("models") or []]
    return to_latex(summary, models) if format == "latex" else to_markdown(summary, models)
