"""Statistics: Holm, bootstrap coverage, paired tests, McNemar, Friedman, null calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.stats import (
    bootstrap_ci,
    friedman,
    holm,
    mcnemar_midp,
    paired_p,
    permutation_p,
    sample_bootstrap_ci,
    wilcoxon_p,
)

ALPHA = 0.05


def test_holm_hand_computed() -> None:
    # sorted p: .01 .02 .03 .04 -> x4 .04, x3 .06, x2 .06 (monotone), x1 .06
    np.testing.assert_allclose(holm([0.03, 0.01, 0.04, 0.02]), [0.06, 0.04, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.9]), [1.0, np.nan, 1.0])


def test_bootstrap_ci_degenerate_and_method() -> None:
    same = bootstrap_ci(np.full(4, 0.8))
    assert (same.low, same.high) == (0.8, 0.8) and "all 4 runs equal" in same.method
    ci = bootstrap_ci(np.array([0.80, 0.82, 0.85, 0.79, 0.83]))
    assert ci.method == "BCa bootstrap over 5 runs"
    assert 0.79 <= ci.low < 0.818 < ci.high <= 0.85


def test_single_run_bootstrap_over_samples_says_so() -> None:
    labels = np.arange(400) % 4
    preds = np.where(np.arange(400) % 5 == 0, (labels + 1) % 4, labels)  # 80 % right
    ci = sample_bootstrap_ci(labels, preds, "accuracy")
    assert "400 test samples of a single run" in ci.method
    assert ci.low < 0.8 < ci.high and ci.high - ci.low < 0.1
    f1 = sample_bootstrap_ci(labels, preds, "macro_f1")
    assert f1.low < 0.8 < f1.high


def test_bootstrap_ci_coverage() -> None:
    """BCa over 10 runs covers the true mean in 0.88 of 150 draws (measured; BCa
    undercovers a little at small n)."""
    rng = np.random.default_rng(1)
    draws = 150
    hits = 0
    for i in range(draws):
        ci = bootstrap_ci(rng.normal(0.8, 0.03, 10), seed=i)
        hits += ci.low <= 0.8 <= ci.high
    assert 0.85 <= hits / draws <= 0.99


def test_paired_p_switches_method_with_n() -> None:
    a, b = np.array([0.8, 0.82, 0.85, 0.81, 0.86]), np.array([0.7, 0.71, 0.75, 0.72, 0.74])
    p, method = paired_p(a, b)
    assert "exact paired permutation" in method and "smallest attainable p = 0.0625" in method
    assert p == pytest.approx(2 / 32)  # all five differences positive: only 2 of 32 flips
    p6, method6 = paired_p(np.append(a, 0.9), np.append(b, 0.8))
    assert method6.startswith("Wilcoxon") and p6 == pytest.approx(
        stats.wilcoxon(np.append(a, 0.9), np.append(b, 0.8)).pvalue
    )
    assert wilcoxon_p(a, a) == 1.0


def test_mcnemar_midp_hand_computed() -> None:
    # b=1, c=5, n=6: 2*P(X<=1) - P(X=1) = 2*7/64 - 6/64 = 8/64
    assert mcnemar_midp(1, 5) == pytest.approx(8 / 64)
    assert mcnemar_midp(0, 0) == 1.0
    assert mcnemar_midp(4, 4) == 1.0


def test_friedman_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for c in range(6):
        for m, base in (("tacfn", 0.85), ("concat", 0.8), ("audio_only", 0.5)):
            rows.append(
                {
                    "model": m,
                    "regime": "clean",
                    "condition": f"c{c}",
                    "metric": "accuracy",
                    "score": base - 0.05 * c + rng.normal(0, 0.01),
                }
            )
    table = pd.DataFrame(rows)
    result = friedman(table, ["tacfn", "concat", "audio_only"])
    assert result is not None and result.n_blocks == 6
    blocks = table.pivot(index="condition", columns="model", values="score")
    expected = stats.friedmanchisquare(*[blocks[m] for m in blocks.columns])
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.mean_ranks["tacfn"] == 1.0 and result.mean_ranks["audio_only"] == 3.0
    assert result.nemenyi.loc["tacfn", "audio_only"] < 0.05
    assert friedman(table, ["tacfn", "concat"]) is None


def _null_rate(test, n: int, draws: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(draws):
        a = rng.normal(0.8, 0.02, n)
        b = rng.normal(0.8, 0.02, n)
        rejected += test(a, b) < ALPHA
    return rejected / draws


def test_null_calibration_wilcoxon() -> None:
    """Measured: 0.043 (n=10 paired runs, 1500 draws)."""
    rate = _null_rate(wilcoxon_p, 10, 1500, 0)
    assert 0.025 <= rate <= 0.07, rate


def test_null_calibration_permutation() -> None:
    """Measured: 0.045 (n=10 paired runs, exact 1024 sign flips, 400 draws)."""
    rate = _null_rate(permutation_p, 10, 400, 1)
    assert 0.02 <= rate <= 0.07, rate


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
