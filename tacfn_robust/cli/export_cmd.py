"""CLI command: export RUN --format latex|markdown|csv|mlflow (paper tables, tracker)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class ExportFormat(str, Enum):
    """What `export` writes (validated by the parser)."""

    latex = "latex"
    markdown = "markdown"
    csv = "csv"
    mlflow = "mlflow"


def export(
    run_dir: Path = typer.Argument(..., help="Run directory with its report built."),
    format: ExportFormat = typer.Option(..., "--format", help="Table format, or mlflow."),
    out: Path | None = typer.Option(None, "--out", help="Write the table here (default stdout)."),
    tracking_uri: str = typer.Option(
        "sqlite:///mlflow.db", "--tracking-uri", help="MLflow tracking store (mlflow only)."
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="MLflow experiment (default: the protocol's name)."
    ),
) -> None:
    """Mean ± CI per model × condition with verdict marks and n, or the run logged to MLflow."""
    if format is ExportFormat.mlflow:
        from tacfn_robust.reports.rendering.tracking import export_mlflow

        parent = export_mlflow(run_dir, tracking_uri, experiment)
        typer.echo(f"mlflow: run {parent} in {tracking_uri}")
        return
    from tacfn.core.io import write_text
    from tacfn.core.store import check_output
    from tacfn_robust.reports.rendering.export import export_table

    if out is not None:
        check_output(out)
    text = export_table(run_dir, format.value)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_text(out, text)
        typer.echo(f"{format.value}: {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("export")(export)
