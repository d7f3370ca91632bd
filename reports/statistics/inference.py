"""Statistics over runs: t-intervals, paired t tests, Holm, power, verdicts, bootstraps, McNemar.

The unit of replication is the trained model (seed x fold). Runs of one fold share their test
actors, so with two or more folds the folds are the clusters: means and tests use the fold
means (weighted by test size) with folds - 1 degrees of freedom and cover new actors; with
one fold they use the runs and cover new seeds on these test actors. A single run gets a
bootstrap over its test samples, labelled as conditional on that run. Every result carries
its method string and its n.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from tacfn_robust.reports.scoring.metrics import (
    confusions,
    custom_scores,
    get_metric,
    multiclass_from_confusion,
    multilabel_from_confusion,
)

N_SAMPLE_RESAMPLES = 1000
POWER = 0.8
DETECT = 0.03
MAX_UNITS = 10_000
NEEDS_PAIRS = "not computed: needs ≥ 2 paired runs"
SEEDS_POPULATION = "new seeds on these test actors"
ACTORS_POPULATION = "new actors"
VERDICTS = ("better", "worse", "equivalent", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """A confidence interval and how it was computed."""

    low: float
    high: float
    method: str


@dataclass(frozen=True)
class Estimate:
    """A mean over independent units (runs, or fold means) with its SE, df and method."""

    mean: float
    se: float
    df: int
    units: int
    what: str

    def interval(self, level: float) -> Interval:
        """Student t interval at `level`; NaN with fewer than 2 units, zero width with no spread."""
        if self.units < 2:
            return Interval(float("nan"), float("nan"), f"not computed: needs ≥ 2 {self.what}")
        low, high = t_interval(self.mean, self.se, self.df, level)
        if self.se == 0:
            return Interval(
                float(low), float(high), f"no spread: all {self.units} {self.what} equal"
            )
        return Interval(float(low), float(high), f"t-interval over {self.describe()}")

    def describe(self) -> str:
        """Units, df and the population covered, e.g. '3 runs (df 2; new seeds on ...)'."""
        covers = ACTORS_POPULATION if self.what.startswith("fold") else SEEDS_POPULATION
        return f"{self.units} {self.what} (df {self.df}; covers {covers})"

    @property
    def sd(self) -> float:
        """Spread of one unit: SE x sqrt(units)."""
        return self.se * math.sqrt(self.units) if self.units >= 2 else float("nan")


def student(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean, SE and df of equally weighted values along `axis` (vectorised)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    se = (
        values.std(axis=axis, ddof=1) / math.sqrt(n)
        if n > 1
        else np.full(np.delete(values.shape, axis % values.ndim), np.nan)
    )
    return values.mean(axis=axis), se, n - 1


def t_interval(mean: np.ndarray, se: np.ndarray, df: int, level: float) -> tuple:
    """Two-sided Student t interval mean ± t_{df} SE (vectorised)."""
    half = stats.t.ppf(0.5 + level / 2, df) * np.asarray(se) if df >= 1 else np.nan
    return np.asarray(mean) - half, np.asarray(mean) + half


def t_test_p(mean: np.ndarray, se: np.ndarray, df: int) -> np.ndarray:
    """Two-sided p of a one-sample t test that the mean is 0 (vectorised).

    With no spread (SE 0) the difference is exact: p 0 when it is non-zero, 1 when zero.
    """
    mean, se = np.asarray(mean, dtype=float), np.asarray(se, dtype=float)
    if df < 1:
        return np.full(mean.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(mean / se), df)
    return np.where(se > 0, p, np.where(mean != 0, 0.0, 1.0))


def estimate(
    values: np.ndarray, folds: np.ndarray | None = None, sizes: np.ndarray | None = None
) -> Estimate:
    """Mean over runs, with folds as clusters when there are two or more.

    `folds` gives each value's fold and `sizes` its fold's test size. With several folds the
    unit is the fold mean over its seeds, weighted by test size; the SE is the cluster
    (sandwich) SE with folds - 1 df. With one fold the units are the runs.
    """
    values = np.asarray(values, dtype=float)
    if folds is None or len(np.unique(folds)) < 2:
        n = values.size
        if n == 0:
            return Estimate(float("nan"), float("nan"), -1, 0, "runs")
        mean, se, df = student(values)
        return Estimate(float(mean), float(se), df, n, "runs")
    _, first, inverse = np.unique(np.asarray(folds), return_index=True, return_inverse=True)
    m = np.bincount(inverse, weights=values) / np.bincount(inverse)
    w = np.ones(m.size) if sizes is None else np.asarray(sizes, dtype=float)[first]
    w = w / w.sum()
    f = m.size
    mean = float(np.sum(w * m))
    se = math.sqrt(f / (f - 1) * np.sum(w**2 * (m - mean) ** 2))
    return Estimate(mean, se, f - 1, f, "fold means")


def mean_interval(
    values: np.ndarray,
    level: float,
    folds: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
) -> tuple[float, Interval]:
    """Mean over runs (folds as clusters) and its t-interval at `level`."""
    est = estimate(values, folds, sizes)
    return est.mean, est.interval(level)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values along the last axis (step-down, monotone, capped at 1).

    NaN entries are not tests: they stay NaN and do not count in the family size.
    """
    p = np.asarray(pvalues, dtype=float)
    ok = ~np.isnan(p)
    m = ok.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(ok, p, np.inf), axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    factor = m - np.arange(p.shape[-1])
    adjusted = np.fmax.accumulate(np.where(np.isnan(ranked), np.nan, factor * ranked), axis=-1)
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(adjusted, 1.0), axis=-1)
    return np.where(ok, out, np.nan)


