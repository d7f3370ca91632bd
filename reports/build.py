"""build_report: stored predictions -> results table, summary.json, PNG figures, report.html."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from reports.reading.run_dir import Run, load_run
from reports.rendering import plots
from reports.rendering.html import render_html
from reports.rendering.palette import model_styles
from reports.rendering.summary import write_summary
from reports.scoring.table import write_table
from reports.statistics.analysis import Analysis, analyse, worst_condition
from tacfn.core import store
from tacfn.core.io import directory_lock, remove_temporaries
from tacfn.core.store import CLEAN, RUN_KEYS


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def curve_means(analysis: Analysis) -> pd.DataFrame:
    """Condition means (report metric) of every 1-D curve point, clean-sourced identity included."""
    m = analysis.means[analysis.means["metric"] == analysis.metric]
    stored = m[(m["sweep"] != CLEAN) & m["corruption2"].isna()]
    from_clean = analysis.points[analysis.points["source"] == "clean"]
    if from_clean.empty:  # no sweeps (test.sweeps: []): clean results only
        return stored.reset_index(drop=True)
    keys = ["model", "regime", "sweep", "value"]
    filled = from_clean[[*keys, "param", "unit"]].drop_duplicates(keys)
    clean = m[m["condition"] == CLEAN].drop(columns=["sweep", "value", "param", "unit"])
    return pd.concat([stored, filled.merge(clean, on=["model", "regime"])], ignore_index=True)


def training_logs(run: Run) -> pd.DataFrame:
    """train_log.csv of every done cell, tagged with its run keys."""
    frames = []
    for cell in run.cells[run.cells["status"] == "done"].itertuples():
        path = run.cell_dir(cell.key) / store.LOG_FILE
        if path.is_file():
            log = pd.read_csv(path)
            frames.append(log.assign(**{k: getattr(cell, k) for k in RUN_KEYS}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def make_figures(analysis: Analysis, out: Path) -> dict[str, list[Path]]:
    """Every PNG of the report, grouped by report section."""
    figures: dict[str, list[Path]] = {
        k: [] for k in ("curves", "joint", "drop", "cd", "classes", "training")
    }
    palette = model_styles(analysis.models)
    accuracy = analysis.means[analysis.means["metric"] == analysis.metric]
    curves = curve_means(analysis)
    for sweep in sorted(curves["sweep"].unique()):
        f = analysis.floors[analysis.floors["sweep"] == sweep]
        floors = dict(zip(f["regime"], f["floor"], strict=True))
        path = out / f"curve_{_slug(sweep)}.png"
        figures["curves"].append(plots.curve_plot(curves, sweep, path, palette, floors))
    for sweep in sorted(accuracy.loc[accuracy["corruption2"].notna(), "sweep"].unique()):
        figures["joint"].append(
            plots.joint_heatmap(accuracy, sweep, out / f"joint_{_slug(sweep)}.png")
        )
    if (accuracy["condition"] != CLEAN).any():
        figures["drop"].append(plots.drop_heatmap(accuracy, out / "drop_heatmap.png"))
    if analysis.friedman is not None:
        figures["cd"].append(plots.cd_diagram(analysis.friedman, out / "cd_diagram.png", palette))
    worst = worst_condition(analysis)
    for regime in sorted(analysis.table["regime"].unique()) if worst is not None else []:
        path = out / f"class_accuracy_worst_{_slug(regime)}.png"
        figures["classes"].append(
            plots.class_accuracy_plot(analysis.table, worst, regime, path, palette)
        )
    logs = training_logs(analysis.run)
    if not logs.empty and "epoch" in logs.columns and plots.informative_columns(logs):
        figures["training"].append(
            plots.training_curves(logs, out / "training_curves.png", palette)
        )
    return figures


def build_report(run_dir: str | Path) -> Path:
    """Rebuild results table, summary.json, figures and report.html; return report.html's path.

    Builds of one run directory serialise on its store.REPORT_LOCK (a second build waits); each
    output is replaced atomically, and temporaries of a killed build are removed first.
    """
    run = load_run(run_dir)
    out = store.report_dir(run.root)
    with directory_lock(run.root, store.REPORT_LOCK, wait=True, what="building the report"):
        remove_temporaries(run.root, store.REPORT_FILES)
        out.mkdir(exist_ok=True)
        remove_temporaries(out)
        analysis = analyse(run)
        write_table(analysis.table, run.root)
        write_summary(analysis, run.root / store.SUMMARY_FILE)
        for old in out.glob("*.png"):
            old.unlink()
        figures = make_figures(analysis, out)
        return render_html(analysis, figures, out / store.REPORT_FILE)
