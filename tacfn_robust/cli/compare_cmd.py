"""CLI command: compare RUN_A RUN_B [--out DIR] (paired differences B − A with verdicts)."""

from __future__ import annotations

from pathlib import Path

import typer


def compare(
    run_a: Path = typer.Argument(..., help="The run compared against (A)."),
    run_b: Path = typer.Argument(..., help="The run compared (B)."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default RUN_B/compare)."),
) -> None:
    """Paired differences B − A per condition and over each whole curve, with verdicts; what
    differs between the runs is listed, and they are compared on the cells both hold."""
    from tacfn.core import store
    from tacfn_robust.reports.compare import compare_runs
    from tacfn_robust.reports.rendering.compare_page import PAGE, difference_lines

    path = compare_runs(run_a, run_b, out)
    result = store.read_json(path)
    for line in difference_lines(result):
        typer.echo(f"differs: {line}")
    for row in result["contrasts"]:
        if row["scope"] == "curve":
            typer.echo(
                f"{row['model']} ({row['within']}), whole curve of {row['sweep']}: "
                f"{row['diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] "
                f"{row['verdict']}"
            )
    typer.echo(f"comparison: {path.parent / PAGE}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("compare")(compare)
