"""Figures: each is a function from a tidy table to a PNG path (seaborn on the Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scikit_posthocs as sp  # noqa: E402
import seaborn as sns  # noqa: E402

from reports.stats import Friedman  # noqa: E402
from tacfn.io import atomic_write  # noqa: E402

DPI = 110
sns.set_theme(style="whitegrid", context="notebook")
# Labels come from data (class names, condition ids, paths): `$` is text, never mathtext.
matplotlib.rcParams["text.parse_math"] = False


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=DPI, format="png"))
    finally:
        plt.close(fig)
    return path


def _axis_label(rows: pd.DataFrame, prefix: str = "") -> str:
    first = rows.iloc[0]
    return f"{first[prefix + 'param']} [{first[prefix + 'unit']}]"


def curve_plot(
    means: pd.DataFrame, sweep: str, path: Path, floors: dict[str, float] | None = None
) -> Path:
    """Mean accuracy vs x per model with CI bands, one panel per regime; floor lines dashed.

    `means` is condition_means() output restricted to one metric; `floors` maps regime to
    the unimodal floor.
    """
    rows = means[means["sweep"] == sweep].sort_values("value")
    regimes = sorted(rows["regime"].unique())
    models = sorted(rows["model"].unique())
    palette = dict(zip(models, sns.color_palette("tab10", len(models)), strict=False))
    fig, axes = plt.subplots(1, len(regimes), figsize=(5.5 * len(regimes), 4.2), squeeze=False)
    for ax, regime in zip(axes[0], regimes, strict=True):
        for model in models:
            r = rows[(rows["regime"] == regime) & (rows["model"] == model)]
            if r.empty:
                continue
            ax.plot(r["value"], r["mean"], marker="o", color=palette[model], label=model)
            ax.fill_between(r["value"], r["ci_low"], r["ci_high"], color=palette[model], alpha=0.2)
        floor = (floors or {}).get(regime)
        if floor is not None and np.isfinite(floor):
            ax.axhline(floor, color="black", linestyle="--", linewidth=1, label="unimodal floor")
        ax.set_title(f"{sweep} — regime {regime}")
        ax.set_xlabel(_axis_label(rows))
        ax.set_ylabel(f"{rows.iloc[0]['metric']} (mean, CI band)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    return _save(fig, path)


def drop_heatmap(means: pd.DataFrame, path: Path) -> Path:
    """Clean minus condition accuracy (percentage points), rows model/regime, columns condition."""
    clean = means[means["condition"] == "clean"].set_index(["model", "regime"])["mean"]
    rows = means[(means["condition"] != "clean")].copy()
    rows["drop"] = 100 * (
        rows.set_index(["model", "regime"]).index.map(clean).to_numpy() - rows["mean"]
    )
    rows["run"] = rows["model"] + " / " + rows["regime"]
    grid = rows.pivot_table(index="run", columns="condition", values="drop", sort=True)
    order = rows.sort_values(["sweep", "value", "value2"])["condition"].unique()
    grid = grid[list(order)]
    fig, ax = plt.subplots(figsize=(1.1 * grid.shape[1] + 3, 0.5 * grid.shape[0] + 2))
    sns.heatmap(
        grid, annot=True, fmt=".1f", cmap="rocket_r", ax=ax, cbar_kws={"label": "drop (pp)"}
    )
    ax.set_xlabel("condition")
    ax.set_ylabel("model / regime")
    ax.set_title("Accuracy drop from clean (percentage points)")
    return _save(fig, path)


def cd_diagram(result: Friedman, path: Path) -> Path:
    """Critical-difference diagram from mean ranks and Nemenyi p-values (scikit-posthocs)."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(result.models) + 1.6))
    sp.critical_difference_diagram(result.mean_ranks, result.nemenyi, ax=ax)
    ax.set_title(f"Mean rank over {result.n_blocks} independent blocks (Friedman p {result.p:.3g})")
    return _save(fig, path)


def class_accuracy_plot(table: pd.DataFrame, condition: str, path: Path) -> Path:
    """Per-class accuracy of every model under one condition (mean over runs)."""
    rows = table[table["condition"] == condition]
    rows = rows[rows["metric"].str.startswith(("recall[", "accuracy["))].copy()
    rows["class"] = rows["metric"].str.extract(r"\[(.*)\]", expand=False)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * rows["class"].nunique() + 3), 4.2))
    sns.barplot(rows, x="class", y="score", hue="model", errorbar=None, ax=ax)
    ax.set_ylim(0, 1)
    ax.set_ylabel("per-class accuracy (mean over runs)")
    ax.set_title(f"Per-class accuracy under the worst condition: {condition}")
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, path)


def training_curves(logs: pd.DataFrame, path: Path) -> Path:
    """Every numeric train_log.csv column against epoch, mean over runs per model/regime."""
    columns = [
        c for c in logs.select_dtypes("number").columns if c not in ("epoch", "seed", "fold")
    ]
    long = logs.melt(id_vars=["model", "regime", "epoch"], value_vars=columns, var_name="series")
    fig, axes = plt.subplots(1, len(columns), figsize=(4.5 * len(columns), 3.8), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        sns.lineplot(
            long[long["series"] == column],
            x="epoch",
            y="value",
            hue="model",
            style="regime",
            errorbar=None,
            ax=ax,
        )
        ax.set_title(column)
        ax.legend(fontsize=7)
    return _save(fig, path)


def joint_heatmap(means: pd.DataFrame, sweep: str, path: Path) -> Path:
    """Mean accuracy over the 2-D grid of a joint sweep, one panel per model/regime."""
    rows = means[means["sweep"] == sweep].copy()
    rows["run"] = rows["model"] + " / " + rows["regime"]
    runs = sorted(rows["run"].unique())
    fig, axes = plt.subplots(1, len(runs), figsize=(4.8 * len(runs), 4.2), squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        grid = rows[rows["run"] == run].pivot_table(index="value2", columns="value", values="mean")
        sns.heatmap(grid, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax)
        ax.set_title(run)
        ax.set_xlabel(_axis_label(rows))
        ax.set_ylabel(
            _axis_label(rows, prefix="")
            if False
            else f"{rows.iloc[0]['param2']} [{rows.iloc[0]['unit2']}]"
        )
    fig.suptitle(f"Joint sweep {sweep}: mean accuracy")
    return _save(fig, path)
