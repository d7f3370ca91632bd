"""CLI commands: report DIR, baseline save DIR FILE, check DIR --baseline FILE [--junit FILE]."""

from __future__ import annotations

from pathlib import Path

import typer


def report(run_dir: Path = typer.Argument(..., help="Run directory written by 'run'.")) -> None:
    """Rebuild the results table, summary.json, figures and report.html from stored predictions."""
    from tacfn_robust.reports.build import build_report

    path = build_report(run_dir)
    typer.echo(f"report: {path}")


def baseline_save(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'run'."),
    file: Path = typer.Argument(..., help="Baseline JSON file to write."),
) -> None:
    """Store a baseline of DIR's curves: per model x condition mean, std, n; nAUC per curve."""
    from tacfn_robust.reports.build import save_baseline

    typer.echo(f"baseline: {save_baseline(run_dir, file)}")


def check(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'run'."),
    baseline: Path = typer.Option(..., "--baseline", help="Baseline JSON from 'baseline save'."),
    junit: Path | None = typer.Option(None, "--junit", help="Also write JUnit XML here."),
    abs_tol: float | None = typer.Option(
        None,
        "--abs-tol",
        help="Smallest drop that can fail a point (default: the measured cross-machine drift, "
        "tacfn_robust.reports.gate.regression.DEFAULT_ABS_TOL; docs/ci.md).",
    ),
    alpha: float = typer.Option(
        0.05, "--alpha", help="False-alarm level of the whole check (Holm per curve)."
    ),
) -> int:
    """Compare DIR with a baseline: exit 0 pass, 1 regression, 2 bad input."""
    from rich.console import Console

    from tacfn.core.store import check_output
    from tacfn_robust.reports.build import check as run_check
    from tacfn_robust.reports.gate.check_render import render_table, write_junit

    if junit is not None:
        check_output(junit)  # before the comparison's work, as write_junit will
    tolerance = {} if abs_tol is None else {"abs_tol": abs_tol}
    result = run_check(run_dir, baseline, alpha=alpha, **tolerance)
    console = Console(width=160)
    console.print(render_table(result))
    for note in result.notes:
        console.print(f"note: {note}")
    if junit is not None:
        console.print(f"junit: {write_junit(result, junit)}")
    failed = len(result.failures)
    console.print(
        f"{'FAILED' if failed else 'passed'}: {failed} of {len(result.rows)} checks failed"
    )
    if failed:
        raise typer.Exit(code=1)
    return 0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("report")(report)
    baseline_app = typer.Typer(help="Store baselines of robustness curves.", no_args_is_help=True)
    baseline_app.command("save")(baseline_save)
    app.add_typer(baseline_app, name="baseline")
    app.command("check")(check)
