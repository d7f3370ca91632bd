"""Statistics: t-intervals, folds as clusters, paired t test, Holm, power, verdicts, Friedman
over independent blocks, McNemar; calibration by simulation with a run-level effect."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tacfn_robust.reports.statistics import calibration
from tacfn_robust.reports.statistics.comparisons import friedman
from tacfn_robust.reports.statistics.contrasts import Contrast, contrast_table
from tacfn_robust.reports.statistics.inference import (
    design_note,
    equivalence_p,
    estimate,
    holm,
    mcnemar_midp,
    mdd,
    mean_interval,
    sample_bootstrap_ci,
    smallest_holm_p,
    t_test_p,
    units_needed,
    verdict,
)

ALPHA = 0.05


def test_holm_hand_computed() -> None:
    # sorted p: .01 .02 .03 .04 -> x4 .04, x3 .06, x2 .06 (monotone), x1 .06
    np.testing.assert_allclose(holm([0.03, 0.01, 0.04, 0.02]), [0.06, 0.04, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.9]), [1.0, np.nan, 1.0])


def test_single_run_bootstrap_over_samples_says_so() -> None:
    labels = np.arange(400) % 4
    preds = np.where(np.arange(400) % 5 == 0, (labels + 1) % 4, labels)  # 80 % right
    ci = sample_bootstrap_ci(labels, preds, "accuracy")
    assert "400 test samples of a single run" in ci.method
    assert ci.low < 0.8 < ci.high and ci.high - ci.low < 0.1
    f1 = sample_bootstrap_ci(labels, preds, "macro_f1")
    assert f1.low < 0.8 < f1.high


def test_mcnemar_midp_hand_computed() -> None:
    # b=1, c=5, n=6: 2*P(X<=1) - P(X=1) = 2*7/64 - 6/64 = 8/64
    assert mcnemar_midp(1, 5) == pytest.approx(8 / 64)
    assert mcnemar_midp(0, 0) == 1.0
    assert mcnemar_midp(4, 4) == 1.0


def _sweep_table(scores: dict[str, np.ndarray], folds: int = 1) -> pd.DataFrame:
    """Long table of per-run scores (seeds x conditions per model), runs spread over folds."""
    rows = []
    for model, grid in scores.items():
        for seed, run in enumerate(grid):
            for c, score in enumerate(run):
                rows.append(
                    {
                        "model": model,
                        "regime": "clean",
                        "seed": seed,
                        "fold": seed % folds,
                        "condition": f"c{c}",
                        "metric": "accuracy",
                        "score": score,
                        "n": 240,
                    }
                )
    return pd.DataFrame(rows)


def test_friedman_blocks_are_runs_not_conditions() -> None:
    rng = np.random.default_rng(0)
    grid = {
        m: base - 0.05 * np.arange(6) + rng.normal(0, 0.01, (4, 6))
        for m, base in (("tacfn", 0.85), ("concat", 0.8), ("audio_only", 0.5))
    }
    table = _sweep_table(grid)
    result = friedman(table, ["tacfn", "concat", "audio_only"])
    assert result is not None and result.n_blocks == 4  # 4 runs, not 6 conditions
    blocks = {m: g.mean(axis=1) for m, g in grid.items()}
    expected = stats.friedmanchisquare(*[blocks[m] for m in sorted(blocks)])
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.mean_ranks["tacfn"] == 1.0 and result.mean_ranks["audio_only"] == 3.0
    assert "independent blocks" in result.method
    assert friedman(table, ["tacfn", "concat"]) is None
    one_run = table[table["seed"] == 0]
    assert friedman(one_run, ["tacfn", "concat", "audio_only"]) is None
    folds = friedman(_sweep_table(grid, folds=2), ["tacfn", "concat", "audio_only"])
    assert folds is not None and folds.n_blocks == 2  # fold means: folds are the clusters


def test_friedman_identical_models_shared_run_effect() -> None:
    """4 identical models, 3 seeds x 6 conditions, run SD 2 points, 400 draws; the full
    2000-draw figure is in test_calibration_over_many_draws."""
    runs, conditions = calibration.friedman_rejection(400, seed=5)
    assert runs <= 0.06 and conditions > 0.2


def test_t_interval_hand_computed() -> None:
    mean, ci = mean_interval(np.array([0.80, 0.83, 0.86]), 0.95)
    half = stats.t.ppf(0.975, 2) * 0.03 / math.sqrt(3)
    assert mean == pytest.approx(0.83)
    assert (ci.low, ci.high) == pytest.approx((0.83 - half, 0.83 + half))
    assert (round(ci.low, 3), round(ci.high, 3)) == (0.755, 0.905)
    assert ci.method == "t-interval over 3 runs (df 2; covers new seeds on these test actors)"
    _, same = mean_interval(np.full(4, 0.8), 0.95)
    assert (same.low, same.high) == (0.8, 0.8) and "all 4 runs equal" in same.method


def test_folds_are_clusters_weighted_by_test_size() -> None:
    values = np.array([0.9, 0.8, 0.6, 0.7])
    folds = np.array([0, 0, 1, 1])
    sizes = np.array([300, 300, 100, 100])
    est = estimate(values, folds, sizes)
    assert est.units == 2 and est.df == 1 and est.what == "fold means"
    assert est.mean == pytest.approx(0.75 * 0.85 + 0.25 * 0.65)
    assert est.se == pytest.approx(math.sqrt(2 * ((0.75 * 0.05) ** 2 + (0.25 * 0.15) ** 2)))
    _, ci = mean_interval(values, 0.95, folds, sizes)
    assert "2 fold means (df 1; covers new actors)" in ci.method
    equal = estimate(values, folds, np.full(4, 100))
    assert equal.se == pytest.approx(np.std([0.85, 0.65], ddof=1) / math.sqrt(2))


def test_paired_t_and_degenerate_cases() -> None:
    d = np.array([0.02, 0.05, 0.03, 0.04])
    est = estimate(d)
    assert t_test_p(est.mean, est.se, est.df) == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert t_test_p(0.03, 0.0, 3) == 0.0 and t_test_p(0.0, 0.0, 3) == 1.0
    assert math.isnan(t_test_p(0.03, float("nan"), 0))


def test_power_mdd_and_units_needed() -> None:
    # at the MDD the two-sided paired t test (6 units, df 5) has 80 % power (noncentral t)
    d = mdd(0.02, 6, 0.05) / 0.02
    crit = stats.t.ppf(0.975, 5)
    power = stats.nct.sf(crit, 5, d * math.sqrt(6)) + stats.nct.cdf(-crit, 5, d * math.sqrt(6))
    assert power == pytest.approx(0.8, abs=1e-3)
    assert math.isnan(mdd(float("nan"), 1, 0.05)) and mdd(0.0, 3, 0.05) == 0.0
    n = units_needed(0.03, 0.05)  # d = 1: 10 pairs
    assert n == 10.0 and units_needed(0.0, 0.05) == 2.0
    assert smallest_holm_p(1) == 1.0 and smallest_holm_p(3) == 0.0
    assert "no comparison can reach a verdict" in design_note(1, 1, [5], 0.95)
    assert "paired t test over 6 fold means (df 5)" in design_note(1, 6, [5], 0.95)


@settings(max_examples=150, deadline=None)
@given(
    diffs=st.lists(
        st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=1, max_size=8),
        min_size=1,
        max_size=6,
    ),
    level=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_verdict_never_contradicts_the_interval(diffs: list[list[float]], level: float) -> None:
    """Whatever the per-run differences of a family, better/worse has a CI that excludes 0."""
    ests = [estimate(np.array(d)) for d in diffs]
    cis = [e.interval(level) for e in ests]
    p_holm = holm(np.array([t_test_p(e.mean, e.se, e.df) for e in ests], dtype=float))
    lows, highs = np.array([c.low for c in cis]), np.array([c.high for c in cis])
    verdicts = verdict(p_holm, lows, highs, 1 - level)
    for v, low, high, p in zip(verdicts, lows, highs, p_holm, strict=True):
        if v in ("better", "worse"):
            assert p < 1 - level and not (low <= 0 <= high)
            assert (v == "better") == (low > 0)


NO_POINTS = pd.DataFrame(
    columns=["model", "regime", "seed", "fold", "sweep", "condition", "value", "score"]
).assign(identity=pd.Series(dtype=bool), source=pd.Series(dtype=object))


@settings(max_examples=12, deadline=None)
@given(
    diffs=st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=2, max_size=5),
    shift=st.floats(-0.1, 0.1, allow_nan=False),
)
def test_contrast_rows_carry_consistent_verdicts(diffs: list[float], shift: float) -> None:
    rows = []
    for c, offset in enumerate((0.0, shift)):
        for seed, d in enumerate(diffs):
            for model, score in (("a", 0.5 + d + offset), ("b", 0.5)):
                rows.append(
                    {"model": model, "regime": "r", "seed": seed, "fold": 0, "score": score}
                    | {"condition": f"c{c}", "n": 10}
                )
    table = pd.DataFrame(rows).assign(metric="uar", sweep="s", value=0.0, identity=False)
    contrast = Contrast.models("a", "b", "r", "a against b")
    out = contrast_table(table, NO_POINTS, [contrast], 0.95, 0.03, metric="uar")
    assert len(out) == 2 and (out["family_size"] == 2).all() and (out["scope"] == "level").all()
    assert out["family"].nunique() == 1 and (out["metric"] == "uar").all()
    for r in out.itertuples():
        assert r.verdict in ("better", "worse", "equivalent", "inconclusive")
        if r.verdict in ("better", "worse"):
            assert r.p_holm < 0.05 and not (r.ci_low <= 0 <= r.ci_high)
        if r.verdict == "equivalent":
            assert r.p_equivalence < 0.05 and -0.03 < r.diff < 0.03
    lows, highs = np.array([-0.1, 0.01, np.nan, -0.01]), np.array([0.1, 0.2, np.nan, 0.01])
    assert list(verdict(np.zeros(4), lows, highs, 0.05, np.array([1, 1, 1, 0.01]))) == [
        "inconclusive",
        "better",
        "inconclusive",
        "equivalent",
    ]


def test_equivalence_p_is_the_larger_one_sided_p() -> None:
    # mean 0.01, se 0.01, df 5, margin 0.03: upper test t = -2 decides
    assert equivalence_p(0.01, 0.01, 5, 0.03) == pytest.approx(stats.t.cdf(-2, 5))
    assert equivalence_p(0.0, 0.0, 5, 0.03) == 0.0 and equivalence_p(0.05, 0.0, 5, 0.03) == 1.0


def test_calibration_small() -> None:
    """Few draws (the default run stays fast); the ≥ 2000-draw figures are in the slow test."""
    assert 0.9 <= calibration.mean_coverage(3, "beta", 600, seed=1) <= 0.99
    assert 0.9 <= calibration.cluster_coverage(5, 3, 600, clustered=True) <= 0.99
    rejects, verdicts = calibration.paired_rates(3, 0.05, 1500, seed=2)
    assert rejects <= 0.07 and verdicts <= rejects
    _, power = calibration.paired_rates(6, 0.0, 600, diff=0.05, seed=3)
    assert power > 0.6


@pytest.mark.slow
def test_calibration_over_many_draws() -> None:
    """docs/statistics.md's figures (`python -m tacfn_robust.reports.statistics.calibration`): 2000
    draws."""
    draws = 2000
    for n in (3, 5, 10):
        for kind in ("normal", "beta"):
            assert 0.93 <= calibration.mean_coverage(n, kind, draws, seed=n) <= 0.97
    assert 0.93 <= calibration.cluster_coverage(5, 3, draws, clustered=True) <= 0.97
    assert calibration.cluster_coverage(5, 3, draws, clustered=False) < 0.9
    for n in (3, 6):
        for sd in (0, 2, 5):
            rejects, verdicts = calibration.paired_rates(n, sd / 100, draws, seed=10 * n + sd)
            assert rejects <= 0.06 and verdicts <= 0.06
            _, family = calibration.paired_rates(
                n, sd / 100, draws, conditions=6, seed=10 * n + sd + 1
            )
            assert family <= 0.06
    runs, _ = calibration.friedman_rejection(draws)
    assert runs <= 0.06
    _, power = calibration.paired_rates(6, 0.02, draws, diff=0.05, seed=102)
    assert 0.45 <= power <= 0.65


def test_null_calibration_mcnemar_midp() -> None:
    """Measured: 0.044 (300 paired samples at 80 % accuracy each, 3000 draws)."""
    rng = np.random.default_rng(2)
    draws, n = 3000, 300
    a = rng.random((draws, n)) < 0.8
    b = rng.random((draws, n)) < 0.8
    only_a = (a & ~b).sum(axis=1)
    only_b = (~a & b).sum(axis=1)
    rate = np.mean([mcnemar_midp(x, y) < ALPHA for x, y in zip(only_a, only_b, strict=True)])
    assert 0.03 <= rate <= 0.07, rate


def test_dry_run_states_what_the_design_can_show(capsys, tmp_path) -> None:
    from tacfn_robust.cli import main

    assert main(["run", "smoke", "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    out = capsys.readouterr().out
    assert "paired t test over 6 runs (df 5); smallest attainable p after Holm 0" in out
    one_seed = ["--set", "seeds=[0]"]
    assert main(["run", "smoke", "--dry-run", "--out", str(tmp_path / "d1"), *one_seed]) == 0
    assert "no comparison can reach a verdict" in capsys.readouterr().out
