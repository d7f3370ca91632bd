"""Comparison tables from the tidy results: condition means, paired comparisons, Friedman.

These apply the statistics of reports.statistics.inference to the results table (one row per
run x condition x metric) and the predictions: which runs pair up, which conditions form a Holm
family, which runs are independent blocks. `planned_design` says the same about a grid before
it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy.stats import friedmanchisquare

from reports.scoring.table import CONDITION_COLUMNS
from reports.statistics import inference


def planned_design(cells: list, conditions: list, level: float) -> str:
    """design_note of a planned grid: train cells (.seed, .fold) and test conditions (.sweep)."""
    sweeps = pd.Series([c.sweep for c in conditions], dtype=object).value_counts()
    return inference.design_note(
        len({c.seed for c in cells}), len({c.fold for c in cells}), sweeps.tolist(), level
    )


def condition_means(
    table: pd.DataFrame,
    predictions: pd.DataFrame,
    level: float = 0.95,
    class_names: list[str] | None = None,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Mean over runs of every (model, regime, condition, metric), with its CI, method and n.

    `extra`: the registered metrics of the table beyond the built-in ones.

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
        mean, ci = inference.mean_interval(scores, level, g["fold"].to_numpy(), g["n"].to_numpy())
        if len(g) == 1:
            run = tuple(g.iloc[0][run_keys])
            if run not in single:
                single[run] = inference.single_run_scores(
                    by_run.get_group(run), class_names or [], extra=extra
                )
            draws, n = single[run]
            ci = inference.percentile_interval(
                draws[row["metric"]], level, inference.single_run_what(n)
            )
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


def _sample_diff_ci(joined: pd.DataFrame, level: float) -> inference.Interval:
    """CI of the accuracy difference a - b of one paired run, by bootstrap over its samples."""
    per_sample = joined.astype(float).groupby(level="sample_id").mean()
    diff = (per_sample["a"] - per_sample["b"]).to_numpy()
    draws = diff[inference.sample_draws(diff.size)].mean(axis=1)
    what = f"{diff.size} paired test samples of a single run per model"
    return inference.percentile_interval(draws, level, what)


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
            est = inference.estimate(diff, g["fold"].to_numpy(), g["n"].to_numpy())
            joined = _correct(predictions, focus, other, regime, condition)
            if len(g) == 1 and metric == "accuracy":
                ci = _sample_diff_ci(joined, level)
            else:
                ci = est.interval(level)
            p = (
                float(inference.t_test_p(est.mean, est.se, est.df))
                if est.units >= 2
                else float("nan")
            )
            method = (
                f"paired t test over {est.describe()}" if est.units >= 2 else inference.NEEDS_PAIRS
            )
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
                    "mcnemar_midp": inference.mcnemar_midp(b, c),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out = out.merge(conditions, on="condition", how="left")
    out["p_holm"] = np.nan
    out["family_size"] = 0
    for _, idx in out.groupby(["model_b", "regime", "sweep"]).groups.items():
        out.loc[idx, "p_holm"] = inference.holm(out.loc[idx, "p"].to_numpy())
        out.loc[idx, "family_size"] = len(idx)
    first_step = alpha / out["family_size"]
    out["verdict"] = inference.verdict(out["p_holm"], out["ci_low"], out["ci_high"], alpha)
    out["mdd"] = [
        inference.mdd(s, u, a)
        for s, u, a in zip(out["sd_diff"], out["units"], first_step, strict=True)
    ]
    out["units_for_3pt"] = [
        inference.units_needed(s, a) for s, a in zip(out["sd_diff"], first_step, strict=True)
    ]
    out["min_p"] = [inference.smallest_holm_p(u) for u in out["units"]]
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
    res = friedmanchisquare(*[blocks[m].to_numpy() for m in blocks.columns])
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
        est = inference.estimate(
            per_run["win"].to_numpy(), per_run["fold"].to_numpy(), per_run["n"]
        )
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
