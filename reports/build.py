"""The reports pipeline: a run directory passes once through each stage.

    reading (Run) -> scoring (Scores) -> statistics (Analysis) -> rendering | gate

build_report writes the results table, summary.json, PNG figures and report.html;
save_baseline and check hand the same Analysis to the CI gate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tacfn.core import store
from tacfn.core.hashing import digest
from tacfn.core.io import directory_lock, remove_temporaries
from tacfn.core.store import CLEAN
from tacfn_robust.reports.gate.baseline import load_baseline, write_baseline
from tacfn_robust.reports.gate.regression import (
    DEFAULT_ABS_TOL,
    DEFAULT_ALPHA,
    CheckResult,
    check_analysis,
    check_settings,
)
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.rendering import plots
from tacfn_robust.reports.rendering.html import render_html
from tacfn_robust.reports.rendering.palette import model_styles
from tacfn_robust.reports.rendering.summary import write_summary
from tacfn_robust.reports.scoring.table import score_run, write_table
from tacfn_robust.reports.statistics.analysis import Analysis, analyse, curve_means, worst_condition


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


FIGURES = (  # the names of every PNG make_figures writes: a rebuild deletes only these
    "curve_*.png",
    "joint_*.png",
    "drop_heatmap.png",
    "cd_diagram.png",
    "class_scores_worst_*.png",
    "training_curves.png",
)


def _stems(texts: Iterable[str]) -> dict[str, str]:
    """A distinct file-name stem per text: its slug, plus a digest of the text where two slugs
    are equal (regimes `a` and `a_`, or `bruité` and `bruitè`)."""
    slugs = {text: _slug(text) for text in texts}
    count = Counter(slugs.values())
    return {t: s if count[s] == 1 else f"{s}-{digest(t, 8)}" for t, s in slugs.items()}


def make_figures(analysis: Analysis, out: Path) -> dict[str, list[Path]]:
    """Every PNG of the report, grouped by report section, each named after one of FIGURES."""
    figures: dict[str, list[Path]] = {
        k: [] for k in ("curves", "joint", "drop", "cd", "classes", "training")
    }
    palette = model_styles(analysis.models)
    scores = analysis.means[analysis.means["metric"] == analysis.metric]
    curves = curve_means(analysis)
    sweeps = _stems(sorted(curves["sweep"].unique()))
    for sweep, stem in sweeps.items():
        f = analysis.floors[analysis.floors["sweep"] == sweep]
        floors = dict(zip(f["regime"], f["floor"], strict=True))
        path = out / f"curve_{stem}.png"
        figures["curves"].append(plots.curve_plot(curves, sweep, path, palette, floors))
    joints = _stems(sorted(scores.loc[scores["corruption2"].notna(), "sweep"].unique()))
    for sweep, stem in joints.items():
        figures["joint"].append(plots.joint_heatmap(scores, sweep, out / f"joint_{stem}.png"))
    if (scores["condition"] != CLEAN).any():
        figures["drop"].append(plots.drop_heatmap(scores, out / "drop_heatmap.png"))
    if analysis.friedman is not None:
        figures["cd"].append(plots.cd_diagram(analysis.friedman, out / "cd_diagram.png", palette))
    worst = worst_condition(analysis)
    regimes = _stems(sorted(analysis.table["regime"].unique()) if worst is not None else [])
    for regime, stem in regimes.items():
        path = out / f"class_scores_worst_{stem}.png"
        figures["classes"].append(
            plots.class_scores_plot(analysis.table, worst, regime, path, palette)
        )
    logs = analysis.run.training_logs()
    if not logs.empty and "epoch" in logs.columns and plots.informative_columns(logs):
        figures["training"].append(
            plots.training_curves(logs, out / "training_curves.png", palette)
        )
    return figures


def build_report(run_dir: str | Path) -> Path:
    """Rebuild results table, summary.json, figures and report.html; return report.html's path.

    Builds of one run directory serialise on its store.REPORT_LOCK (a second build waits); each
    output is replaced atomically, and temporaries of a killed build are removed first. Old
    figures are deleted by their names (FIGURES): any other file in report/ stays.
    """
    run = load_run(run_dir)
    out = store.report_dir(run.root)
    with directory_lock(run.root, store.REPORT_LOCK, wait=True, what="building the report"):
        remove_temporaries(run.root, store.REPORT_FILES)
        out.mkdir(exist_ok=True)
        remove_temporaries(out)
        analysis = analyse(score_run(run))
        write_table(analysis.table, run.root)
        write_summary(analysis, run.root / store.SUMMARY_FILE)
        for old in {path for name in FIGURES for path in out.glob(name)}:
            old.unlink()
        figures = make_figures(analysis, out)
        return render_html(analysis, figures, out / store.REPORT_FILE)


def analyse_run(run_dir: str | Path, with_tests: bool = True) -> Analysis:
    """Read, score and analyse a run directory (the stages every output starts from)."""
    return analyse(score_run(load_run(run_dir)), with_tests)


def save_baseline(run_dir: str | Path, file: str | Path) -> Path:
    """Write the baseline JSON of a run directory's curves to `file` (never one of a run's own
    files: tacfn.core.store.check_output)."""
    file = store.check_output(file)
    return write_baseline(analyse_run(run_dir, with_tests=False), file)


def check(
    run_dir: str | Path,
    baseline_file: str | Path,
    abs_tol: float = DEFAULT_ABS_TOL,
    alpha: float = DEFAULT_ALPHA,
) -> CheckResult:
    """Compare a run directory with a stored baseline; bad input raises a one-line UserError."""
    check_settings(abs_tol, alpha)
    base = load_baseline(baseline_file)
    return check_analysis(
        analyse_run(run_dir, with_tests=False), base, baseline_file, abs_tol, alpha
    )
