"""Minimum detectable difference of a run directory's focus comparisons.

    python -m benchmarks.mdd RUN_DIR [--alpha 0.05] [--power 0.8] [--target 0.05] [--json FILE]

For every regime x condition and every fusion model other than the protocol's focus, the
paired differences focus - other of per-run accuracy (same seed and fold) give sd_diff; the
MDD, the true mean difference that a two-sided paired t-test at `alpha` detects with
probability `power` over n runs, is (t_{1-alpha/2, n-1} + t_{power, n-1}) sd_diff / sqrt(n)
(the usual approximation; the exact noncentral-t value is a little larger at small n).
`n_for_target` is the number of paired runs that would bring the MDD to `target` at the
measured sd_diff.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from reports.store import RUN_KEYS, load_run


def mdd(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """(t_{1-alpha/2, n-1} + t_{power, n-1}) sd / sqrt(n); inf below 2 pairs."""
    if n < 2 or not math.isfinite(sd):
        return math.inf
    df = n - 1
    return float((stats.t.isf(alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def runs_for(sd: float, target: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Fewest paired runs whose MDD at `sd` is at most `target`."""
    n = 2
    while mdd(sd, n, alpha, power) > target:
        n += 1
        if n > 10_000:
            return n
    return n


def run_accuracy(run_dir: str | Path) -> tuple[pd.DataFrame, str, list[str]]:
    """Per run and condition accuracy, the focus model and the other fusion models."""
    run = load_run(run_dir)
    p = run.predictions
    keys = [*RUN_KEYS, "condition", "value"]
    acc = (
        p.assign(correct=(p["pred"] == p["label"]).astype(float))
        .groupby(keys, dropna=False)["correct"]
        .mean()
        .rename("accuracy")
        .reset_index()
    )
    options = run.report_options
    focus = options.get("focus") or "tacfn"
    fusion = [m for m, mods in sorted(run.modalities().items()) if len(mods) > 1]
    return acc, focus, [m for m in fusion if m != focus]


def mdd_table(
    run_dir: str | Path, alpha: float = 0.05, power: float = 0.8, target: float = 0.05
) -> pd.DataFrame:
    """One row per regime x comparison x condition: n, mean diff, sd_diff, MDD, runs needed."""
    acc, focus, others = run_accuracy(run_dir)
    values = acc.drop_duplicates("condition").set_index("condition")["value"]
    wide = acc.pivot_table(
        index=["regime", "condition", "seed", "fold"], columns="model", values="accuracy"
    )
    rows = []
    for other in others:
        diff = (wide[focus] - wide[other]).dropna()
        for (regime, condition), d in diff.groupby(level=[0, 1]):
            n = len(d)
            sd = float(d.std(ddof=1)) if n > 1 else math.nan
            rows.append(
                {
                    "regime": regime,
                    "comparison": f"{focus} - {other}",
                    "condition": condition,
                    "p": values[condition],
                    "n": n,
                    "mean_diff": float(d.mean()),
                    "sd_diff": sd,
                    "mdd": mdd(sd, n, alpha, power),
                    "n_for_target": runs_for(sd, target, alpha, power) if n > 1 else None,
                }
            )
    table = pd.DataFrame(rows)
    return table.sort_values(["regime", "comparison", "p"], na_position="first").reset_index(
        drop=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mdd", description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--target", type=float, default=0.05)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    table = mdd_table(args.run_dir, args.alpha, args.power, args.target)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(
            table.to_string(
                index=False,
                formatters={
                    "mean_diff": "{:+.4f}".format,
                    "sd_diff": "{:.4f}".format,
                    "mdd": "{:.4f}".format,
                },
            )
        )
    worst = table.groupby(["regime", "comparison"])["mdd"].max()
    print(f"\nlargest MDD per comparison (alpha {args.alpha}, power {args.power}):")
    print(worst.map("{:.4f}".format).to_string())
    if args.json is not None:
        args.json.write_text(json.dumps(table.replace({np.nan: None}).to_dict("records"), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
