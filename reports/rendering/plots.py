"""Figures: each is a function from a tidy table to a PNG path (seaborn, Agg canvas).

Every figure that draws models takes the run's palette ({model: {color, marker}}, see
tacfn_robust.reports.rendering.palette) and records the styles it used in the PNG's text chunk under
`palette.METADATA_KEY`, so a reader (or a test) can check that colours agree across figures.
Figures are matplotlib `Figure` objects drawn without pyplot, each inside `themed` (the
report's style as an rc context), so importing or calling this module leaves the global
matplotlib state (rcParams, backend, style) as it was.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec

import matplotlib
import numpy as np
import pandas as pd
import scikit_posthocs as sp
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats

from tacfn.core.io import atomic_write
from tacfn.core.store import CLEAN
from tacfn_robust.reports.rendering.formats import fmt, p_equals
from tacfn_robust.reports.rendering.palette import METADATA_KEY
from tacfn_robust.reports.scoring.metrics import metric_label
from tacfn_robust.reports.statistics.comparisons import Friedman

DPI = 110
PAGE_WIDTH = 10.8  # inches: 1188 px at DPI, the report's column width
CD_ALPHA = 0.05
HEATMAP_LABELS = 40  # conditions a drop heatmap names and annotates at most
Params = ParamSpec("Params")


def theme() -> dict[str, Any]:
    """The report's rc settings: seaborn's whitegrid style, notebook context, deep palette;
    labels come from data (class names, condition ids, paths), so `$` is text, never mathtext."""
    return {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook"),
        "axes.prop_cycle": matplotlib.cycler(color=sns.color_palette("deep")),
        "text.parse_math": False,
    }


def themed(draw: Callable[Params, Path]) -> Callable[Params, Path]:
    """Draw a figure inside the report's rc context; global matplotlib state is left as it was."""

    @functools.wraps(draw)
    def drawn(*args: Params.args, **kwargs: Params.kwargs) -> Path:
        with matplotlib.rc_context(theme()):
            return draw(*args, **kwargs)

    return drawn


Palette = dict[str, dict[str, str]]


def _save(fig: Figure, path: Path, palette: Palette | None = None) -> Path:
    metadata = {METADATA_KEY: json.dumps(palette)} if palette else None
    return atomic_write(
        path,
        lambda f: fig.savefig(f, dpi=DPI, format="png", bbox_inches="tight", metadata=metadata),
    )


def _used(palette: Palette, models: object) -> Palette:
    """The palette entries of the models a figure draws, in palette order."""
    present = set(models)
    return {m: s for m, s in palette.items() if m in present}


def _wrap(label: str, width: int = 22) -> str:
    """A long label on lines of about `width`: broken at spaces, else also after ;]_,= marks."""
    for breaks in (r"(?<=\s)", r"(?<=[\s;\]_,=])"):
        lines = [""]
        for token in filter(None, re.split(breaks, label)):
            if lines[-1] and len(lines[-1]) + len(token) > width:
                lines.append("")
            lines[-1] += token
        if max(map(len, lines)) <= width:
            break
    return "\n".join(line.strip() for line in lines)


def _axis_label(rows: pd.DataFrame, suffix: str = "") -> str:
    first = rows.iloc[0]
    return f"{first['param' + suffix]} [{first['unit' + suffix]}]"


def _grid(n: int, columns: int, panel: tuple[float, float]) -> tuple[Figure, list]:
    """n panels wrapped into rows of at most `columns`; unused axes removed."""
    cols = min(n, columns)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


