"""`tacfn-robust plan RUN --target-mdd D` on a small simulated run of 2 seeds × 3 folds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_reports_sim import simulate_run

from tacfn_robust.cli import main

LIMITS = {"actors": 12, "max_actors": 24, "max_clips_per_actor": 60}


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TACFN and concat, clean training, seeds 0-1 × folds 0-2, 120 test clips per fold."""
    return simulate_run(
        tmp_path_factory.mktemp("plan") / "run",
        models=["tacfn", "concat"],
        seeds=[0, 1],
        folds=[0, 1, 2],
        n_samples=120,
        dataset_limits=LIMITS,
    )


def test_plan_prints_the_cheapest_design_per_question(run_dir: Path, capsys) -> None:
    assert main(["plan", str(run_dir), "--target-mdd", "0.2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("designs within 24 actors × 60 clips per actor (the data set's")
    assert out[1] == "tacfn against each fusion model:"
    lines = {line.split(": ", 1)[0].strip(): line for line in out[2:]}
    assert set(lines) == {
        "tacfn − concat | clean, every level of missing[audio].p",
        "tacfn − concat | clean, whole curve of missing[audio].p",
    }
    for line in lines.values():
        found = re.search(
            r": (\d+) seed\(s\) × (\d+) folds of (\d+) test actors .* = (\d+) cells", line
        )
        assert found, line
        seeds, folds, actors, cells = map(int, found.groups())
        assert cells == seeds * folds * 2 and folds * actors <= 24
        assert float(re.search(r"predicted MDD ([0-9.]+)", line).group(1)) <= 0.2


def test_a_target_no_design_reaches_names_the_floor(run_dir: Path, capsys) -> None:
    assert main(["plan", str(run_dir), "--target-mdd", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "every level of missing[audio].p: none; the floor that more seeds cannot pass" in out
    assert "within the data set's 24 actors" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target-mdd", "0"], "error: --target-mdd: 0.0; expected a finite number > 0"),
        (["--target-mdd", "-0.1"], "error: --target-mdd: -0.1; expected a finite number > 0"),
        (["--target-mdd", "nan"], "error: --target-mdd: nan; expected a finite number > 0"),
        (["--target-mdd", "inf"], "error: --target-mdd: inf; expected a finite number > 0"),
    ],
)
def test_bad_targets_are_one_line_errors(run_dir: Path, capsys, args, message) -> None:
    assert main(["plan", str(run_dir), *args]) == 2
    err = capsys.readouterr().err
    assert err.strip() == message


def test_no_run_dir_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["plan", str(tmp_path / "absent"), "--target-mdd", "0.05"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no such directory" in err and "\n" not in err
