"""`tacfn-robust data synth` and `data export` end to end through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from tacfn.data.names import parse_name
from tacfn_robust.cli import main


def test_synth_builds_then_hits_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "data",
        "synth",
        "--out",
        str(tmp_path),
        "--actors",
        "1",
        "--frames",
        "4",
        "--size",
        "16",
        "--duration",
        "0.5",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "synthetic: 60 clips, 1 actors" in first
    assert "neutral 4, calm 8" in first and "video (3, 4, 16, 16)" in first
    assert "audio (8000,)" in first and str(tmp_path) in first and "(built)" in first
    assert main(args) == 0
    assert "(hit)" in capsys.readouterr().out


def test_export_writes_ravdess_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TACFN_ROBUST_CACHE", str(tmp_path / "cache"))
    assert (
        main(
            [
                "data",
                "export",
                "--format",
                "ravdess",
                str(tmp_path / "out"),
                "--actors",
                "1",
                "--size",
                "16",
                "--frames",
                "4",
                "--duration",
                "0.5",
            ]
        )
        == 0
    )
    assert "wrote 60 clips for 1 actors" in capsys.readouterr().out
    files = sorted((tmp_path / "out" / "Actor_01").glob("*.mp4"))
    assert len(files) == 60
    assert sorted({parse_name(f).emotion for f in files}) == list(range(1, 9))


def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "export", "--format", "mosei", str(tmp_path)]) == 2
    assert "'mosei' is not one of 'ravdess'" in capsys.readouterr().err
    assert main(["data", "synth", "--out", str(tmp_path), "--actors", "30"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: synthetic data set: actors=30; expected 1..24"
    )
