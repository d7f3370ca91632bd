"""The `run` and `protocols` commands through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tacfn_robust.cli import main

CLI = str(Path(sys.executable).parent / "tacfn-robust")


def test_protocols_list_shows_shipped_names_and_descriptions(capsys) -> None:
    assert main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    assert "missing_audio" in out and "Accuracy as more test clips lose their audio" in out
    assert len(out.strip().splitlines()) == 13


def test_protocols_show_fills_defaults(capsys) -> None:
    assert main(["protocols", "show", "smoke"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# hash: ")
    data = yaml.safe_load(out)
    assert data["train"]["epochs"] == 8
    assert data["train"]["optimizer"] == "adam"


def test_protocols_schema_is_json_schema(capsys) -> None:
    assert main(["protocols", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Protocol"
    assert "models" in schema["required"]


def test_validate_reports_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nmodels: [tacfn]\ntrain: {epoch: 3}\n")
    done = subprocess.run([CLI, "protocols", "validate", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}: train.epoch: unknown key 'epoch'")
    assert "did you mean 'epochs'?" in lines[0]


def test_bad_set_on_run_exits_2(capsys) -> None:
    assert main(["run", "smoke", "--set", "train.epochs=zero"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: smoke.yaml with --set train.epochs=zero: train.epochs:")


def test_dry_run_prints_the_grid_on_stdout(capsys, tmp_path: Path) -> None:
    assert main(["run", "smoke", "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    out = capsys.readouterr().out
    assert "12 train cells (12 to run)" in out
    assert "missing[audio].p=0.6" in out
    assert "estimated time:" in out
    assert not (tmp_path / "dry").exists()


def test_short_help_on_every_level() -> None:
    for args in ([], ["run"], ["protocols", "list"], ["data", "export"], ["baseline", "save"]):
        done = subprocess.run([CLI, *args, "-h"], capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stderr)
        assert "Usage: tacfn-robust" in done.stdout


def test_parser_validates_choices(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "run", "smoke", "--executor", "bogus", "--dry-run", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "'bogus' is not one of 'local', 'dask'" in done.stderr
    assert done.stdout == "" and not (tmp_path / "x").exists()


def test_debug_is_accepted_after_the_subcommand(capsys) -> None:
    assert main(["protocols", "list", "--debug"]) == 0
    assert "missing_audio" in capsys.readouterr().out


def test_unknown_registry_names_suggest_the_closest(capsys) -> None:
    assert main(["corruptions", "gausian_snr"]) == 2
    assert "did you mean 'gaussian_snr'?" in capsys.readouterr().err
    assert main(["models", "--preset", "cpuu"]) == 2
    assert "did you mean 'cpu'?" in capsys.readouterr().err
    assert main(["run", "smoke", "--set", "dataset.name=synthetik", "--dry-run"]) == 2
    assert "did you mean 'synthetic'?" in capsys.readouterr().err
    assert main(["run", "smok", "--dry-run"]) == 2
    assert "did you mean 'smoke'?" in capsys.readouterr().err


def test_corruptions_table_fits_80_columns() -> None:
    done = subprocess.run(
        [CLI, "corruptions"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}
    )
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert any(line.split()[:2] == ["lowpass", "waveform"] for line in lines if line.strip())


def test_shell_completion_is_offered() -> None:
    done = subprocess.run([CLI, "--help"], capture_output=True, text=True)
    assert "--install-completion" in done.stdout and "--show-completion" in done.stdout
