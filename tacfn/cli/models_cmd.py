"""CLI commands: `tacfn-robust models [--preset NAME]` lists models and parameter counts."""

from __future__ import annotations

import typer


def models(
    preset: str = typer.Option(None, "--preset", help="Only this preset (default: every preset)."),
) -> None:
    """Every model of a preset with its parameter count, for the preset's reference data."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from tacfn.models import build_model, count_parameters, get_preset, list_models, list_presets

    names = [preset] if preset else list_presets()
    table = Table(title="tacfn-robust models (parameters; γ fixed, no learned fill tokens)")
    for column in ("preset", "data layout", "model", "parameters"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    for name in names:
        info = get_preset(name).reference
        layout = ", ".join(f"{m} {'×'.join(map(str, s))}" for m, s in info.shapes.items())
        for model_name in list_models(info):
            with torch.device("meta"):  # counts only: no memory, no initialisation cost
                model = build_model(model_name, info, name)
            table.add_row(name, layout, model_name, f"{count_parameters(model):,}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("models")(models)
