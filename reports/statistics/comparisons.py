"""Comparison tables from the tidy results: condition means, Friedman, P(improvement).

These apply the statistics of tacfn_robust.reports.statistics.inference to the results table (one
row per run x condition x metric) and the predictions: which runs pair up, which runs are
independent blocks. `planned_design` says the same about a grid before it runs. Paired tests of
models and regimes are tacfn_robust.reports.statistics.contrasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy.stats import friedmanchisquare

from tacfn_robust.reports.scoring.table import CONDITION_COLUMNS
from tacfn_robust.reports.statistics import inference


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
    a key: one row per condition. A run's bootstrap draws are kept while its metrics are
    summarised, then dropped: memory does not grow with the number of conditions.
    """
    keys = ["model", "regime", *[c for c in CONDITION_COLUMNS if c != "realised"], "metric"]
    run_keys = ["model", "regime", "seed", "fold", "condition"]
    by_run = predictions.groupby(run_keys, sort=False)
    table = table.reset_index(drop=True)
    column = {c: table[c].to_numpy() for c in ("score", "n", *run_keys[2:])}
    realised = table["realised"].to_numpy(dtype=float, na_value=np.nan)
    last: tuple[tuple, tuple[dict[str, np.ndarray], int]] | None = None
    rows = []
    for key, g in table.groupby(keys, sort=True, dropna=False):
        at = g.index.to_numpy()  # positions: columns are read as arrays, not per group
        row = dict(zip(keys, key, strict=True))
        scores, folds, sizes = column["score"][at], column["fold"][at], column["n"][at]
        mean, ci = inference.mean_interval(scores, level, folds, sizes)
        if len(at) == 1:
            run = (row["model"], row["regime"], *(column[k][at[0]] for k in run_keys[2:]))
            if last is None or last[0] != run:  # a run's metrics are consecutive groups
                scored = inference.single_run_scores(
                    by_run.get_group(run), class_names or [], extra=extra
                )
                last = (run, scored)
            draws, n = last[1]
            ci = inference.percentile_interval(
                draws[row["metric"]], level, inference.single_run_what(n)
            )
        std = float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan")
        shares = realised[at]
        rows.append(
            {
                **row,
                "realised": float(np.nanmean(shares)) if not np.isnan(shares).all() else None,
                "mean": mean,
                "std": std,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "ci_method": ci.method,
                "n": len(scores),
                "n_samples": int(sizes[np.unique(folds, return_index=True)[1]].sum()),
            }
        )
    return pd.DataFrame(rows)


def _pairs(table: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Runs of models a and b paired by (regime, seed, fold, condition), with a's test size n."""
    keys = ["regime", "seed", "fold", "condition"]
    left = table[table["model"] == a].set_index(keys)[["score", "n"]].rename(columns={"score": "a"})
    right = table[table["model"] == b].set_index(keys)["score"].rename("b")
    return pd.concat([left, right], axis=1, join="inner").reset_index()


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
    "Not computed: the Friedman test and critical-difference diagram need ≥ 3 fusion models "
    "(unimodal references are left out) and ≥ 2 independent blocks (folds, or seeds with one "
    "fold), each block's score averaged over its runs' conditions and training regimes; the "
    "conditions of one sweep and the regimes of one fold share test actors and are not "
    "independent blocks."
)


def _blocks(scores: pd.DataFrame) -> pd.DataFrame:
    """Independent blocks x models: each run's score averaged over its conditions, then over
    the regimes and seeds of each fold (with one fold, over the regimes of each seed)."""
    per_run = scores.groupby(["model", "regime", "seed", "fold"])["score"].mean().reset_index()
    block = "fold" if per_run["fold"].nunique() >= 2 else "seed"
    return per_run.pivot_table(index=block, columns="model", values="score").dropna()


def friedman(table: pd.DataFrame, models: list[str], metric: str = "accuracy") -> Friedman | None:
    """Friedman over independent blocks of `models` (the fusion models); None when fewer than
    3 models or 2 complete blocks."""
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
            f"Friedman chi-square over {blocks.shape[0]} independent blocks ({blocks.index.name}s; "
            f"each the mean {metric} over its runs' conditions and training regimes), "
            f"{blocks.shape[1]} fusion models (unimodal references left out); Nemenyi post-hoc"
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