@themed
def curve_plot(
    means: pd.DataFrame,
    sweep: str,
    path: Path,
    palette: Palette,
    floors: dict[str, float] | None = None,
) -> Path:
    """Mean report metric vs x per model with CI bands, one panel per regime; floor lines dashed.

    `means` is condition_means() output restricted to one metric; `floors` maps regime to
    the unimodal floor.
    """
    rows = means[means["sweep"] == sweep].sort_values("value")
    regimes = sorted(rows["regime"].unique())
    used = _used(palette, rows["model"])
    fig, axes = _grid(len(regimes), 2, (PAGE_WIDTH / 2 - 0.6, 3.4))
    for ax, regime in zip(axes, regimes, strict=True):
        for model, style in used.items():
            r = rows[(rows["regime"] == regime) & (rows["model"] == model)]
            if r.empty:
                continue
            ax.plot(
                r["value"], r["mean"], marker=style["marker"], color=style["color"], label=model
            )
            ax.fill_between(r["value"], r["ci_low"], r["ci_high"], color=style["color"], alpha=0.15)
        floor = (floors or {}).get(regime)
        if floor is not None and np.isfinite(floor):
            ax.axhline(floor, color="black", linestyle="--", linewidth=1, label="unimodal floor")
        ax.set_title(f"regime: {regime}", fontsize=11)
        ax.set_xlabel(_axis_label(rows))
        ax.set_ylabel(f"{metric_label(rows.iloc[0]['metric'])} (mean, CI band)")
        ax.set_ylim(0, 1)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle(f"Robustness curve: {sweep}", fontsize=12)
    fig.tight_layout()
    return _save(fig, path, used)


@themed
def drop_heatmap(means: pd.DataFrame, path: Path) -> Path:
    """Clean minus condition mean of the report metric (percentage points), rows model/regime,
    columns condition. Beyond HEATMAP_LABELS conditions the cells carry no numbers and only
    HEATMAP_LABELS evenly spaced conditions are named, so the figure's cost stays per cell."""
    clean = means[means["condition"] == CLEAN].set_index(["model", "regime"])["mean"]
    rows = means[(means["condition"] != CLEAN)].copy()
    rows["drop"] = 100 * (
        rows.set_index(["model", "regime"]).index.map(clean).to_numpy() - rows["mean"]
    )
    rows["run"] = rows["model"] + " / " + rows["regime"]
    grid = rows.pivot_table(index="run", columns="condition", values="drop", sort=True)
    order = rows.sort_values(["sweep", "value", "value2"])["condition"].unique()
    grid = grid[list(order)]
    width = min(PAGE_WIDTH, 0.95 * grid.shape[1] + 4)
    fig = Figure(figsize=(width, 0.42 * grid.shape[0] + 2.4))
    ax = fig.subplots()
    annotate = grid.shape[1] <= HEATMAP_LABELS
    sns.heatmap(
        grid,
        annot=grid.map(lambda v: fmt(float(v), 1)).to_numpy() if annotate else False,
        fmt="",
        cmap="rocket_r",
        ax=ax,
        cbar_kws={"label": "drop (pp)"},
    )
    ax.set_yticks(np.arange(grid.shape[0]) + 0.5, [_wrap(r, 28) for r in grid.index], rotation=0)
    shown = np.unique(np.linspace(0, grid.shape[1] - 1, min(grid.shape[1], HEATMAP_LABELS)).round())
    ax.set_xticks(
        shown + 0.5,
        [_wrap(grid.columns[int(i)], 16) for i in shown],
        rotation=35,
        ha="right",
        rotation_mode="anchor",
        fontsize=8,
    )
    ax.set_xlabel("condition")
    ax.set_ylabel("model / regime")
    ax.set_title(f"{metric_label(means['metric'].iloc[0])} drop from clean (percentage points)")
    fig.tight_layout()
    return _save(fig, path)


def critical_difference(n_models: int, n_blocks: int, alpha: float = CD_ALPHA) -> float:
    """Nemenyi critical difference of mean ranks: q_alpha * sqrt(k (k + 1) / (6 N))."""
    q = stats.studentized_range.ppf(1 - alpha, n_models, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_models * (n_models + 1) / (6 * n_blocks)))


@themed
def cd_diagram(result: Friedman, path: Path, palette: Palette) -> Path:
    """Critical-difference diagram: mean ranks on a 1..k axis, the Nemenyi CD drawn as a bar."""
    k = len(result.models)
    used = _used(palette, result.models)
    fig = Figure(figsize=(8, 0.45 * k + 2.0))
    ax = fig.subplots()
    sp.critical_difference_diagram(
        result.mean_ranks,
        result.nemenyi,
        ax=ax,
        cd=critical_difference(k, result.n_blocks),
        alpha=CD_ALPHA,
        color_palette={m: s["color"] for m, s in used.items()},
    )
    ax.set_xlim(1, k)
    ax.set_xticks(range(1, k + 1))
    ax.set_title(
        f"Mean rank (1 = best) over {result.n_blocks} independent blocks; "
        f"Friedman {p_equals(result.p)}",
        pad=14,
    )
    fig.tight_layout()
    return _save(fig, path, used)


