"""Statistics over runs: bootstrap CIs, paired tests, Holm, Friedman + Nemenyi, P(improvement).

The unit of replication is the trained model (seed x fold). Every result carries its
method string and its n.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy import stats

from reports.metrics import (
    confusions,
    get_metric,
    multiclass_from_confusion,
    multilabel_from_confusion,
)
from reports.table import CONDITION_COLUMNS

N_RESAMPLES = 2000
N_SAMPLE_RESAMPLES = 1000
WILCOXON_MIN_N = 6
NEEDS_PAIRS = "not computed: needs ≥ 2 paired runs"


@dataclass(frozen=True)
class Interval:
    """A confidence interval and how it was computed."""

    low: float
    high: float
    method: str


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, seed: int = 0, unit: str = "runs"
) -> Interval:
    """CI of the mean of `values` over `unit`: BCa, percentile where BCa is degenerate.

    One value has no interval (NaN, the method says so); equal values a zero-width one.
    """
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return Interval(float("nan"), float("nan"), f"no {unit}")
    if n == 1:
        return Interval(float("nan"), float("nan"), f"not computed: needs ≥ 2 {unit}")
    if np.all(values == values[0]):
        v = float(values[0])
        return Interval(v, v, f"no spread: all {n} {unit} equal")
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (values,),
                np.mean,
                confidence_level=level,
                n_resamples=N_RESAMPLES,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = res.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return Interval(float(low), float(high), f"{method} bootstrap over {n} {unit}")
    return Interval(float("nan"), float("nan"), f"bootstrap failed over {n} {unit}")


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


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * q[order])
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    out[ok] = result
    return out


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p for paired runs (1.0 when every difference is zero)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)


def permutation_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact paired permutation test of the mean difference (sign flips)."""
    res = stats.permutation_test(
        (np.asarray(a, dtype=float), np.asarray(b, dtype=float)),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(min(res.pvalue, 1.0))


def paired_p(a: np.ndarray, b: np.ndarray) -> tuple[float, str]:
    """p-value for paired runs: Wilcoxon signed-rank when n >= 6, exact permutation when n >= 2."""
    n = len(a)
    if n < 2:
        return float("nan"), NEEDS_PAIRS
    if n >= WILCOXON_MIN_N:
        return wilcoxon_p(a, b), f"Wilcoxon signed-rank, two-sided, n={n} paired runs"
    smallest = 2 / 2**n
    return (
        permutation_p(a, b),
        f"exact paired permutation test, two-sided, n={n} paired runs "
        f"(smallest attainable p = {smallest:.3g})",
    )


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

    With one run the CI is a percentile bootstrap over that run's test samples.
    """
    keys = ["model", "regime", *CONDITION_COLUMNS, "metric"]
    run_keys = ["model", "regime", "seed", "fold", "condition"]
    by_run = predictions.groupby(run_keys, sort=False)
    single: dict[tuple, tuple[dict[str, np.ndarray], int]] = {}
    rows = []
    for key, g in table.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key, strict=True))
        scores = g["score"].to_numpy()
        if len(g) == 1:
            run = tuple(g.iloc[0][run_keys])
            if run not in single:
                single[run] = single_run_scores(by_run.get_group(run), class_names or [])
            draws, n = single[run]
            ci = percentile_interval(draws[row["metric"]], level, single_run_what(n))
        else:
            ci = bootstrap_ci(scores, level)
        std = float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan")
        rows.append(
            {
                **row,
                "mean": float(np.mean(scores)),
                "std": std,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "ci_method": ci.method,
                "n": len(scores),
                "n_samples": int(g["n"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def _pairs(table: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Runs of models a and b paired by (regime, seed, fold, condition)."""
    keys = ["regime", "seed", "fold", "condition"]
    left = table[table["model"] == a].set_index(keys)["score"].rename("a")
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
    """Focus model vs each other model per regime and condition; Holm within each sweep.

    With one paired run the difference's CI is a paired bootstrap over test samples and the
    paired p-value is not computed (NaN, p_method says so); McNemar still is.
    """
    scores = table[table["metric"] == metric]
    conditions = scores[["condition", "sweep", "value"]].drop_duplicates("condition")
    rows = []
    for other in others:
        pairs = _pairs(scores, focus, other)
        for (regime, condition), g in pairs.groupby(["regime", "condition"], sort=True):
            diff = (g["a"] - g["b"]).to_numpy()
            joined = _correct(predictions, focus, other, regime, condition)
            single = len(g) == 1 and metric == "accuracy"
            ci = _sample_diff_ci(joined, level) if single else bootstrap_ci(diff, level)
            p, method = paired_p(g["a"].to_numpy(), g["b"].to_numpy())
            b, c = _discordant(joined)
            rows.append(
                {
                    "model_a": focus,
                    "model_b": other,
                    "regime": regime,
                    "condition": condition,
                    "metric": metric,
                    "n": len(g),
                    "mean_diff": float(diff.mean()),
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
    for _, idx in out.groupby(["model_b", "regime", "sweep"]).groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"].to_numpy())
    return out


@dataclass(frozen=True)
class Friedman:
    """Friedman test over blocks (regime x condition means) and Nemenyi post-hoc."""

    statistic: float
    p: float
    n_blocks: int
    models: list[str]
    mean_ranks: pd.Series
    nemenyi: pd.DataFrame
    method: str


def friedman(table: pd.DataFrame, models: list[str], metric: str = "accuracy") -> Friedman | None:
    """Friedman across all conditions; None when fewer than 3 models or 2 complete blocks."""
    scores = table[(table["metric"] == metric) & table["model"].isin(models)]
    blocks = scores.pivot_table(
        index=["regime", "condition"], columns="model", values="score", aggfunc="mean"
    ).dropna()
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
            f"Friedman chi-square over {blocks.shape[0]} blocks (regime x condition, mean "
            f"{metric} over runs), {blocks.shape[1]} models; Nemenyi post-hoc"
        ),
    )


def probability_of_improvement(
    table: pd.DataFrame, focus: str, others: list[str], metric: str = "accuracy"
) -> pd.DataFrame:
    """P(focus beats other) over paired (run, condition) observations, ties counted half."""
    scores = table[table["metric"] == metric]
    rows = []
    for other in others:
        pairs = _pairs(scores, focus, other)
        if pairs.empty:
            continue
        wins = (pairs["a"] > pairs["b"]).to_numpy(float) + 0.5 * (pairs["a"] == pairs["b"])
        ci = bootstrap_ci(wins, 0.95, unit="observations")
        rows.append(
            {
                "model_a": focus,
                "model_b": other,
                "probability": float(np.mean(wins)),
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": len(pairs),
                "method": f"share of {len(pairs)} paired (run, condition) observations where "
                f"{focus} > {other}, ties 1/2; CI: {ci.method}",
            }
        )
    return pd.DataFrame(rows)
