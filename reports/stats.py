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

from reports.metrics import get_metric
from reports.table import CONDITION_COLUMNS

N_RESAMPLES = 2000
WILCOXON_MIN_N = 6


@dataclass(frozen=True)
class Interval:
    """A confidence interval and how it was computed."""

    low: float
    high: float
    method: str


def bootstrap_ci(values: np.ndarray, level: float = 0.95, seed: int = 0) -> Interval:
    """CI of the mean of `values` over runs: BCa, percentile where BCa is degenerate."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return Interval(float("nan"), float("nan"), "no runs")
    if n == 1 or np.all(values == values[0]):
        v = float(values[0])
        return Interval(v, v, f"no spread: all {n} run(s) equal")
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
            return Interval(float(low), float(high), f"{method} bootstrap over {n} runs")
    return Interval(float("nan"), float("nan"), f"bootstrap failed over {n} runs")


def sample_bootstrap_ci(
    labels: np.ndarray, preds: np.ndarray, metric: str, level: float = 0.95, seed: int = 0
) -> Interval:
    """CI of a metric by bootstrap over the test samples of a single run (percentile)."""
    fn = get_metric(metric)
    labels, preds = np.asarray(labels), np.asarray(preds)
    n = labels.size
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(N_RESAMPLES // 2, n))
    if metric == "accuracy":
        boot = (labels[draws] == preds[draws]).mean(axis=1)
    else:
        boot = np.array([fn(labels[d], preds[d]) for d in draws])
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return Interval(
        float(low), float(high), f"percentile bootstrap over {n} test samples of a single run"
    )


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
    """p-value for paired runs: Wilcoxon signed-rank when n >= 6, exact permutation otherwise."""
    n = len(a)
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
    table: pd.DataFrame, predictions: pd.DataFrame, level: float = 0.95
) -> pd.DataFrame:
    """Mean over runs of every (model, regime, condition, metric), with its CI, method and n."""
    keys = ["model", "regime", *CONDITION_COLUMNS, "metric"]
    rows = []
    for key, g in table.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key, strict=True))
        scores = g["score"].to_numpy()
        if (
            len(g) == 1
            and row["metric"] in ("accuracy", "macro_f1", "uar", "weighted_f1")
            and ("target" not in predictions.columns)
        ):
            run = g.iloc[0]
            mask = (
                (predictions["model"] == run["model"])
                & (predictions["regime"] == run["regime"])
                & (predictions["seed"] == run["seed"])
                & (predictions["fold"] == run["fold"])
                & (predictions["condition"] == run["condition"])
            )
            sel = predictions.loc[mask]
            ci = sample_bootstrap_ci(sel["label"], sel["pred"], row["metric"], level)
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


def _discordant(predictions: pd.DataFrame, a: str, b: str, regime: str, condition: str):
    """Pooled per-sample McNemar counts (b: only a right, c: only b right) over paired runs."""
    keys = ["seed", "fold", "sample_id"] + (["target"] if "target" in predictions else [])
    sel = predictions[(predictions["regime"] == regime) & (predictions["condition"] == condition)]
    right = {
        m: sel[sel["model"] == m].assign(ok=lambda f: f["label"] == f["pred"]).set_index(keys)["ok"]
        for m in (a, b)
    }
    joined = pd.concat([right[a].rename("a"), right[b].rename("b")], axis=1, join="inner")
    return int((joined["a"] & ~joined["b"]).sum()), int((~joined["a"] & joined["b"]).sum())


def paired_comparisons(
    table: pd.DataFrame,
    predictions: pd.DataFrame,
    focus: str,
    others: list[str],
    level: float = 0.95,
    metric: str = "accuracy",
) -> pd.DataFrame:
    """Focus model vs each other model per regime and condition; Holm within each sweep."""
    scores = table[table["metric"] == metric]
    conditions = scores[["condition", "sweep", "value"]].drop_duplicates("condition")
    rows = []
    for other in others:
        pairs = _pairs(scores, focus, other)
        for (regime, condition), g in pairs.groupby(["regime", "condition"], sort=True):
            diff = (g["a"] - g["b"]).to_numpy()
            ci = bootstrap_ci(diff, level)
            p, method = paired_p(g["a"].to_numpy(), g["b"].to_numpy())
            b, c = _discordant(predictions, focus, other, regime, condition)
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
        ci = bootstrap_ci(wins, 0.95)
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
