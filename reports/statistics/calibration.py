"""Calibration of the report's statistics by simulation of runs with a known truth.

A run's score at a condition is Binomial(CLIPS, truth + run effect) / CLIPS: the run (seed) effect
is shared by every condition of that trained model, the sample noise is not. Every rate below comes
from the functions the report uses (tacfn_robust.reports.statistics.inference); the Friedman blocks
are built as tacfn_robust.reports.statistics.comparisons.friedman builds them (each run's score
averaged over its conditions). The contrast verdicts are calibrated through the report's own path
(tacfn_robust.reports.statistics.contrasts.contrast_table on simulated results tables with seed and
fold effects). Reproduce the tables in docs/statistics.md with `python -m
tacfn_robust.reports.statistics.calibration`.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import stats

from tacfn_robust.reports.statistics.contrasts import Contrast, contrast_table
from tacfn_robust.reports.statistics.inference import (
    DETECT,
    holm,
    student,
    t_interval,
    t_test_p,
    verdict,
)
from tacfn_robust.reports.statistics.robustness import curve_points

CLIPS = 240
LEVEL = 0.95
ALPHA = 1 - LEVEL


def _scores(rng: np.random.Generator, truth: np.ndarray, effect: np.ndarray) -> np.ndarray:
    """Scores of runs: binomial sample noise around truth + run effect."""
    return rng.binomial(CLIPS, np.clip(truth + effect, 0, 1)) / CLIPS


def run_effects(rng: np.random.Generator, kind: str, sd: float, shape: tuple) -> np.ndarray:
    """Zero-mean run effects with standard deviation `sd`: normal, or right-skewed beta."""
    if kind == "normal":
        return rng.normal(0, sd, shape)
    a, b = 1.5, 6.0
    beta_sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return (rng.beta(a, b, shape) - a / (a + b)) * sd / beta_sd


def mean_coverage(
    n: int, kind: str, draws: int, seed: int = 0, sd: float = 0.04, truth: float = 0.7
) -> float:
    """Share of draws whose t-interval of the mean over n runs covers the true mean."""
    rng = np.random.default_rng(seed)
    scores = _scores(rng, truth, run_effects(rng, kind, sd, (draws, n)))
    mean, se, df = student(scores, axis=1)
    low, high = t_interval(mean, se, df, LEVEL)
    return float(np.mean((low <= truth) & (truth <= high)))


def cluster_coverage(
    folds: int, seeds: int, draws: int, clustered: bool, seed: int = 0, truth: float = 0.7
) -> float:
    """Coverage of the mean over new actors: fold effect SD 0.04, seed effect SD 0.02.

    `clustered` uses the fold means (df folds - 1, as the report does); otherwise every run
    counts as independent (df runs - 1).
    """
    rng = np.random.default_rng(seed)
    fold = rng.normal(0, 0.04, (draws, folds, 1))
    scores = _scores(rng, truth, fold + rng.normal(0, 0.02, (draws, folds, seeds)))
    units = scores.mean(axis=2) if clustered else scores.reshape(draws, -1)
    mean, se, df = student(units, axis=1)
    low, high = t_interval(mean, se, df, LEVEL)
    return float(np.mean((low <= truth) & (truth <= high)))


def paired_rates(
    n: int, sd: float, draws: int, diff: float = 0.0, conditions: int = 1, seed: int = 0
) -> tuple[float, float]:
    """(rejection rate of the primary paired t test, rate of a better/worse verdict).

    Two models, n paired runs; each model's run effect (SD `sd`) is shared by its
    `conditions` conditions, Holm across them as in a sweep. Rates are per condition.
    """
    rng = np.random.default_rng(seed)
    truth = np.full(conditions, 0.75)
    a = _scores(rng, truth + diff, rng.normal(0, sd, (draws, n, 1)))
    b = _scores(rng, truth, rng.normal(0, sd, (draws, n, 1)))
    mean, se, df = student(a - b, axis=1)
    p = t_test_p(mean, se, df)
    low, high = t_interval(mean, se, df, LEVEL)
    p_holm = holm(p)
    called = np.isin(verdict(p_holm, low, high, ALPHA), ("better", "worse"))
    return float(np.mean(p < ALPHA)), float(np.mean(called))


def friedman_rejection(draws: int, seed: int = 0, sd: float = 0.02) -> tuple[float, float]:
    """Friedman rejection rates for 4 identical models, 3 seeds, 6 conditions of one sweep,
    each run's effect shared by its conditions: (blocks = runs averaged over the conditions,
    as the report does; blocks = the sweep's conditions, which are not independent)."""
    rng = np.random.default_rng(seed)
    models, seeds, conditions = 4, 3, 6
    truth = np.linspace(0.8, 0.5, conditions)
    scores = _scores(rng, truth, rng.normal(0, sd, (draws, models, seeds, 1)))
    by_run = scores.mean(axis=3)
    by_condition = scores.mean(axis=2)
    rates = []
    for blocks in (by_run, by_condition):
        p = stats.friedmanchisquare(*[blocks[:, k] for k in range(models)], axis=1).pvalue
        rates.append(float(np.mean(p < ALPHA)))
    return rates[0], rates[1]


