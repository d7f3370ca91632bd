"""CLI command: plan RUN --target-mdd D, the cheapest design answering each question to D."""

from __future__ import annotations

from pathlib import Path

import typer


def plan(
    run_dir: Path = typer.Argument(..., help="Run directory written by 'run'."),
    target_mdd: float = typer.Option(
        ..., "--target-mdd", help="Minimum detectable difference to reach, in metric units."
    ),
) -> None:
    """Per question of the run: the cheapest design (fewest trained cells) whose predicted MDD
    is ≤ D at every level of a sweep, and over its whole curve; or why none can."""
    from tacfn_robust.reports.build import analyse_run
    from tacfn_robust.reports.statistics.design_plan import check_target, plan_run

    check_target(target_mdd)
    plans, limits = plan_run(analyse_run(run_dir), target_mdd)
    typer.echo(
        f"designs within {limits.actors} actors × {limits.clips_per_actor:g} clips per actor "
        f"({limits.source}); MDD at 80 % power at each family's first Holm step"
    )
    if not plans:
        typer.echo("no question: the run has no contrast with two or more paired runs")
    question = None
    for p in plans:
        if p.question != question:
            question = p.question
            typer.echo(f"{question}:")
        if p.plan.design is None:
            typer.echo(f"  {p.contrast}, {p.scope}: none; {p.plan.reason}")
        else:
            typer.echo(
                f"  {p.contrast}, {p.scope}: {p.plan.design.describe()} = {p.plan.cells} cells "
                f"(predicted MDD {p.plan.worst_mdd:.3f})"
            )


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command("plan")(plan)
