"""Statistics over runs: t-intervals, paired t tests, Holm, power, verdicts, Friedman, McNemar.

The unit of replication is the trained model (seed x fold). Runs of one fold share their test
actors, so with two or more folds the folds are the clusters: means and tests use the fold
means (weighted by test size) with folds - 1 degrees of freedom and cover new actors; with
one fold they use the runs and cover new seeds on these test actors. A single run gets a
bootstrap over its test samples, labelled as conditional on that run. Every result carries
its method string and its n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy import optimize, stats

from reports.metrics import (
    confusions,
    get_metric,
    multiclass_from_confusion,
    multilabel_from_confusion,
)
from reports.table import CONDITION_COLUMNS

N_SAMPLE_RESAMPLES = 1000
POWER = 0.8
DETECT = 0.03
MAX_UNITS = 10_000
NEEDS_PAIRS = "not computed: needs ≥ 2 paired runs"
SEEDS_POPULATION = "new seeds on these test actors"
ACTORS_POPULATION = "new actors"
VERDICTS = ("better", "worse", "no detectable difference")


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
    frame = pd.DataFrame(
        {"v": values, "fold": folds, "w": 1.0 if sizes is None else np.asarray(sizes, float)}
    )
    by_fold = frame.groupby("fold").agg(v=("v", "mean"), w=("w", "first"))
    w = by_fold["w"].to_numpy() / by_fold["w"].sum()
    m = by_fold["v"].to_numpy()
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


def mdd(sd: float, units: int, alpha: float, power: float = POWER) -> float:
    """Minimum detectable difference of a two-sided paired t test at `alpha` with `power`."""
    if units < 2 or not math.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    d = optimize.brentq(lambda e: _power(e, units, alpha) - power, 1e-9, 1e4)
    return float(d) * sd


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


def planned_design(cells: list, conditions: list, level: float) -> str:
    """design_note of a planned grid: train cells (.seed, .fold) and test conditions (.sweep)."""
    sweeps = pd.Series([c.sweep for c in conditions], dtype=object).value_counts()
    return design_note(
        len({c.seed for c in cells}), len({c.fold for c in cells}), sweeps.tolist(), level
    )


def verdict(
    p_holm: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray, alpha: float
) -> np.ndarray | str:
    """Better / worse when Holm p < alpha and the CI excludes 0; else no detectable difference."""
    p = np.asarray(p_holm, dtype=float)
    low, high = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
    significant = np.nan_to_num(p, nan=1.0) < alpha
    out = np.where(significant & (low > 0), VERDICTS[0], VERDICTS[2])
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
    cm = confusions(labels, preds, sample_draws(labels.size, seed), k)
    boot = multiclass_from_confusion(cm, [])[metric]
    return percentile_interval(boot, level, single_run_what(labels.size))


def single_run_scores(
    rows: pd.DataFrame, class_names: list[str], seed: int = 0
) -> tuple[dict[str, np.ndarray], int]:
    """Every metric of one run x condition over bootstrap resamples of its test samples.

    Multilabel rows (a `target` column) are resampled by sample, all targets together.
    Returns (metric -> draws, number of test samples).
    """
    if "target" not in rows.columns:
        labels, preds = rows["label"].to_numpy(), rows["pred"].to_numpy()
        k = max(len(class_names), int(max(labels.max(), preds.max())) + 1)
        cm = confusions(labels, preds, sample_draws(len(rows), seed), k)
        return multiclass_from_confusion(cm, class_names), len(rows)
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


def condition_means(
    table: pd.DataFrame,
    predictions: pd.DataFrame,
    level: float = 0.95,
    class_names: list[str] | None = None,
) -> pd.DataFrame:
    """Mean over runs of every (model, regime, condition, metric), with its CI, method and n.

    Folds are clusters weighted by test size; n_samples is the test size summed over folds.
    With one run the CI is a percentile bootstrap over that run's test samples. `realised`
    (the share a missing corruption removed) differs between runs, so it is their mean, not
    a key: one row per condition.
    """
    keys = ["model", "regime", *[c for c in CONDITION_COLUMNS if c != "realised"], "metric"]
    run_keys = ["model", "regime", "seed", "fold", "condition"]
    by_run = predictions.groupby(run_keys, sort=False)
    single: dict[tuple, tuple[dict[str, np.ndarray], int]] = {}
    rows = []
    for key, g in table.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key, strict=True))
        scores = g["score"].to_numpy()
        mean, ci = mean_interval(scores, level, g["fold"].to_numpy(), g["n"].to_numpy())
        if len(g) == 1:
            run = tuple(g.iloc[0][run_keys])
            if run not in single:
                single[run] = single_run_scores(by_run.get_group(run), class_names or [])
            draws, n = single[run]
            ci = percentile_interval(draws[row["metric"]], level, single_run_what(n))
        std = float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan")
        rows.append(
            {
                **row,
                "realised": float(g["realised"].mean()) if g["realised"].notna().any() else None,
                "mean": mean,
                "std": std,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "ci_method": ci.method,
                "n": len(scores),
                "n_samples": int(g.drop_duplicates("fold")["n"].sum()),
            }
        )
    return pd.DataFrame(rows)


def _pairs(table: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Runs of models a and b paired by (regime, seed, fold, condition), with a's test size n."""
    keys = ["regime", "seed", "fold", "condition"]
    left = table[table["model"] == a].set_index(keys)[["score", "n"]].rename(columns={"score": "a"})
    right = table[table["model"] == b].set_index(keys)["score"].rename("b")
    return pd.concat([left, right], axis=1, join="inner").reset_index()