SIM_SEEDS, SIM_FOLDS = 2, 6
SIM_LEVELS = {0.0: 0.75, 0.5: 0.6, 1.0: 0.45}  # x -> true accuracy of every cell
SIM_BATCH = 50  # simulated runs per results table (each with its own models)


def simulated_contrasts(run: int) -> list[Contrast]:
    """One contrast of each kind on the models of simulated run `run` (its own question, so
    its own Holm families)."""
    a, b = f"a{run}", f"b{run}"
    return [
        Contrast.models(a, b, "s", f"model #{run}"),
        Contrast.regimes(a, "s", "r", f"regime #{run}"),
        Contrast.interaction(a, b, "s", "r", f"interaction #{run}"),
    ]


def simulated_table(rng: np.random.Generator, effect: float, runs: int) -> pd.DataFrame:
    """A results table of `runs` independent simulated runs, run k with models ak, bk x
    regimes r, s x 2 seeds x 6 folds at clean and p = 0, 0.5, 1 of a missing-audio sweep.
    Accuracy: truth + fold effect (SD 4 points, shared by every cell of the run's fold) +
    model x regime x fold effect (SD 2) + seed effect of the trained model (SD 2, shared by
    its conditions), binomial over CLIPS; `effect` is added to (ak, s), so every contrast of
    simulated_contrasts(k) has the true difference `effect`."""
    cells = [(f"{m}{k}", r) for k in range(runs) for m in "ab" for r in "rs"]
    shape = (runs, 4, SIM_SEEDS, SIM_FOLDS)
    fold = rng.normal(0, 0.04, (runs, 1, 1, SIM_FOLDS))
    cell_fold = rng.normal(0, 0.02, (runs, 4, 1, SIM_FOLDS))
    seed = rng.normal(0, 0.02, shape)
    shift = np.zeros((1, 4, 1, 1))
    shift[0, 1] = effect  # (a, s): cells are (a, r), (a, s), (b, r), (b, s)
    effects = (fold + cell_fold + seed + shift).reshape(len(cells), SIM_SEEDS, SIM_FOLDS)
    index = pd.MultiIndex.from_product(
        [range(len(cells)), range(SIM_SEEDS), range(SIM_FOLDS)], names=["cell", "seed", "fold"]
    )
    base = index.to_frame(index=False)
    base["model"] = [cells[c][0] for c in base["cell"]]
    base["regime"] = [cells[c][1] for c in base["cell"]]
    base = base.drop(columns="cell")
    frames = []
    for x, truth in [(None, SIM_LEVELS[0.0]), *SIM_LEVELS.items()]:
        stored = x is not None
        frames.append(
            base.assign(
                score=_scores(rng, truth, effects).ravel(),
                condition=f"missing[audio].p={x:g}" if stored else "clean",
                sweep="missing[audio].p" if stored else "clean",
                value=x if stored else np.nan,
                identity=x == 0.0,
                corruption="missing" if stored else None,
                modality="audio" if stored else None,
                param="p" if stored else None,
                unit=None,
                corruption2=None,
            )
        )
    return pd.concat(frames, ignore_index=True).assign(metric="accuracy", n=CLIPS)


