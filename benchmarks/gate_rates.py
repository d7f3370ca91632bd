"""False-alarm and detection rates of `tacfn-robust check` for a protocol's baseline.

    python -m benchmarks.gate_rates RUN_DIR BASELINE [--draws 2000] [--drop 0.10] [--seed 0]

Method (simulation from the measured run-to-run variance): per model x regime, the runs of RUN_DIR
give each run's accuracy at every checked condition of BASELINE; their mean vector and sample
covariance (points of one run move together with its seed) define a normal model of one run. Each
draw simulates a baseline side and a new side of n runs each (n as in BASELINE), builds both sides'
point, family and nAUC entries exactly as `baseline save` stores them, and runs the check's
comparison (tacfn_robust.reports.gate.regression.compare) at the given abs_tol and alpha. False
alarm: any row fails with no change. Detection: one point's runs on the new side are lowered by
`drop`, and the check fails. The margins are those the check allows per point (max(abs_tol, t SE)),
summarised over the null draws.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from tacfn.core.store import RUN_KEYS
from tacfn_robust.reports.gate.baseline import load_baseline
from tacfn_robust.reports.gate.regression import DEFAULT_ABS_TOL, DEFAULT_ALPHA, compare
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.statistics.robustness import normalised_auc

Key = tuple[str, str]


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


def _model(run_dir: str | Path, base: dict) -> dict[Key, tuple[list[dict], np.ndarray, np.ndarray]]:
    """(model, regime) -> (baseline point entries in order, mean vector, covariance)."""
    acc, _, _ = run_accuracy(run_dir)
    acc = acc.assign(condition=acc["condition"].astype(str))
    points: dict[Key, list[dict]] = defaultdict(list)
    for p in base["points"]:
        points[(p["model"], p["regime"])].append(p)
    out = {}
    for key, entries in points.items():
        runs = acc[(acc["model"] == key[0]) & (acc["regime"] == key[1])]
        wide = runs.pivot_table(index=["seed", "fold"], columns="condition", values="accuracy")
        matrix = wide[[p["condition"] for p in entries]].dropna().to_numpy()
        out[key] = (entries, matrix.mean(axis=0), np.cov(matrix, rowvar=False, ddof=1))
    return out


def _side(draws: dict[Key, np.ndarray], structure: dict, base: dict) -> dict:
    """Point, family and nAUC entries of one simulated side (runs x points per model)."""
    points, families, curves = [], [], []
    for key, runs in draws.items():
        entries = structure[key][0]
        for j, p in enumerate(entries):
            column = runs[:, j]
            spread = float(column.std(ddof=1))
            points.append({**p, "mean": float(column.mean()), "std": spread, "n": len(column)})
        by_sweep: dict[str, list[int]] = defaultdict(list)
        for j, p in enumerate(entries):
            by_sweep[p["sweep"]].append(j)
        for sweep, cols in by_sweep.items():
            families.append(
                {
                    "model": key[0],
                    "regime": key[1],
                    "sweep": sweep,
                    "n": len(runs),
                    "run_mean_std": float(runs[:, cols].mean(axis=1).std(ddof=1)),
                }
            )
    for c in base["curves"]:
        key = (c["model"], c["regime"])
        entries, runs = structure[key][0], draws[key]
        cols = [j for j, p in enumerate(entries) if p["sweep"] in (c["sweep"], "clean")]
        x = np.array([0.0 if entries[j]["value"] is None else entries[j]["value"] for j in cols])
        nauc = np.array([normalised_auc(x, run[cols]) for run in runs])
        spread = float(nauc.std(ddof=1))
        curves.append({**c, "mean": float(nauc.mean()), "std": spread, "n": len(runs)})
    return {"points": points, "families": families, "curves": curves}


def simulate(
    run_dir: str | Path,
    baseline: str | Path,
    draws: int = 2000,
    drop: float = 0.10,
    abs_tol: float = DEFAULT_ABS_TOL,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-point margins and detection rates, whole-check false-alarm rate)."""
    base = load_baseline(baseline).model_dump()
    structure = _model(run_dir, base)
    n = int(base["points"][0]["n"])
    rng = np.random.default_rng(seed)
    names = [
        (key, j, f"{key[0]} / {key[1]} / {p['condition']}")
        for key, (entries, _, _) in structure.items()
        for j, p in enumerate(entries)
    ]
    alarms = 0
    margins: dict[str, list[float]] = defaultdict(list)
    caught: dict[str, int] = defaultdict(int)

    def draw() -> dict[Key, np.ndarray]:
        return {k: rng.multivariate_normal(m, c, size=n) for k, (_, m, c) in structure.items()}

    for _ in range(draws):
        old, new = draw(), draw()
        old_side = _side(old, structure, base)
        rows = compare(old_side, _side(new, structure, base), abs_tol, alpha)
        alarms += any(not r.passed for r in rows)
        for r in rows:
            if r.kind == "point":
                margins[r.name].append(r.margin)
        for key, j, name in names:
            lowered = {k: v.copy() for k, v in new.items()}
            lowered[key][:, j] -= drop
            rows = compare(old_side, _side(lowered, structure, base), abs_tol, alpha)
            caught[name] += any(not r.passed for r in rows)
    per_point = pd.DataFrame(
        [
            {
                "point": name,
                "margin_median": float(np.median(margins[name])),
                "margin_p95": float(np.quantile(margins[name], 0.95)),
                f"caught_{drop:.2f}_drop": caught[name] / draws,
            }
            for _, _, name in names
        ]
    )
    summary = pd.DataFrame(
        [{"draws": draws, "runs_per_side": n, "false_alarm_rate": alarms / draws}]
    )
    return per_point, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate_rates", description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("baseline")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--drop", type=float, default=0.10)
    parser.add_argument("--abs-tol", type=float, default=DEFAULT_ABS_TOL)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    per_point, summary = simulate(
        args.run_dir, args.baseline, args.draws, args.drop, args.abs_tol, args.alpha, args.seed
    )
    with pd.option_context("display.width", 200):
        print(per_point.to_string(index=False, float_format="{:.4f}".format))
        print(summary.to_string(index=False, float_format="{:.4f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
