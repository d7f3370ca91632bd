"""How far two run directories of one protocol differ, cell by cell and curve by curve.

    python -m benchmarks.drift RUN_A RUN_B

Run the same protocol twice under different CPU code paths, e.g.

    tacfn-robust run smoke --out runs/a
    ATEN_CPU_CAPABILITY=default tacfn-robust run smoke --out runs/b

and compare: for every cell both hold (same model, regime, seed, fold) the share of test
predictions that changed, the largest logit change and the accuracy change per condition;
then the change of each curve point's mean over the common runs (what `check` compares).
Identical code paths give 0 everywhere (cells are deterministic for a seed).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from tacfn.core.store import RUN_KEYS
from tacfn_robust.reports.reading.run_dir import load_run


def _predictions(run_dir: str) -> pd.DataFrame:
    return load_run(run_dir).predictions


def cell_drift(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per cell and condition: prediction flips, max |logit change|, accuracy change b - a."""
    keys = [*RUN_KEYS, "condition", "sample_id"]
    logits = [c for c in a.columns if c.startswith("logit_")]
    merged = a[[*keys, "label", "pred", *logits]].merge(
        b[[*keys, "pred", *logits]], on=keys, suffixes=("_a", "_b")
    )
    change = np.max(
        [np.abs(merged[f"{c}_a"] - merged[f"{c}_b"]).to_numpy() for c in logits], axis=0
    )
    merged = merged.assign(
        flip=merged["pred_a"] != merged["pred_b"],
        logit_change=change,
        correct_a=merged["pred_a"] == merged["label"],
        correct_b=merged["pred_b"] == merged["label"],
    )
    out = merged.groupby([*RUN_KEYS, "condition"]).agg(
        flips=("flip", "mean"),
        max_logit_change=("logit_change", "max"),
        acc_a=("correct_a", "mean"),
        acc_b=("correct_b", "mean"),
    )
    return out.assign(acc_change=out["acc_b"] - out["acc_a"]).reset_index()


def curve_drift(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model x regime x condition: mean accuracy over the common runs, a and b, and change."""
    out = cells.groupby(["model", "regime", "condition"]).agg(
        runs=("acc_a", "size"), mean_a=("acc_a", "mean"), mean_b=("acc_b", "mean")
    )
    return out.assign(change=out["mean_b"] - out["mean_a"]).reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drift", description=__doc__)
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    args = parser.parse_args(argv)
    cells = cell_drift(_predictions(args.run_a), _predictions(args.run_b))
    curves = curve_drift(cells)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(cells.to_string(index=False, float_format="{:.4f}".format))
        print()
        print(curves.to_string(index=False, float_format="{:.4f}".format))
    print(
        f"\ncells {len(cells.groupby(RUN_KEYS))}; predictions changed "
        f"{cells['flips'].mean():.4f} on average; largest |cell accuracy change| "
        f"{cells['acc_change'].abs().max():.4f}; largest |curve mean change| "
        f"{curves['change'].abs().max():.4f}; largest |logit change| "
        f"{cells['max_logit_change'].max():.3g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