@themed
def class_scores_plot(
    table: pd.DataFrame, condition: str, regime: str, path: Path, palette: Palette
) -> Path:
    """Per-class recall (per-emotion binary accuracy when multilabel) of every model under one
    condition in one regime (mean over runs)."""
    rows = table[(table["condition"] == condition) & (table["regime"] == regime)]
    rows = rows[rows["metric"].str.startswith(("recall[", "accuracy["))].copy()
    per_class = "recall" if rows["metric"].str.startswith("recall[").any() else "binary accuracy"
    rows["class"] = rows["metric"].str.extract(r"\[(.*)\]", expand=False)
    used = _used(palette, rows["model"])
    fig = Figure(figsize=(min(PAGE_WIDTH, 0.9 * rows["class"].nunique() + 3.5), 3.8))
    ax = fig.subplots()
    sns.barplot(
        rows,
        x="class",
        y="score",
        hue="model",
        hue_order=list(used),
        palette={m: s["color"] for m, s in used.items()},
        saturation=1,
        errorbar=None,
        ax=ax,
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"per-class {per_class}\n(mean over runs)")
    ax.set_title(f"Regime {regime}, worst condition {condition}", fontsize=11)
    ax.tick_params(axis="x", rotation=30)
    sns.move_legend(ax, "center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="model")
    fig.tight_layout()
    return _save(fig, path, used)


def informative_columns(logs: pd.DataFrame) -> list[str]:
    """Numeric train_log.csv columns worth a panel: not keys, not all missing, not constant."""
    numeric = logs.select_dtypes("number").drop(columns=["epoch", "seed", "fold"], errors="ignore")
    return [c for c in numeric.columns if numeric[c].dropna().nunique() > 1]


@themed
def training_curves(logs: pd.DataFrame, path: Path, palette: Palette) -> Path:
    """Informative train_log.csv columns against epoch, mean over runs; panels wrap in rows of 3."""
    columns = informative_columns(logs)
    long = logs.melt(id_vars=["model", "regime", "epoch"], value_vars=columns, var_name="series")
    used = _used(palette, long["model"])
    fig, axes = _grid(len(columns), 3, (PAGE_WIDTH / 3 - 0.5, 2.9))
    for ax, column in zip(axes, columns, strict=True):
        sns.lineplot(
            long[long["series"] == column],
            x="epoch",
            y="value",
            hue="model",
            hue_order=list(used),
            palette={m: s["color"] for m, s in used.items()},
            style="regime",
            errorbar=None,
            ax=ax,
            legend=ax is axes[0],
        )
        ax.set_title(column, fontsize=11)
        ax.set_ylabel("")
    legend = axes[0].get_legend()
    fig.legend(
        legend.legend_handles,
        [t.get_text() for t in legend.get_texts()],
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=9,
    )
    legend.remove()
    fig.suptitle("Training logs (mean over seeds and folds)", fontsize=12)
    fig.tight_layout()
    return _save(fig, path, used)


@themed
def joint_heatmap(means: pd.DataFrame, sweep: str, path: Path) -> Path:
    """Mean report metric over the 2-D grid of a joint sweep, one panel per model/regime."""
    rows = means[means["sweep"] == sweep].copy()
    rows["run"] = rows["model"] + " / " + rows["regime"]
    runs = sorted(rows["run"].unique())
    fig, axes = _grid(len(runs), 3, (PAGE_WIDTH / 3, 3.4))
    for ax, run in zip(axes, runs, strict=True):
        grid = rows[rows["run"] == run].pivot_table(index="value2", columns="value", values="mean")
        sns.heatmap(grid, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax)
        ax.set_title(_wrap(run, 36), fontsize=10)
        ax.set_xlabel(_axis_label(rows))
        ax.set_ylabel(_axis_label(rows, "2"))
    fig.suptitle(f"Joint sweep {sweep}: mean {metric_label(rows['metric'].iloc[0])}")
    fig.tight_layout()
    return _save(fig, path)