def contrast_rates(draws: int, seed: int = 0, margin: float = DETECT) -> pd.DataFrame:
    """Per contrast kind and scope, from `draws` simulated runs at a true difference of 0 and
    `draws` at the margin, through contrast_table: the false-claim rate (better / worse at
    0), the false-equivalence rate (equivalent at the margin), the interval coverage (both)."""
    rng = np.random.default_rng(seed)
    frames = []
    for truth in (0.0, margin):
        for start in range(0, draws, SIM_BATCH):
            runs = min(SIM_BATCH, draws - start)
            table = simulated_table(rng, truth, runs)
            contrasts = [c for k in range(runs) for c in simulated_contrasts(k)]
            out = contrast_table(table, curve_points(table, {}), contrasts, LEVEL, margin)
            kept = out[["kind", "scope", "verdict", "ci_low", "ci_high"]]
            frames.append(kept.assign(truth=truth))
    rows = pd.concat(frames, ignore_index=True)
    rows["covered"] = (rows["ci_low"] <= rows["truth"]) & (rows["truth"] <= rows["ci_high"])
    rows["claim"] = rows["verdict"].isin(("better", "worse"))
    rows["equivalent"] = rows["verdict"] == "equivalent"
    null, at_margin = rows[rows["truth"] == 0.0], rows[rows["truth"] == margin]
    keys = ["kind", "scope"]
    rates = pd.DataFrame(
        {
            "false_claims": null.groupby(keys)["claim"].mean(),
            "false_equivalence": at_margin.groupby(keys)["equivalent"].mean(),
            "coverage": rows.groupby(keys)["covered"].mean(),
        }
    )
    return rates.reset_index().assign(runs=draws)


def contrast_lines(draws: int) -> list[str]:
    """The contrast calibration as a Markdown table."""
    rates = contrast_rates(draws)
    lines = [
        f"Contrast verdicts through contrast_table ({SIM_SEEDS} seeds x {SIM_FOLDS} folds, fold "
        f"effect SD 4 points, model x regime x fold SD 2, seed SD 2, {CLIPS} clips; true "
        f"difference 0 for false claims, the margin {DETECT:g} for false equivalence; "
        "coverage over both; α = 0.05):",
        "",
        "| kind | scope | simulated runs (per truth) | false claims | false equivalence | "
        "coverage |",
        "|---|---|---|---|---|---|",
    ]
    for r in rates.itertuples():
        lines.append(
            f"| {r.kind} | {r.scope} | {r.runs} | {r.false_claims:.3f} | "
            f"{r.false_equivalence:.3f} | {r.coverage:.3f} |"
        )
    return lines


def calibration_table(draws: int = 2000, contrast_draws: int = 1000) -> str:
    """Every measured rate as Markdown tables."""
    lines = ["Coverage of nominal 95 % t-intervals for a mean over runs (run effect SD 4 points):"]
    lines += ["", "| runs | normal | skewed (beta) |", "|---|---|---|"]
    for n in (3, 5, 10):
        cells = [f"{mean_coverage(n, k, draws, seed=n):.3f}" for k in ("normal", "beta")]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "Coverage of the mean over new actors, 5 folds x 3 seeds:", ""]
    lines += ["| interval | coverage |", "|---|---|"]
    for clustered, name in ((True, "fold means (df 4)"), (False, "runs as independent (df 14)")):
        lines.append(f"| {name} | {cluster_coverage(5, 3, draws, clustered):.3f} |")
    lines += ["", "Paired comparison, two equally good models (null), α = 0.05, 240 clips:", ""]
    lines += [
        "| runs | seed SD (points) | t test rejects | verdict (1 condition) | "
        "verdict (6 conditions, Holm) |",
        "|---|---|---|---|---|",
    ]
    for n in (3, 6):
        for sd in (0, 2, 5):
            p, v = paired_rates(n, sd / 100, draws, seed=10 * n + sd)
            _, v6 = paired_rates(n, sd / 100, draws, conditions=6, seed=10 * n + sd + 1)
            lines.append(f"| {n} | {sd} | {p:.3f} | {v:.3f} | {v6:.3f} |")
    lines += ["", "Power for a true 5-point difference at 6 runs (share of 'better'):", ""]
    lines += ["| seed SD (points) | 1 condition | 6 conditions, Holm |", "|---|---|---|"]
    for sd in (0, 2, 5):
        _, v = paired_rates(6, sd / 100, draws, diff=0.05, seed=100 + sd)
        _, v6 = paired_rates(6, sd / 100, draws, diff=0.05, conditions=6, seed=200 + sd)
        lines.append(f"| {sd} | {v:.3f} | {v6:.3f} |")
    runs, conditions = friedman_rejection(draws)
    lines += ["", "Friedman, 4 identical models, 3 seeds x 6 conditions, run SD 2 points:", ""]
    lines += ["| blocks | rejects |", "|---|---|", f"| runs (the report) | {runs:.3f} |"]
    lines.append(f"| conditions of the sweep (not independent) | {conditions:.3f} |")
    lines += ["", *contrast_lines(contrast_draws)]
    return "\n".join(lines)


def main() -> None:
    """Print the calibration tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--contrast-draws", type=int, default=1000)
    args = parser.parse_args()
    print(calibration_table(args.draws, args.contrast_draws))


if __name__ == "__main__":
    main()
