"""CLI commands: `run PROTOCOL`, `evaluate PROTOCOL` and `protocols list|show|validate|schema`."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tacfn_robust.protocols.runner import RunEvents, RunResult
    from tacfn_robust.protocols.schema import Protocol


class ExecutorKind(str, Enum):
    """Where train cells run (validated by the parser)."""

    local = "local"
    dask = "dask"


protocols_app = typer.Typer(help="List, show, validate shipped protocols; print the JSON Schema.")

# Options shared by `run` and `evaluate`.
PROTOCOL = typer.Argument(..., help="A protocol YAML path or a shipped protocol name.")
OUT = typer.Option(None, "--out", help="Run directory (default runs/<name>/).")
SET = typer.Option([], "--set", help="Override a field by dotted path, VALUE as YAML (repeatable).")


def _workers_within_limit(workers: int | None) -> int | None:
    """--workers as given, or a one-line ConfigError above the protocol schema's limit."""
    from tacfn.core.errors import ConfigError
    from tacfn_robust.protocols.schema import WORKERS_LIMIT

    if workers is not None and workers > WORKERS_LIMIT:
        raise ConfigError(
            f"--workers {workers}: more than any machine's cores; expected at most {WORKERS_LIMIT}"
        )
    return workers


WORKERS = typer.Option(
    None, "--workers", min=1, callback=_workers_within_limit, help="Parallel train cells."
)
EXECUTOR = typer.Option(
    None, "--executor", help="Run cells here or on Dask (default: the protocol's)."
)
ADDRESS = typer.Option(None, "--address", help="Dask scheduler tcp://host:port.")
FAIL_FAST = typer.Option(False, "--fail-fast", help="Stop at the first failed cell.")


def run(
    protocol: str = PROTOCOL,
    out: Path | None = OUT,
    set_: list[str] = SET,
    workers: int | None = WORKERS,
    executor: ExecutorKind | None = EXECUTOR,
    address: str | None = ADDRESS,
    fail_fast: bool = FAIL_FAST,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the grid and a time estimate on stdout; run nothing."
    ),
) -> None:
    """Run a protocol: train every cell, evaluate every condition, build the report. Resumes."""
    from tacfn_robust.protocols import load_protocol, run_protocol

    loaded = load_protocol(protocol, set_)
    _say_imported_code(loaded)
    kind = executor.value if executor else None
    if dry_run:
        _print_dry_run(loaded, out, kind, address, workers)
        return
    options = {"workers": workers, "executor": kind, "address": address}
    with _run_outcome(["run", protocol], set_, options):
        result = run_protocol(
            loaded, out=out, fail_fast=fail_fast, events=_console_events(), **options
        )
    _print_result(result)


def evaluate(
    protocol: str = PROTOCOL,
    from_: Path | None = typer.Option(
        None, "--from", help="Run directory whose cells' checkpoints are evaluated."
    ),
    checkpoint: list[str] = typer.Option(
        [], "--checkpoint", help="NAME=FILE: the protocol's model NAME from FILE (repeatable)."
    ),
    out: Path | None = OUT,
    set_: list[str] = SET,
    workers: int | None = WORKERS,
    executor: ExecutorKind | None = EXECUTOR,
    address: str | None = ADDRESS,
    fail_fast: bool = FAIL_FAST,
    trust_pickle: bool = typer.Option(
        False,
        "--trust-pickle",
        help="Unpickle a --checkpoint saved module in full (runs code the file names).",
    ),
) -> None:
    """Evaluate trained checkpoints under a protocol's test sweeps, build the report. Resumes."""
    from tacfn.core.errors import ConfigError
    from tacfn_robust.protocols import evaluate_checkpoints, load_protocol

    if from_ is None and not checkpoint:
        raise ConfigError(
            "evaluate: no checkpoints; expected --from RUN_DIR or --checkpoint NAME=FILE"
        )
    pairs = []
    for assignment in checkpoint:
        name, sep, file = assignment.partition("=")
        if not sep or not name.strip() or not file.strip():
            raise ConfigError(
                f"--checkpoint {assignment!r}; expected NAME=FILE, e.g. tacfn=ckpt.pt"
            )
        pairs.append((name.strip(), Path(file.strip())))
    loaded = load_protocol(protocol, set_)
    _say_imported_code(loaded)
    kind = executor.value if executor else None
    options = {"workers": workers, "executor": kind, "address": address}
    resume = [("--from", from_), *(("--checkpoint", c) for c in checkpoint)]
    command = ["evaluate", protocol, *(["--trust-pickle"] if trust_pickle else [])]
    with _run_outcome(command, set_, options, resume):
        result = evaluate_checkpoints(
            loaded,
            run_dir=from_,
            checkpoints=pairs,
            out=out,
            fail_fast=fail_fast,
            events=_console_events(),
            trust_pickle=trust_pickle,
            **options,
        )
    _print_result(result)