def _power(effect: float, units: int, alpha: float) -> float:
    """Power of a two-sided paired t test over `units` for an effect in SDs (noncentral t).

    The opposite tail, where scipy's noncentral t can return NaN, is below 1e-15 there and
    counts as 0.
    """
    df, nc = units - 1, effect * math.sqrt(units)
    crit = stats.t.isf(alpha / 2, df)
    with np.errstate(all="ignore"):
        lower = stats.nct.cdf(-crit, df, nc)
    return float(stats.nct.sf(crit, df, nc) + np.nan_to_num(lower, nan=0.0))


@functools.lru_cache(maxsize=4096)
def _detectable_effect(units: int, alpha: float, power: float) -> float:
    """The effect (in SDs of one unit) a two-sided paired t test detects with `power`."""
    return float(optimize.brentq(lambda e: _power(e, units, alpha) - power, 1e-9, 1e4))


def mdd(sd: float, units: int, alpha: float, power: float = POWER) -> float:
    """Minimum detectable difference of a two-sided paired t test at `alpha` with `power`."""
    if units < 2 or not math.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    return _detectable_effect(int(units), float(alpha), float(power)) * sd


def units_needed(sd: float, alpha: float, delta: float = DETECT, power: float = POWER) -> float:
    """Independent units (≤ MAX_UNITS) a two-sided paired t test needs to detect `delta`.

    NaN without an SD or when even MAX_UNITS are not enough.
    """
    if not math.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 2.0

    def enough(n: int) -> bool:
        return _power(delta / sd, n, alpha) >= power

    high = 2
    while not enough(high):
        if high >= MAX_UNITS:
            return float("nan")
        high = min(2 * high, MAX_UNITS)
    low = max(2, high // 2)
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid + 1, high)
    return float(high)


def smallest_holm_p(units: int) -> float:
    """Smallest p a paired t test over `units` can reach after Holm: 0 (t is unbounded) with
    ≥ 2 units; 1 with fewer (no test)."""
    return 0.0 if units >= 2 else 1.0


def design_note(seeds: int, folds: int, family_sizes: list[int], level: float) -> str:
    """One line on what a planned design can show: units, df, smallest p after Holm, MDD."""
    units, what = (folds, "fold means") if folds >= 2 else (seeds, "runs")
    alpha = 1 - level
    m = max(family_sizes, default=1)
    if units < 2:
        return (
            f"statistics: 1 independent unit ({seeds} seed(s) x {folds} fold(s)); the smallest "
            f"attainable p after Holm is 1 > {alpha:g}: no comparison can reach a verdict"
        )
    d = mdd(1.0, units, alpha / m)
    return (
        f"statistics: paired t test over {units} {what} (df {units - 1}); smallest attainable "
        f"p after Holm 0; over up to {m} conditions a family detects (80 % power) a difference "
        f"of {d:.2f} x the SD of the per-unit differences"
    )


