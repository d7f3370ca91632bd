"""The MDD formula of benchmarks.mdd against a hand-computed value and a Monte Carlo power."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from benchmarks.mdd import mdd, runs_for


def test_mdd_matches_the_t_quantile_formula() -> None:
    # (t_0.975,9 + t_0.8,9) / sqrt(10) = (2.2622 + 0.8834) / 3.1623
    assert math.isclose(mdd(1.0, 10), 0.99472, abs_tol=1e-4)
    assert mdd(0.05, 1) == math.inf


def test_runs_for_is_the_smallest_n_reaching_the_target() -> None:
    n = runs_for(0.05, 0.05)
    assert mdd(0.05, n) <= 0.05 < mdd(0.05, n - 1)


def test_a_true_difference_of_one_mdd_is_detected_about_80_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    n, sd = 12, 0.04
    diffs = rng.normal(mdd(sd, n), sd, size=(4000, n))
    p = stats.ttest_1samp(diffs, 0.0, axis=1).pvalue
    assert 0.75 < float(np.mean(p < 0.05)) < 0.85
