"""CLI commands: `tacfn-robust models [--preset NAME]` lists models and parameter counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tacfn.models.fusion_tacfn import TACFN


def models(
    preset: str = typer.Option(None, "--preset", help="Only this preset (default: every preset)."),
) -> None:
    """Every model of a preset with its parameter count, for the preset's reference data.

    `vs tacfn` is the count relative to TACFN's; `tacfn block` is what one softmax of each
    block spans at the reference shapes: α averages 1/size there, so with γ = 1 the block
    adds 1/size of the target on average (`gain: size` makes it 1).
    """
    import torch
    from rich.console import Console
    from rich.table import Table

    from tacfn.models import build_model, count_parameters, get_preset, list_models, list_presets

    names = [preset] if preset else list_presets()
    table = Table(title="tacfn-robust models (parameters; γ fixed, no learned fill tokens)")
    for column in ("preset", "data layout", "model", "parameters", "vs tacfn", "tacfn block"):
        table.add_column(
            column, justify="right" if column in ("parameters", "vs tacfn") else "left"
        )
    for name in names:
        info = get_preset(name).reference
        layout = ", ".join(f"{m} {'×'.join(map(str, s))}" for m, s in info.shapes.items())
        built = {}
        for model_name in list_models(info):
            with torch.device("meta"):  # counts only: no memory, no initialisation cost
                built[model_name] = build_model(model_name, info, name)
        tacfn = count_parameters(built["tacfn"])
        for model_name, model in built.items():
            count = count_parameters(model)
            table.add_row(
                name,
                layout,
                model_name,
                f"{count:,}",
                f"{count / tacfn - 1:+.1%}",
                block_strength(model) if model_name == "tacfn" else "",
            )
    Console().print(table)


def block_strength(model: TACFN) -> str:
    """e.g. `audio→video: α over 16 (γ = 1 adds 1/16 = 6.2 %)` for each block of a TACFN."""
    parts = []
    for (source, target), size in zip(model.pairs, model.group_sizes(), strict=True):
        parts.append(f"{source}→{target}: α over {size} (γ = 1 adds 1/{size} = {1 / size:.1%})")
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("models")(models)
