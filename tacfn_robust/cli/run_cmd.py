"""CLI commands: `run PROTOCOL` and `protocols list|show|validate|schema`."""

from __future__ import annotations

import json
import shlex
from enum import Enum
from pathlib import Path

import typer


class ExecutorKind(str, Enum):
    """Where train cells run (validated by the parser)."""

    local = "local"
    dask = "dask"


protocols_app = typer.Typer(help="List, show, validate shipped protocols; print the JSON Schema.")


def run(
    protocol: str = typer.Argument(..., help="A protocol YAML path or a shipped protocol name."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default runs/<name>/)."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a field by dotted path, VALUE as YAML (repeatable)."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Parallel train cells."),
    executor: ExecutorKind | None = typer.Option(
        None, "--executor", help="Run cells here or on Dask (default: the protocol's)."
    ),
    address: str | None = typer.Option(None, "--address", help="Dask scheduler tcp://host:port."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed cell."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the grid and a time estimate on stdout; run nothing."
    ),
) -> None:
    """Run a protocol: train every cell, evaluate every condition, build the report. Resumes."""
    from protocols import load_protocol, run_protocol
    from protocols.runner import CellFailed, RunInterrupted
    from tacfn.core.errors import Interrupted

    loaded = load_protocol(protocol, set_)
    try:
        result = run_protocol(
            loaded,
            out=out,
            workers=workers,
            executor=executor.value if executor else None,
            address=address,
            fail_fast=fail_fast,
            dry_run=dry_run,
        )
    except CellFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except RunInterrupted as exc:
        options = [*(("--set", a) for a in set_), ("--out", str(exc.run_dir))]
        given = (("--workers", workers), ("--executor", executor), ("--address", address))
        options += [(flag, str(value)) for flag, value in given if value is not None]
        resume = shlex.join(["tacfn-robust", "run", protocol, *(w for o in options for w in o)])
        raise Interrupted(f"interrupted: {exc}; resume with: {resume}") from None
    if dry_run:
        return
    typer.echo(f"{result.tally()}; results in {result.run_dir}")
    if result.report is not None:
        typer.echo(f"report: {result.report}")
    if result.failed:
        raise typer.Exit(1)


@protocols_app.command("list")
def list_protocols() -> None:
    """Shipped protocols with their descriptions."""
    from protocols import shipped_protocols

    shipped = shipped_protocols()
    width = max(map(len, shipped), default=0)
    for name, description in shipped.items():
        typer.echo(f"{name:<{width}}  {description}")


@protocols_app.command("show")
def show(name: str = typer.Argument(..., help="A shipped protocol name or a YAML path.")) -> None:
    """The protocol validated, with every default filled, as YAML."""
    import yaml

    from protocols import load_protocol, protocol_hash

    protocol = load_protocol(name)
    typer.echo(f"# hash: {protocol_hash(protocol)}")
    typer.echo(yaml.safe_dump(protocol.model_dump(mode="json"), sort_keys=False).rstrip())


@protocols_app.command("validate")
def validate(
    file: str = typer.Argument(..., help="A protocol YAML path or shipped name."),
    set_: list[str] = typer.Option([], "--set", help="Overrides to validate too."),
) -> None:
    """Validate a protocol; one-line error and exit 2 when it is invalid."""
    from protocols import load_protocol, protocol_hash

    protocol = load_protocol(file, set_)
    typer.echo(f"{file}: valid ({protocol.name}, hash {protocol_hash(protocol)[:16]})")


@protocols_app.command("schema")
def schema() -> None:
    """The protocol JSON Schema."""
    from protocols.schema import Protocol

    typer.echo(json.dumps(Protocol.model_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("run")(run)
    app.add_typer(protocols_app, name="protocols")
