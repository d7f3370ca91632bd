"""CLI command `corruptions [NAME]`: families, units and severity tables."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def corruptions_table() -> Table:
    """Every registered corruption with its parameter, unit and levels 1..5."""
    from corruptions import describe, list_corruptions

    table = Table(title="Corruptions (level 0 = identity)")
    for column in ("name", "kind", "param", "unit", "1", "2", "3", "4", "5", "backend"):
        table.add_column(
            column,
            justify="right" if column.isdigit() else "left",
            no_wrap=column in ("name", "param"),
            overflow="fold",
        )
    for name in list_corruptions():
        info = describe(name)
        levels = [_fmt(v) for v in info["levels"]]
        table.add_row(name, info["kind"], info["param"], info["unit"], *levels, info["backend"])
    return table


def corruption_details(name: str) -> Table:
    """One corruption: description, unit, identity, valid range, levels and options."""
    from corruptions import describe

    info = describe(name)
    table = Table(title=f"{name}: {info['description']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    lo, hi = info["range"]
    rows = [
        ("modality kind", info["kind"]),
        ("parameter", f"{info['param']} ({info['unit']})"),
        ("level 0 (identity)", _fmt(info["identity"])),
        ("levels 1..5", ", ".join(_fmt(v) for v in info["levels"])),
        ("valid range", f"{_fmt(lo)} .. {_fmt(hi)}"),
        ("backend", info["backend"]),
    ]
    for option, spec in info["options"].items():
        rows.append((f"option {option}", f"{spec['help']} (default {spec['default']!r})"))
    for field, value in rows:
        table.add_row(field, value)
    return table


def corruptions(
    name: str | None = typer.Argument(None, help="Show one corruption in detail."),
) -> None:
    """List corruptions with units and severity tables, or show one in detail."""
    console = Console()
    console.print(corruption_details(name) if name else corruptions_table())


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("corruptions")(corruptions)