def _correct(predictions: pd.DataFrame, a: str, b: str, regime: str, condition: str):
    """Per-sample correctness of models a and b, joined on (seed, fold, sample_id[, target])."""
    keys = ["seed", "fold", "sample_id"] + (["target"] if "target" in predictions else [])
    sel = predictions[(predictions["regime"] == regime) & (predictions["condition"] == condition)]
    right = {
        m: sel[sel["model"] == m].assign(ok=lambda f: f["label"] == f["pred"]).set_index(keys)["ok"]
        for m in (a, b)
    }
    return pd.concat([right[a].rename("a"), right[b].rename("b")], axis=1, join="inner")


def _discordant(joined: pd.DataFrame) -> tuple[int, int]:
    """Pooled per-sample McNemar counts (b: only a right, c: only b right) over paired runs."""
    return int((joined["a"] & ~joined["b"]).sum()), int((~joined["a"] & joined["b"]).sum())


def _sample_diff_ci(joined: pd.DataFrame, level: float) -> Interval:
    """CI of the accuracy difference a - b of one paired run, by bootstrap over its samples."""
    per_sample = joined.astype(float).groupby(level="sample_id").mean()
    diff = (per_sample["a"] - per_sample["b"]).to_numpy()
    draws = diff[sample_draws(diff.size)].mean(axis=1)
    what = f"{diff.size} paired test samples of a single run per model"
    return percentile_interval(draws, level, what)


