"""Bounded work: a sweep beyond the declared limit is refused before anything trains, and the
report build's memory and time grow by at most the stated cost per test condition."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
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
    for fragment in (str(path), "test.sweeps", f"{count} test conditions", "at most 1500"):
        assert fragment in lines[0]
    assert not (sentinel / "run").exists()


def test_a_sweep_at_the_limit_is_valid(tmp_path: Path) -> None:
    path = _protocol(tmp_path / "edge.yaml", 1499)  # with clean: 1500 conditions
    assert main(["protocols", "validate", str(path)]) == 0


def _measured(command: list[str], log: Path) -> tuple[float, float, float, str]:
    """(peak RSS in MB, CPU seconds, wall seconds, stdout) of `command` in a fresh process."""
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, log.read_text()[-2000:]
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, wall, log.read_text()


def _seconds(estimate: str) -> float:
    """Seconds of the dry run's `estimated time: 83 s` or `5.9 min`."""
    found = re.search(r"estimated time: ([0-9.]+) (s|min)", estimate)
    assert found, estimate[-2000:]
    return float(found[1]) * (60 if found[2] == "min" else 1)


@pytest.mark.slow
def test_memory_and_time_grow_linearly_in_levels_and_the_dry_run_says_so(tmp_path: Path) -> None:
    """Between N and 4N levels, the report build costs at most 0.3 MB and 40 ms of CPU per
    condition (stated: 0.16 MB and 13 ms; docs/reliability.md, Bounded work), and the dry
    run's estimate is within a factor of 3 of the run's wall time."""
    cli = str(Path(sys.executable).parent / "tacfn-robust")
    reports: dict[int, tuple[float, float]] = {}
    for levels in (75, 300):
        run_dir = tmp_path / f"run{levels}"
        protocol = str(_protocol(tmp_path / f"sweep{levels}.yaml", levels))
        log = tmp_path / f"{levels}.log"
        *_, dry = _measured([cli, "run", protocol, "--out", str(run_dir), "--dry-run"], log)
        _, _, wall, _ = _measured([cli, "run", protocol, "--out", str(run_dir)], log)
        assert 1 / 3 <= _seconds(dry) / wall <= 3, (levels, dry[-300:], wall)
        peak, cpu, *_ = _measured([cli, "report", str(run_dir)], log)
        reports[levels] = (peak, cpu)
    (small_mb, small_s), (large_mb, large_s) = reports[75], reports[300]
    assert (large_mb - small_mb) / 225 <= 0.3, reports
    assert (large_s - small_s) / 225 <= 0.04, reports
    assert large_s <= 4 * small_s, reports  # a fixed start-up plus a linear part
