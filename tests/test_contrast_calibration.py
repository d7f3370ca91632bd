"""Contrast verdicts calibrated through contrast_table: false claims, false equivalence and
interval coverage per contrast kind and scope (docs/statistics.md holds the figures)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scipy import stats

from tacfn_robust.reports.statistics import calibration
from tacfn_robust.reports.statistics.contrasts import KINDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "statistics.md"
HEADER = "| kind | scope | simulated runs (per truth) |"
ALPHA = 0.05
SCOPES = {"clean", "level", "curve"}
TOLERANCE = 0.001  # per rate: a one-sided binomial test at this level (27 rates in all)


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


def _consistent_at_most(rate: float, n: int, bound: float) -> bool:
    """A rate observed over n draws is consistent with a true rate ≤ bound: a one-sided
    binomial test does not reject at TOLERANCE."""
    return bool(stats.binom.sf(round(rate * n) - 1, n, bound) > TOLERANCE)


def _consistent_at_least(rate: float, n: int, bound: float) -> bool:
    """A rate observed over n draws is consistent with a true rate ≥ bound."""
    return bool(stats.binom.cdf(round(rate * n), n, bound) > TOLERANCE)


def test_committed_figures_meet_the_bounds() -> None:
    rows = _committed()
    assert {(r[0], r[1]) for r in rows} == {(k, s) for k in KINDS for s in SCOPES}
    for kind, scope, runs, claims, equivalence, coverage in rows:
        assert int(runs) >= 1000, (kind, scope)
        assert float(claims) <= 0.06 and float(equivalence) <= 0.06, (kind, scope)
        assert 0.93 <= float(coverage) <= 0.97, (kind, scope)


def test_few_draws_are_consistent_with_the_bounds() -> None:
    """80 simulated runs per truth (the committed 1000 are in the slow test): each rate is
    consistent with its bound by a one-sided binomial test at TOLERANCE (coverage counted over
    the 160 runs, one interval per run, which understates the intervals of the level rows)."""
    draws = 80
    rates = calibration.contrast_rates(draws, seed=1)
    assert set(rates["kind"]) == set(KINDS) and set(rates["scope"]) == SCOPES
    for r in rates.itertuples():
        assert _consistent_at_most(r.false_claims, draws, ALPHA), r
        assert _consistent_at_most(r.false_equivalence, draws, ALPHA), r
        assert _consistent_at_least(r.coverage, 2 * draws, 0.93), r
        assert _consistent_at_most(r.coverage, 2 * draws, 0.97), r


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_committed_figures_reproduce() -> None:
    """`python -m tacfn_robust.reports.statistics.calibration` prints exactly the committed
    table."""
    lines = calibration.contrast_lines(1000)
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| kind")]
    assert [[c.strip() for c in line.strip("|").split("|")] for line in table] == _committed()
