"""Layout, install story and CLI surface: the contract every other part builds on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tacfn_robust.cli import app, main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    "run",
    "evaluate",
    "report",
    "baseline",
    "check",
    "plan",
    "protocols",
    "models",
    "corruptions",
    "data",
]


def readme_commands() -> list[str]:
    """The shell commands of the README's quickstart block, in order."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- quickstart -->\s*```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert block, "README.md has no quickstart block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_packages_import() -> None:
    import tacfn
    from tacfn_robust import corruptions, protocols, reports

    assert tacfn.__version__
    for module in (corruptions, protocols, reports):
        assert module.__doc__


def test_readme_has_two_commands_and_ci_runs_the_test_one_verbatim() -> None:
    install_and_run, install_and_test = readme_commands()
    assert "tacfn-robust run protocols/missing_audio.yaml" in install_and_run
    assert "pytest" in install_and_test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install_and_test in ci


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert re.search(rf"\b{command}\b", result.output), command


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("tacfn-robust ")


def test_unknown_command_is_one_line_error_with_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: ") and "no-such-command" in err[0]
    assert "Traceback" not in "\n".join(err)


def test_shipped_protocols_are_package_data() -> None:
    from importlib.resources import files

    names = {p.name for p in files("tacfn_robust.protocols").iterdir()}
    assert {"missing_audio.yaml", "smoke.yaml"} <= names


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (ROOT / ".venv/bin/ruff").exists(),
    reason="ruff not installed",
)
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(ROOT / ".venv/bin/ruff")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    cli = Path(sys.executable).parent / "tacfn-robust"
    result = subprocess.run([str(cli), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"tacfn-robust {version('tacfn-robust')}"


def test_console_script_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tacfn_robust.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "tacfn-robust" in result.stdout
