"""The `tacfn-robust` command line: a thin typer layer over the packages' Python functions."""

from __future__ import annotations

import sys

import typer

from tacfn import __version__
from tacfn.core.errors import Interrupted, UserError, one_line

app = typer.Typer(
    name="tacfn-robust",
    help="Train and evaluate multimodal fusion models under missing, noisy and occluded "
    "modalities; build statistical reports and CI regression checks.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tacfn-robust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """tacfn-robust: robustness of multimodal emotion recognition models."""


def _register_commands() -> None:
    from tacfn_robust.cli import (
        compare_cmd,
        corruptions_cmd,
        data_cmd,
        export_cmd,
        models_cmd,
        plan_cmd,
        report_cmd,
        run_cmd,
    )

    commands = (run_cmd, report_cmd, plan_cmd, compare_cmd, export_cmd, models_cmd)
    for module in (*commands, corruptions_cmd, data_cmd):
        module.register(app)


_register_commands()


def _error(text: str) -> None:
    """Print an error on stderr as exactly one line (a newline in a value or path escaped)."""
    typer.echo(one_line(text), err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 2 on bad input (one line on stderr), else the command's code."""
    args = list(sys.argv[1:] if argv is None else argv)
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    if debug:  # accepted anywhere before `--`: it is the root option
        args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
    try:
        result = app(args=args, prog_name="tacfn-robust", standalone_mode=False)
    except Interrupted as exc:
        _error(str(exc))
        return exc.exit_code
    except UserError as exc:
        if debug:
            raise
        _error(f"error: {exc}")
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        _error(f"error: {exc.format_message()}")
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            typer.echo(f"(see '{ctx.command_path} --help')", err=True)
        return int(getattr(exc, "exit_code", 2))
    except Exception as exc:  # an internal fault, not bad input
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
        return 3
    if result == 130:  # typer turns Ctrl-C into exit code 130 before any handler sees it
        typer.echo("interrupted; rerun the same command to resume", err=True)
    return result if isinstance(result, int) else 0
