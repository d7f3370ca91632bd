"""What other designs would show: the predicted SD and MDD of a contrast's paired difference.

From a contrast's variance components (tacfn_robust.reports.statistics.variance), a design of r
seeds per fold, k folds and n test clips per fold has fold means of variance fold + test_shared ·
n0/n + (seed + test_own · n0/n) / r, where n0 is the run's clips per fold. The fold component is
taken as fixed per fold whatever its number of test actors (it is mostly which actors train the
model; docs/statistics.md). The test is a paired t test over the k fold means (df k − 1) at the
first Holm step of the contrast's family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tacfn_robust.reports.statistics.inference import mdd
from tacfn_robust.reports.statistics.variance import ONE_FOLD, Components

MAX_SEEDS = 64


@dataclass(frozen=True)
class Limits:
    """What the data set allows: its actors and clips per actor, and the run's own."""

    actors: int
    clips_per_actor: float
    run_actors: int
    run_clips_per_actor: float
    source: str


@dataclass(frozen=True)
class Design:
    """Seeds per fold, folds and test actors per fold, clips per test actor."""

    seeds: int
    folds: int
    actors_per_fold: float
    clips_per_actor: float
    name: str = ""

    @property
    def clips_per_fold(self) -> float:
        return self.actors_per_fold * self.clips_per_actor

    def cells(self, per_seed_fold: int) -> int:
        """Trained cells: seeds × folds × cells per seed-fold."""
        return self.seeds * self.folds * per_seed_fold

    def describe(self) -> str:
        return (
            f"{self.seeds} seed(s) × {self.folds} folds of {self.actors_per_fold:g} test actors "
            f"× {self.clips_per_actor:g} clips"
        )


@dataclass(frozen=True)
class Prediction:
    """Predicted SD of the paired difference of fold means, its interval, and the MDD."""

    design: Design
    sd: float
    sd_low: float
    sd_high: float
    mdd: float
    mdd_low: float
    mdd_high: float

    def record(self) -> dict:
        return {
            "design": self.design.name,
            "seeds": self.design.seeds,
            "folds": self.design.folds,
            "actors_per_fold": self.design.actors_per_fold,
            "clips_per_actor": self.design.clips_per_actor,
            "sd": self.sd,
            "sd_low": self.sd_low,
            "sd_high": self.sd_high,
            "mdd": self.mdd,
            "mdd_low": self.mdd_low,
            "mdd_high": self.mdd_high,
        }


@lru_cache(maxsize=4096)
def mdd_per_sd(units: int, alpha: float) -> float:
    """MDD of a paired t test over `units` as a multiple of the SD of a unit."""
    return mdd(1.0, units, alpha)


def predict(
    comps: Components,
    design: Design,
    level: float,
    alpha: float,
    observed_df: int | None = None,
) -> Prediction:
    """SD of a fold mean under `design` with its interval at `level`, and the MDD at `alpha`.

    The interval covers the design's true SD; with `observed_df` it covers the SD a run of
    that design will observe over observed_df degrees of freedom (its own sampling added).
    """
    var = comps.unit_variance(design.seeds, design.clips_per_fold)
    draws = var[1:]
    if observed_df is not None:
        rng = np.random.default_rng(1)
        draws = draws * rng.chisquare(observed_df, draws.size) / observed_df
    low, high = np.sqrt(np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]))
    factor = mdd_per_sd(design.folds, alpha) if design.folds >= 2 else float("nan")
    sd = math.sqrt(var[0])
    return Prediction(design, sd, float(low), float(high), factor * sd, factor * low, factor * high)


def current_design(comps: Components, limits: Limits) -> Design:
    """The run's own design."""
    seeds = max(1, round(comps.anova.seeds_per_fold))
    per_actor = limits.run_clips_per_actor
    return Design(seeds, comps.anova.folds, comps.test.clips / per_actor, per_actor, "this run")


