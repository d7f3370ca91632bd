"""Bounded work: a sweep beyond the declared limit is refused before anything trains, and the
report build's memory and time grow by at most the stated cost per test condition."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tacfn_robust.cli import main

DATA = "{name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"


def _protocol(path: Path, levels: int, joint: bool = False) -> Path:
    """A one-cell protocol (concat, one seed, one fold, one epoch, tiny data) whose test sweep
    has `levels` probabilities of missing audio (with `joint`, audio x video, levels each)."""
    values = ", ".join(repr(round(i / (levels - 1), 6)) for i in range(levels))
    sweep = f"{{corruption: missing, modality: audio, values: [{values}]}}"
    if joint:
        video = sweep.replace("audio", "video")
        sweep = f"{{joint: [{sweep}, {video}]}}"
    path.write_text(
        f"name: {path.stem}\ndataset: {DATA}\nmodels: [concat]\ntrain: {{epochs: 1}}\n"
        f"test:\n  sweeps:\n    - {sweep}\nseeds: [0]\nfolds: [0]\n"
    )
    return path


@pytest.mark.parametrize(
    ("levels", "joint", "count"), [(10_000, False, "10001"), (100, True, "10001")]
)
@pytest.mark.parametrize("command", ["validate", "dry-run"])
def test_a_sweep_beyond_the_limit_is_refused_in_one_line(
    sentinel: Path, capsys, levels: int, joint: bool, count: str, command: str
) -> None:
    path = _protocol(sentinel / "huge.yaml", levels, joint)
    args = (
        ["protocols", "validate", str(path)]
        if command == "validate"
        else ["run", str(path), "--dry-run", "--out", "run"]
    )
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, lines
    for fragment in (str(path), "test.sweeps", f"{count} test conditions", "at most 2000"):
        assert fragment in lines[0]
    assert not (sentinel / "run").exists()


def test_a_sweep_at_the_limit_is_valid(tmp_path: Path) -> None:
    from tacfn_robust.protocols.schema import MAX_CONDITIONS

    path = _protocol(tmp_path / "edge.yaml", MAX_CONDITIONS - 1)
    assert main(["protocols", "validate", str(path)]) == 0


def _measured(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a command run in a fresh process."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, child.stderr.read() if child.stderr else ""
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


@pytest.mark.slow
def test_report_memory_and_time_grow_at_most_linearly_in_levels(tmp_path: Path) -> None:
    """Per test condition of a cell, the report build costs at most the stated 40 kB of peak
    memory and 60 ms of CPU (docs/reliability.md, Bounded work), measured between N and 4N."""
    runs: dict[int, tuple[float, float]] = {}
    for levels in (100, 400):
        run_dir = tmp_path / f"run{levels}"
        protocol = _protocol(tmp_path / f"sweep{levels}.yaml", levels)
        assert main(["run", str(protocol), "--out", str(run_dir)]) == 0
        build = f"from tacfn_robust.reports import build_report; build_report({str(run_dir)!r})"
        runs[levels] = _measured([sys.executable, "-c", build])
    (small_mb, small_s), (large_mb, large_s) = runs[100], runs[400]
    per_level_mb, per_level_s = (large_mb - small_mb) / 300, (large_s - small_s) / 300
    assert per_level_mb <= 0.04, runs
    assert per_level_s <= 0.06, runs
    assert large_s <= 4 * small_s, runs  # a fixed start-up plus a linear part
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < 2048