def _imported_code(protocol: Protocol) -> str | None:
    """The `"module:attr"` targets that a run of `protocol` imports (allowed by trust_code:
    true), as `path 'target', ...`; None when it names none."""
    from tacfn.core.errors import excerpt
    from tacfn_robust.protocols.checks import code_names

    names = code_names(protocol)
    return ", ".join(f"{path} {excerpt(name)}" for path, name in names) if names else None


def _say_imported_code(protocol: Protocol) -> None:
    """On stderr, before anything is imported: the code the protocol names that runs now."""
    listed = _imported_code(protocol)
    if listed:
        typer.echo(f"trust_code: true: importing and running {listed}", err=True)


def _console_events() -> RunEvents:
    from rich.console import Console

    from tacfn_robust.cli.run_progress import ConsoleEvents

    return ConsoleEvents(Console(stderr=True))


def _print_dry_run(
    protocol: Protocol,
    out: Path | None,
    executor: str | None,
    address: str | None,
    workers: int | None,
) -> None:
    """The plan, the time estimate and what the design can show, on stdout."""
    from rich.console import Console

    from tacfn_robust.cli.run_progress import print_plan
    from tacfn_robust.protocols.estimate import estimate_seconds
    from tacfn_robust.protocols.runner import plan_dry_run
    from tacfn_robust.protocols.schema import PICKLED_DATASETS
    from tacfn_robust.reports.statistics.comparisons import planned_design

    p = plan_dry_run(protocol, out, executor, address)
    console = Console()
    pickled = protocol.dataset.name in PICKLED_DATASETS
    print_plan(p, console, None if pickled else estimate_seconds(p, workers, executor))
    console.print(planned_design(p.cells, p.conditions, protocol.report.ci), soft_wrap=True)


@contextmanager
def _run_outcome(
    command: list[str],
    set_: list[str],
    options: dict[str, object],
    sources: Sequence[tuple[str, object]] = (),
) -> Iterator[None]:
    """--fail-fast stops with exit 1; Ctrl-C prints the command that resumes the run."""
    from tacfn.core.errors import Interrupted, one_line
    from tacfn_robust.protocols.runner import CellFailed, RunInterrupted

    try:
        yield
    except CellFailed as exc:
        typer.echo(one_line(f"error: {exc}"), err=True)
        raise typer.Exit(1) from None
    except RunInterrupted as exc:
        flags = [*(("--set", a) for a in set_), *sources, ("--out", exc.run_dir)]
        flags += [(f"--{name}", value) for name, value in options.items()]
        words = [w for flag, value in flags if value is not None for w in (flag, str(value))]
        resume = shlex.join(["tacfn-robust", *command, *words])
        raise Interrupted(f"interrupted: {exc}; resume with: {resume}") from None


def _print_result(result: RunResult) -> None:
    """The tally, the run's headline answers and the report's path."""
    typer.echo(f"{result.tally()}; results in {result.run_dir}")
    if result.report is not None:
        from tacfn.core import store
        from tacfn_robust.reports.rendering.headline import headline

        for line in headline(store.read_json(result.run_dir / store.SUMMARY_FILE)):
            typer.echo(line)
        typer.echo(f"report: {result.report}")
    if result.failed:
        raise typer.Exit(1)


@protocols_app.command("list")
def list_protocols() -> None:
    """Shipped protocols with their descriptions."""
    from tacfn_robust.protocols import shipped_protocols

    shipped = shipped_protocols()
    width = max(map(len, shipped), default=0)
    for name, description in shipped.items():
        typer.echo(f"{name:<{width}}  {description}")


@protocols_app.command("show")
def show(name: str = typer.Argument(..., help="A shipped protocol name or a YAML path.")) -> None:
    """The protocol validated, with every default filled, as YAML."""
    import yaml

    from tacfn_robust.protocols import load_protocol, protocol_hash

    protocol = load_protocol(name)
    typer.echo(f"# hash: {protocol_hash(protocol)}")
    typer.echo(yaml.safe_dump(protocol.model_dump(mode="json"), sort_keys=False).rstrip())


@protocols_app.command("validate")
def validate(
    file: str = typer.Argument(..., help="A protocol YAML path or shipped name."),
    set_: list[str] = typer.Option([], "--set", help="Overrides to validate too."),
) -> None:
    """Validate a protocol; one-line error and exit 2 when it is invalid."""
    from tacfn_robust.protocols import load_protocol, protocol_hash

    protocol = load_protocol(file, set_)
    typer.echo(f"{file}: valid ({protocol.name}, hash {protocol_hash(protocol)[:16]})")
    listed = _imported_code(protocol)
    if listed:
        typer.echo(f"{file}: trust_code: true: a run imports and runs {listed} (not imported now)")


@protocols_app.command("schema")
def schema() -> None:
    """The protocol JSON Schema."""
    from tacfn_robust.protocols.schema import Protocol

    typer.echo(json.dumps(Protocol.model_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("run")(run)
    app.command("evaluate")(evaluate)
    app.add_typer(protocols_app, name="protocols")