def alternatives(comps: Components, limits: Limits) -> list[Design]:
    """This run's design and the ones a reader weighs next: twice the seeds, the most folds
    the run's actors allow, every actor of the data set as more folds of this run's test
    actors per fold, and every clip per actor."""
    now = current_design(comps, limits)
    out = [now]
    if comps.seeds_apart:
        out.append(
            Design(
                2 * now.seeds,
                now.folds,
                now.actors_per_fold,
                now.clips_per_actor,
                "2× seeds per fold",
            )
        )
    most = limits.run_actors // 2
    if most > now.folds:
        out.append(
            Design(
                now.seeds,
                most,
                limits.run_actors / most,
                now.clips_per_actor,
                "most folds of this run's actors",
            )
        )
    every = min(int(limits.actors // now.actors_per_fold), limits.actors // 2)
    if limits.actors > limits.run_actors and every > max(now.folds, most):
        out.append(
            Design(
                now.seeds,
                every,
                now.actors_per_fold,
                now.clips_per_actor,
                "every actor of the data set, as more folds",
            )
        )
    if limits.clips_per_actor > now.clips_per_actor:
        out.append(
            Design(
                now.seeds,
                now.folds,
                now.actors_per_fold,
                limits.clips_per_actor,
                "every clip per actor",
            )
        )
    return out


def floor(comps: Components, design: Design, level: float, alpha: float) -> Prediction | None:
    """The SD and MDD that more seeds per fold approach and cannot pass (fold + shared test
    sampling at the design's folds and clips); None with one seed per fold."""
    if not comps.seeds_apart:
        return None
    var = (
        comps.draws["fold"] + comps.draws["test_shared"] * comps.test.clips / design.clips_per_fold
    )
    low, high = np.sqrt(np.quantile(var[1:], [(1 - level) / 2, (1 + level) / 2]))
    factor = mdd_per_sd(design.folds, alpha)
    sd = math.sqrt(var[0])
    named = Design(
        design.seeds,
        design.folds,
        design.actors_per_fold,
        design.clips_per_actor,
        "floor: unlimited seeds",
    )
    return Prediction(named, sd, float(low), float(high), factor * sd, factor * low, factor * high)


@dataclass(frozen=True)
class Plan:
    """The cheapest design reaching a target MDD at every level, or why none can."""

    design: Design | None
    cells: int
    worst_mdd: float
    reason: str


def cheapest(
    levels: Sequence[Components],
    limits: Limits,
    target: float,
    alpha: float,
    per_seed_fold: int,
) -> Plan:
    """The design with the fewest trained cells whose predicted MDD is ≤ `target` at every
    level (point estimates), folds × test actors per fold ≤ the data set's actors, every clip
    per actor used; or a Plan without design saying why none reaches it."""
    if not levels:
        return Plan(None, 0, float("nan"), "no level has variance components")
    if any(c.anova.folds < 2 for c in levels):
        return Plan(None, 0, float("nan"), ONE_FOLD)
    apart = all(c.seeds_apart for c in levels)
    best: Plan | None = None
    closest = floor_best = math.inf
    for folds in range(2, limits.actors // 2 + 1):
        actors = limits.actors // folds
        clips = actors * limits.clips_per_actor
        factor = mdd_per_sd(folds, alpha)
        if apart:
            floors = [
                c.point("fold") + c.point("test_shared") * c.test.clips / clips for c in levels
            ]
            floor_best = min(floor_best, factor * math.sqrt(max(floors)))
        for r in range(1, (MAX_SEEDS if apart else 1) + 1):
            worst = factor * math.sqrt(max(float(c.unit_variance(r, clips)[0]) for c in levels))
            closest = min(closest, worst)
            if worst <= target:
                design = Design(r, folds, actors, limits.clips_per_actor, "cheapest")
                if best is None or design.cells(per_seed_fold) < best.cells:
                    best = Plan(design, design.cells(per_seed_fold), worst, "")
                break
    if best is not None:
        return best
    bound = f"the data set's {limits.actors} actors"
    if not apart:
        reason = (
            f"no one-seed design within {bound} reaches MDD {target:g} (best {closest:.3f}); "
            "with one seed per fold seed and fold cannot be told apart, so whether more seeds "
            "help is unknown: run 2 or more seeds per fold"
        )
    elif floor_best > target:
        reason = (
            f"the floor that more seeds cannot pass (fold + shared test sampling) is MDD "
            f"{floor_best:.3f} > {target:g} at the best folds within {bound}"
        )
    else:
        reason = f"MDD {target:g} needs more than {MAX_SEEDS} seeds per fold within {bound}"
    return Plan(None, 0, closest, reason)