def equivalence_p(mean: np.ndarray, se: np.ndarray, df: int, margin: float) -> np.ndarray:
    """p of the two one-sided t tests (TOST) that the mean lies within ±margin (vectorised).

    With no spread (SE 0) the mean is exact: p 0 when |mean| < margin, else 1.
    """
    mean, se = np.asarray(mean, dtype=float), np.asarray(se, dtype=float)
    if df < 1 or not margin > 0:
        return np.full(mean.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = stats.t.sf((mean + margin) / se, df)
        upper = stats.t.cdf((mean - margin) / se, df)
    return np.where(se > 0, np.maximum(lower, upper), np.where(np.abs(mean) < margin, 0.0, 1.0))


def verdict(
    p_holm: np.ndarray,
    ci_low: np.ndarray,
    ci_high: np.ndarray,
    alpha: float,
    p_equivalence: np.ndarray | None = None,
) -> np.ndarray | str:
    """Better / worse when Holm p < alpha and the CI excludes 0; else equivalent when the
    Holm-adjusted TOST p (`p_equivalence`) < alpha; else inconclusive."""
    p = np.asarray(p_holm, dtype=float)
    low, high = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
    significant = np.nan_to_num(p, nan=1.0) < alpha
    equivalent = (
        np.nan_to_num(np.asarray(p_equivalence, dtype=float), nan=1.0) < alpha
        if p_equivalence is not None
        else np.zeros(p.shape, dtype=bool)
    )
    out = np.where(equivalent, VERDICTS[2], VERDICTS[3])
    out = np.where(significant & (low > 0), VERDICTS[0], out)
    out = np.where(significant & (high < 0), VERDICTS[1], out)
    return out if out.ndim else str(out)


def sample_draws(n: int, seed: int = 0) -> np.ndarray:
    """Bootstrap resamples (N_SAMPLE_RESAMPLES, n) of the indices of n test samples."""
    return np.random.default_rng(seed).integers(0, n, size=(N_SAMPLE_RESAMPLES, n))


def percentile_interval(draws: np.ndarray, level: float, what: str) -> Interval:
    """Percentile CI of bootstrap draws (NaN draws ignored), labelled with what was resampled."""
    alpha = (1 - level) / 2
    draws = np.asarray(draws, dtype=float)
    if np.isnan(draws).all():
        return Interval(float("nan"), float("nan"), f"not computed: undefined in every {what}")
    low, high = np.nanquantile(draws, [alpha, 1 - alpha])
    return Interval(float(low), float(high), f"percentile bootstrap over {what}")


def single_run_what(n: int) -> str:
    return f"{n} test samples of a single run"


def sample_bootstrap_ci(
    labels: np.ndarray, preds: np.ndarray, metric: str, level: float = 0.95, seed: int = 0
) -> Interval:
    """CI of a metric by bootstrap over the test samples of a single run (percentile)."""
    get_metric(metric)
    labels, preds = np.asarray(labels), np.asarray(preds)
    k = int(max(labels.max(initial=0), preds.max(initial=0))) + 1
    draws = sample_draws(labels.size, seed)
    cm = confusions(labels, preds, draws, k)
    scores = multiclass_from_confusion(cm, [])
    if metric not in scores:
        scores = custom_scores(labels, preds, [metric], draws)
    boot = scores[metric]
    return percentile_interval(boot, level, single_run_what(labels.size))


def single_run_scores(
    rows: pd.DataFrame, class_names: list[str], seed: int = 0, extra: Sequence[str] = ()
) -> tuple[dict[str, np.ndarray], int]:
    """Every metric (built-in, plus registered metrics `extra`) of one run x condition over
    bootstrap resamples of its test samples.

    Multilabel rows (a `target` column) are resampled by sample, all targets together.
    Returns (metric -> draws, number of test samples).
    """
    if "target" not in rows.columns:
        labels, preds = rows["label"].to_numpy(), rows["pred"].to_numpy()
        k = max(len(class_names), int(max(labels.max(), preds.max())) + 1)
        draws = sample_draws(len(rows), seed)
        cm = confusions(labels, preds, draws, k)
        scores = multiclass_from_confusion(cm, class_names)
        return {**scores, **custom_scores(labels, preds, extra, draws)}, len(rows)
    wide = rows.pivot_table(index="sample_id", columns="target", values=["label", "pred"])
    draws = sample_draws(len(wide), seed)
    cms = {}
    for k, name in enumerate(class_names):
        if ("label", k) in wide.columns:
            labels = wide[("label", k)].to_numpy(np.int64)
            preds = wide[("pred", k)].to_numpy(np.int64)
            cms[name] = confusions(labels, preds, draws, 2)
    return multilabel_from_confusion(cms), len(wide)


def mcnemar_midp(b: int, c: int) -> float:
    """McNemar mid-p from the discordant counts b (only A right) and c (only B right)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    p = 2 * stats.binom.cdf(k, n, 0.5) - stats.binom.pmf(k, n, 0.5)
    return float(min(p, 1.0))