def paired_comparisons(
    table: pd.DataFrame,
    predictions: pd.DataFrame,
    focus: str,
    others: list[str],
    level: float = 0.95,
    metric: str = "accuracy",
) -> pd.DataFrame:
    """Focus model vs each other model per regime and condition, on per-run differences.

    Primary: paired t test and t-interval of the per-run differences (same seed and fold;
    fold means when there are several folds), Holm across the conditions of each sweep
    (family: other model x regime x sweep) at alpha = 1 - level, then the verdict, the MDD
    at 80 % power at the first Holm step (alpha / family size), the units needed for a
    3-point difference and the smallest attainable p after Holm. McNemar mid-p on pooled
    predictions is conditional on these trained models and never drives a verdict. With one
    paired run the CI is a paired bootstrap over test samples and no test is computed.
    """
    alpha = 1 - level
    scores = table[table["metric"] == metric]
    conditions = scores[["condition", "sweep", "value"]].drop_duplicates("condition")
    rows = []
    for other in others:
        pairs = _pairs(scores, focus, other)
        for (regime, condition), g in pairs.groupby(["regime", "condition"], sort=True):
            diff = (g["a"] - g["b"]).to_numpy()
            est = estimate(diff, g["fold"].to_numpy(), g["n"].to_numpy())
            joined = _correct(predictions, focus, other, regime, condition)
            if len(g) == 1 and metric == "accuracy":
                ci = _sample_diff_ci(joined, level)
            else:
                ci = est.interval(level)
            p = float(t_test_p(est.mean, est.se, est.df)) if est.units >= 2 else float("nan")
            method = f"paired t test over {est.describe()}" if est.units >= 2 else NEEDS_PAIRS
            b, c = _discordant(joined)
            rows.append(
                {
                    "model_a": focus,
                    "model_b": other,
                    "regime": regime,
                    "condition": condition,
                    "metric": metric,
                    "n": len(g),
                    "units": est.units,
                    "mean_diff": est.mean,
                    "sd_diff": est.sd,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "ci_method": ci.method,
                    "p": p,
                    "p_method": method,
                    "mcnemar_b": b,
                    "mcnemar_c": c,
                    "mcnemar_midp": mcnemar_midp(b, c),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out = out.merge(conditions, on="condition", how="left")
    out["p_holm"] = np.nan
    out["family_size"] = 0
    for _, idx in out.groupby(["model_b", "regime", "sweep"]).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"].to_numpy())
        out.loc[idx, "family_size"] = len(idx)
    first_step = alpha / out["family_size"]
    out["verdict"] = verdict(out["p_holm"], out["ci_low"], out["ci_high"], alpha)
    out["mdd"] = [
        mdd(s, u, a) for s, u, a in zip(out["sd_diff"], out["units"], first_step, strict=True)
    ]
    out["units_for_3pt"] = [
        units_needed(s, a) for s, a in zip(out["sd_diff"], first_step, strict=True)
    ]
    out["min_p"] = [smallest_holm_p(u) for u in out["units"]]
    return out


@dataclass(frozen=True)
class Friedman:
    """Friedman test over independent blocks (runs or folds) and Nemenyi post-hoc."""

    statistic: float
    p: float
    n_blocks: int
    models: list[str]
    mean_ranks: pd.Series
    nemenyi: pd.DataFrame
    method: str


FRIEDMAN_NEEDS = (
    "Not computed: the Friedman test and critical-difference diagram need ≥ 3 models and "
    "≥ 2 independent blocks (runs, or folds), each run's score averaged over its conditions; "
    "the conditions of one sweep come from the same trained runs and are not independent blocks."
)


def _blocks(scores: pd.DataFrame) -> pd.DataFrame:
    """Independent blocks x models: each run's score averaged over its conditions; with
    several folds per regime, the fold means over seeds."""
    per_run = scores.groupby(["model", "regime", "seed", "fold"])["score"].mean().reset_index()
    by_fold = per_run.groupby("regime")["fold"].transform("nunique") >= 2
    clustered = per_run[by_fold].groupby(["model", "regime", "fold"])["score"].mean()
    clustered = clustered.reset_index().assign(seed=-1)
    blocks = pd.concat([per_run[~by_fold], clustered], ignore_index=True)
    return blocks.pivot_table(
        index=["regime", "seed", "fold"], columns="model", values="score"
    ).dropna()


def friedman(table: pd.DataFrame, models: list[str], metric: str = "accuracy") -> Friedman | None:
    """Friedman over independent blocks; None when fewer than 3 models or 2 complete blocks."""
    scores = table[(table["metric"] == metric) & table["model"].isin(models)]
    blocks = _blocks(scores)
    if blocks.shape[1] < 3 or blocks.shape[0] < 2:
        return None
    res = stats.friedmanchisquare(*[blocks[m].to_numpy() for m in blocks.columns])
    ranks = blocks.rank(axis=1, ascending=False).mean()
    nemenyi = sp.posthoc_nemenyi_friedman(blocks.to_numpy())
    nemenyi.index = nemenyi.columns = list(blocks.columns)
    return Friedman(
        statistic=float(res.statistic),
        p=float(res.pvalue),
        n_blocks=int(blocks.shape[0]),
        models=list(blocks.columns),
        mean_ranks=ranks,
        nemenyi=nemenyi,
        method=(
            f"Friedman chi-square over {blocks.shape[0]} independent blocks (runs, or fold "
            f"means with several folds; each the mean {metric} over the run's conditions), "
            f"{blocks.shape[1]} models; Nemenyi post-hoc"
        ),
    )


def probability_of_improvement(
    table: pd.DataFrame,
    focus: str,
    others: list[str],
    metric: str = "accuracy",
    level: float = 0.95,
) -> pd.DataFrame:
    """P(focus beats other): per run, the share of conditions won (ties 1/2); mean over runs
    with a t-interval (folds as clusters)."""
    scores = table[table["metric"] == metric]
    rows = []
    for other in others:
        pairs = _pairs(scores, focus, other)
        if pairs.empty:
            continue
        pairs["win"] = (pairs["a"] > pairs["b"]) + 0.5 * (pairs["a"] == pairs["b"])
        per_run = pairs.groupby(["regime", "seed", "fold"]).agg(
            win=("win", "mean"), n=("n", "first")
        )
        per_run = per_run.reset_index()
        est = estimate(per_run["win"].to_numpy(), per_run["fold"].to_numpy(), per_run["n"])
        ci = est.interval(level)
        rows.append(
            {
                "model_a": focus,
                "model_b": other,
                "probability": est.mean,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": len(per_run),
                "method": f"per run, the share of conditions where {focus} > {other} (ties "
                f"1/2), averaged over {len(per_run)} runs; CI: {ci.method}",
            }
        )
    return pd.DataFrame(rows)
