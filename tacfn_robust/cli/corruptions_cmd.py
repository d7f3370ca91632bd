"""CLI command `corruptions [NAME]`: families, units and severity tables."""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


WIDE = 100  # columns from which the list also shows each backend


def corruptions_table(width: int = WIDE) -> Table:
    """Every registered corruption with its parameter, unit and levels 1..5, fitting `width`."""
    from tacfn_robust.corruptions import describe, list_corruptions

    wide = width >= WIDE
    title = "Corruptions (level 0 = identity)"
    table = Table(
        title=title if wide else f"{title}; backend and options: corruptions NAME",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("param", no_wrap=True)
    table.add_column("unit", min_width=16)
    table.add_column("levels 1..5", min_width=14)
    if wide:
        table.add_column("backend", no_wrap=True)
    for name in list_corruptions():
        info = describe(name)
        levels = " ".join(_fmt(v) for v in info["levels"])
        row = [name, info["kind"], info["param"], info["unit"], levels]
        table.add_row(*row, *([info["backend"]] if wide else []))
    return table


def corruption_details(name: str) -> Table:
    """One corruption: description, unit, identity, valid range, levels and options."""
    from tacfn_robust.corruptions import describe

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
        default = "required" if spec["required"] else f"default {spec['default']!r}"
        rows.append((f"option {option}", f"{spec['help']}; {spec['expected']}; {default}"))
    for field, value in rows:
        table.add_row(field, value)
    return table


def corruptions(
    name: str | None = typer.Argument(None, help="Show one corruption in detail."),
) -> None:
    """List corruptions with units and severity tables, or show one in detail."""
    console = Console()
    console.print(corruption_details(name) if name else corruptions_table(console.width))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("corruptions")(corruptions)
