"""The cheapest design that answers each question of a run to a target MDD (`tacfn-robust plan`).

For every contrast of the run and every 1-D sweep: the design with the fewest trained cells
(seeds × folds × the contrast's cells per seed-fold) whose predicted MDD is at most the target
at every level of the sweep, and the same for its whole-curve summary; or why none within the
data set's actors can (docs/statistics.md, "Variance accounting").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tacfn.core.errors import ConfigError
from tacfn_robust.reports.statistics.accounting import row_components, run_limits
from tacfn_robust.reports.statistics.analysis import Analysis
from tacfn_robust.reports.statistics.designs import Limits, Plan, cheapest
from tacfn_robust.reports.statistics.variance import Components


@dataclass(frozen=True)
class QuestionPlan:
    """The plan for one contrast over one scope ("every level of <sweep>" or "whole curve")."""

    question: str
    contrast: str
    scope: str
    plan: Plan


def check_target(target: float) -> float:
    """The target MDD, or a ConfigError naming it and what was expected."""
    if not math.isfinite(target) or target <= 0:
        raise ConfigError(f"--target-mdd: {target}; expected a finite number > 0")
    return target


def plan_run(analysis: Analysis, target: float) -> tuple[list[QuestionPlan], Limits]:
    """Per question of an analysed run: the cheapest design reaching MDD ≤ `target`, or why
    none can."""
    check_target(target)
    run = analysis.run
    rows = analysis.contrasts
    if rows is None or rows.empty:
        return [], run_limits(run)
    comps = row_components(
        run, analysis.table, analysis.points, list(analysis.asked), rows, analysis.metric
    )
    rows = rows.assign(comps=comps)
    limits = run_limits(run)
    cells = {c.name: len({(m, r) for m, r, _ in c.terms}) for c in analysis.asked}
    alpha = 1 - analysis.level
    out = []
    for (question, contrast, sweep), g in rows.groupby(
        ["question", "contrast", "sweep"], sort=False
    ):
        for scope, label in (
            ("level", f"every level of {sweep}"),
            ("curve", f"whole curve of {sweep}"),
        ):
            part = g[g["scope"] == scope]
            if part.empty:
                continue
            found = [c for c in part["comps"] if isinstance(c, Components)]
            if len(found) < len(part):
                reason = next(c for c in part["comps"] if isinstance(c, str))
                plan = Plan(None, 0, math.nan, reason)
            else:
                size = max(int(part["family_size"].max()), 1)
                plan = cheapest(found, limits, target, alpha / size, cells[contrast])
            out.append(QuestionPlan(question, contrast, label, plan))
    return out, limits
