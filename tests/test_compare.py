"""`tacfn-robust compare`: a run against the same protocol rerun with train.epochs changed,
checked against a hand computation of the paired differences from both results tables."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tacfn_robust.cli import main

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
BASE = [DATA, "models=[concat]"]


def _run(out: Path, *overrides: str) -> Path:
    args = [a for s in [*BASE, *overrides] for a in ("--set", s)]
    assert main(["run", "smoke", "--out", str(out), *args]) == 0
    return out


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> tuple[Path, Path, dict, str]:
    root = tmp_path_factory.mktemp("compare")
    a = _run(root / "a", "train.epochs=1", "seeds=[0, 1]")
    b = _run(root / "b", "train.epochs=2", "seeds=[0, 1, 2]")
    done = subprocess.run(
        [sys.executable, "-m", "tacfn_robust.cli", "compare", str(a), str(b)]
        + ["--out", str(root / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return a, b, json.loads((root / "out" / "comparison.json").read_text()), done.stdout


def _scores(run: Path) -> pd.DataFrame:
    table = pd.read_csv(run / "results.csv")
    table = table[(table["metric"] == "accuracy") & (table["seed"] < 2)]
    return table.pivot_table(index="seed", columns="condition", values="score")


def _t_test(d: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, interval and two-sided p of paired differences over independent runs (with no
    spread the difference is exact: p 0 when it is non-zero, else 1)."""
    se = d.std(ddof=1) / math.sqrt(len(d))
    half = stats.t.ppf(0.975, len(d) - 1) * se
    if se == 0:
        return d.mean(), d.mean(), d.mean(), 0.0 if d.mean() != 0 else 1.0
    p = 2 * stats.t.sf(abs(d.mean() / se), len(d) - 1)
    return d.mean(), d.mean() - half, d.mean() + half, p


def test_compare_lists_what_differs_and_matches_a_hand_computation(compared) -> None:
    a, b, c, out = compared
    assert "differs: protocol train.epochs: 1 → 2" in out
    differences = c["differences"]
    fields = {d["field"]: (d["a"], d["b"]) for d in differences["protocol"]}
    assert fields["train.epochs"] == (1, 2) and fields["seeds"] == ([0, 1], [0, 1, 2])
    assert differences["cells_only_in_b"] == ["concat/clean/seed2/fold0"]
    assert differences["cells_only_in_a"] == [] and differences["cells_compared"] == 2
    d = _scores(b) - _scores(a)
    rows = {(r["scope"], r["condition"]): r for r in c["contrasts"]}
    assert set(rows) == {
        ("clean", "clean"),
        ("level", "missing[audio].p=0.6"),
        ("level", "missing[audio].p=1"),
        ("curve", "nauc"),
    }
    clean = rows[("clean", "clean")]
    mean, low, high, p = _t_test(d["clean"].to_numpy())
    assert (clean["diff"], clean["ci_low"], clean["ci_high"]) == pytest.approx((mean, low, high))
    assert clean["p_holm"] == pytest.approx(p) and clean["n"] == 2
    levels = [_t_test(d[f"missing[audio].p={x}"].to_numpy()) for x in ("0.6", "1")]
    order = np.argsort([lv[3] for lv in levels])
    holm = np.maximum.accumulate([min(1, (2 - i) * levels[j][3]) for i, j in enumerate(order)])
    for rank, j in enumerate(order):
        row = rows[("level", f"missing[audio].p={('0.6', '1')[j]}")]
        assert row["diff"] == pytest.approx(levels[j][0])
        assert row["p_holm"] == pytest.approx(holm[rank])
    x = np.array([0.0, 0.6, 1.0])
    conditions = ["missing[audio].p=0", "missing[audio].p=0.6", "missing[audio].p=1"]
    nauc = np.trapezoid(d[conditions].to_numpy(), x, axis=1)
    curve = rows[("curve", "nauc")]
    mean, low, high, p = _t_test(nauc)
    assert (curve["diff"], curve["ci_low"], curve["ci_high"]) == pytest.approx((mean, low, high))
    assert curve["verdict"] in ("better", "worse", "equivalent", "inconclusive")
    assert f"concat (clean), whole curve of missing[audio].p: {mean:+.3f}" in out
    page = (b.parent / "out" / "comparison.html").read_text()
    assert "train.epochs: 1 → 2" in page and "whole curve of missing[audio].p (nAUC)" in page
    assert (b.parent / "out" / "comparison.png").stat().st_size > 0


def test_a_run_that_is_not_there_is_one_line(compared, tmp_path, capsys) -> None:
    a = compared[0]
    capsys.readouterr()
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "missing" in err[0]
