"""The `run` and `protocols` commands through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tacfn.cli import main

CLI = str(Path(sys.executable).parent / "tacfn-robust")


def test_protocols_list_shows_shipped_names_and_descriptions(capsys) -> None:
    assert main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    assert "missing_audio" in out and "Accuracy as more test clips lose their audio" in out
    assert len(out.strip().splitlines()) == 12


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


def test_dry_run_prints_the_grid(capsys, tmp_path: Path) -> None:
    assert main(["run", "smoke", "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    err = capsys.readouterr().err
    assert "12 train cells (12 to run)" in err
    assert "missing[audio].p=0.6" in err
    assert "estimated time:" in err
    assert not (tmp_path / "dry").exists()
