"""Contrast verdicts calibrated through contrast_table: false claims, false equivalence and
interval coverage per contrast kind and scope (docs/statistics.md holds the figures)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from reports.statistics import calibration
from reports.statistics.contrasts import KINDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "statistics.md"
HEADER = "| kind | scope | simulated runs (per truth) |"
ALPHA = 0.05
SCOPES = {"clean", "level", "curve"}


def _committed() -> list[list[str]]:
    """The contrast calibration rows of docs/statistics.md."""
    text = DOC.read_text()
    assert HEADER in text, f"{DOC}: no contrast calibration table"
    table = text.split(HEADER, 1)[1].split("\n\n", 1)[0]
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in table.strip().splitlines()[1:]
        if re.match(r"^\| \w", line)
    ]


def _tolerance(rate: float, n: int) -> float:
    """Three binomial standard errors of a rate estimated from n draws."""
    return 3 * math.sqrt(rate * (1 - rate) / n)


def test_committed_figures_meet_the_bounds() -> None:
    rows = _committed()
    assert {(r[0], r[1]) for r in rows} == {(k, s) for k in KINDS for s in SCOPES}
    for kind, scope, runs, claims, equivalence, coverage in rows:
        assert int(runs) >= 1000, (kind, scope)
        assert float(claims) <= 0.06 and float(equivalence) <= 0.06, (kind, scope)
        assert 0.93 <= float(coverage) <= 0.97, (kind, scope)


def test_few_draws_meet_the_bounds_within_three_standard_errors() -> None:
    """80 simulated runs per truth (the committed 1000 are in the slow test): each rate within
    3 binomial SEs (of 80 runs, or 160 intervals for coverage) of its bound."""
    draws = 80
    rates = calibration.contrast_rates(draws, seed=1)
    assert set(rates["kind"]) == set(KINDS) and set(rates["scope"]) == SCOPES
    for r in rates.itertuples():
        assert r.false_claims <= ALPHA + _tolerance(ALPHA, draws), r
        assert r.false_equivalence <= ALPHA + _tolerance(ALPHA, draws), r
        band = _tolerance(0.95, 2 * draws)
        assert 0.93 - band <= r.coverage <= 0.97 + band, r


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_committed_figures_reproduce() -> None:
    """`python -m reports.statistics.calibration` prints exactly the committed table."""
    lines = calibration.contrast_lines(1000)
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| kind")]
    assert [[c.strip() for c in line.strip("|").split("|")] for line in table] == _committed()
