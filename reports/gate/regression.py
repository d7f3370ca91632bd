"""The CI regression check of a run against a baseline, and the run's invariants.

A point (model x regime x condition, mean of the report metric over runs) fails when

    new mean < baseline mean - max(abs_tol, t * SE)

SE = sqrt(V (1/n_b + 1/n_n)), V the run-to-run variance pooled over the points of the curve
(model x regime x sweep) and both sides; t is the one-sided Student quantile, for the
Holm-adjusted level, at V's Satterthwaite df (from a runs x points split of the sums of
squares, so points that move together with their seed do not count as independent; see
pooled_variance). One run a side: binomial SE over its N test samples. Holm runs over the
points of each curve, and alpha is split evenly (Bonferroni) over the curves and the nAUC
family so that a whole check's false-alarm rate stays at or below alpha. Each curve's nAUC
is checked with Welch's t test (scipy.stats.ttest_ind_from_stats) from its run-to-run std.
A point also fails when it is missing from the new run, has fewer runs than the baseline
(a cell is missing) or another test size. Invariants: the identity condition equals clean;
full missingness (p = 1) is not below chance (the score of always predicting the test
split's majority class, per label for multilabel sets) beyond its CI. A protocol hash that
differs from the baseline's is bad input.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from tacfn.core.errors import ConfigError
from tacfn.core.store import CLEAN, Baseline
from tacfn_robust.reports.gate.baseline import build_baseline, protocol_diff
from tacfn_robust.reports.statistics.analysis import Analysis
from tacfn_robust.reports.statistics.inference import holm

DEFAULT_ABS_TOL = 0.02  # measured cross-code-path drift of smoke's curve points (docs/ci.md)
DEFAULT_ALPHA = 0.05
IDENTITY_TOL = 1e-9


@dataclass(frozen=True)
class CheckRow:
    """One checked point, curve summary or invariant, with its verdict."""

    kind: str  # "point" | "nauc" | "invariant"
    name: str
    baseline: float | None
    new: float | None
    margin: float | None
    p_holm: float | None
    passed: bool
    message: str

    @property
    def diff(self) -> float | None:
        if self.baseline is None or self.new is None:
            return None
        return self.new - self.baseline


@dataclass
class CheckResult:
    """Every row of a check, plus notes (e.g. library version changes)."""

    rows: list[CheckRow]
    metric: str
    notes: list[str] = field(default_factory=list)
    abs_tol: float = DEFAULT_ABS_TOL
    alpha: float = DEFAULT_ALPHA

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def _binomial_var(entry: dict) -> float:
    """Binomial variance p(1-p)/N of one run's score over its N test samples."""
    samples = int(entry.get("n_samples") or 0)
    p = min(max(entry["mean"], 0.0), 1.0)
    return p * (1 - p) / samples if samples > 0 else 0.0


def pooled_variance(
    sides: list[tuple[list[dict], dict | None]],
) -> tuple[float, float] | None:
    """Run-to-run variance of a point pooled over the points of a curve and both sides, and df.

    `sides` holds each side's point entries of the curve and its family record (std over
    runs of each run's mean over the curve's points). Per side, the points' sums of squares
    split into a run part (a seed that trains worse is worse at every point; n-1 df) and a
    residual ((n-1)(P-1) df), as in a runs x points two-way layout; the pooled variance
    sum_j (n-1) s_j^2 / sum (n-1) P gets Satterthwaite's df from those mean squares. It lies
    between the runs' n-1 (points move together) and sum (n-1) P (points independent).
    Without a family record a side counts n-1 df. None when no side has two runs.
    """
    terms: list[tuple[float, float]] = []  # (sum of squares, df)
    denominator = 0.0
    for points, family in sides:
        n = int(points[0]["n"]) if points else 0
        stds = [p.get("std") for p in points]
        if n < 2 or any(s is None or not math.isfinite(s) for s in stds):
            continue
        size = len(points)
        total = (n - 1) * sum(s**2 for s in stds)
        denominator += (n - 1) * size
        run_std = (family or {}).get("run_mean_std")
        if size >= 2 and run_std is not None and int(family["n"]) == n:
            between = size * (n - 1) * run_std**2
            terms += [(between, n - 1), (max(total - between, 0.0), (n - 1) * (size - 1))]
        else:
            terms.append((total, n - 1))
    if denominator == 0:
        return None
    variance = sum(ss for ss, _ in terms) / denominator
    spread = sum((ss / denominator) ** 2 / df for ss, df in terms)
    return variance, (variance**2 / spread if spread > 0 else math.inf)


def _pooled_se(base: dict, new: dict, pooled: tuple[float, float] | None) -> tuple[float, float]:
    """SE of the difference of two point means from the pooled variance (binomial if none)."""
    if pooled is None:
        return math.sqrt(_binomial_var(base) + _binomial_var(new)), math.inf
    variance, df = pooled
    return math.sqrt(variance * (1 / int(base["n"]) + 1 / int(new["n"]))), df


Test = Callable[[dict, dict], tuple[float, float | None, float]]


def _pooled_test(base: dict, new: dict, pooled: tuple[float, float] | None) -> tuple:
    """(one-sided p that the new mean is this far below the baseline by chance, SE, df)."""
    se, df = _pooled_se(base, new, pooled)
    diff = new["mean"] - base["mean"]
    if se == 0:
        return (0.0 if diff < 0 else 1.0), se, df
    dist = stats.norm if math.isinf(df) else stats.t(df)
    return float(dist.cdf(diff / se)), se, df


def _welch_test(base: dict, new: dict) -> tuple[float, None, None]:
    """One-sided Welch t test of two curve nAUC means from their run-to-run std (scipy)."""
    diff = new["mean"] - base["mean"]
    sides = [(e["mean"], e.get("std"), int(e["n"])) for e in (new, base)]
    if all(n >= 2 and s is not None and math.isfinite(s) for _, s, n in sides):
        (m1, s1, n1), (m2, s2, n2) = sides
        p = stats.ttest_ind_from_stats(
            m1, s1, n1, m2, s2, n2, equal_var=False, alternative="less"
        ).pvalue
        if math.isfinite(p):
            return float(p), None, None
    return (0.0 if diff < 0 else 1.0), None, None


def _mismatch(base: dict, new: dict | None) -> str | None:
    """Why a baseline entry cannot be compared with the new run's, if it cannot."""
    if new is None:
        return "missing from the new run"
    if int(new["n"]) < int(base["n"]):
        return f"n {new['n']} < baseline's {base['n']}: a cell (run) is missing from the new run"
    if "n_samples" in base and int(new.get("n_samples", 0)) != int(base["n_samples"]):
        return (
            f"n_test {new.get('n_samples')} != baseline's {base['n_samples']}: test split changed"
        )
    return None


def _family(
    pairs: list[tuple[str, dict, dict | None]],
    kind: str,
    level: float,
    abs_tol: float,
    test: Test,
) -> list[CheckRow]:
    """Holm over one family of (name, baseline entry, new entry) at `level`."""
    rows: list[CheckRow] = []
    tested = []
    for name, base, new in pairs:
        problem = _mismatch(base, new)
        if problem is not None:
            value = None if new is None else new["mean"]
            rows.append(CheckRow(kind, name, base["mean"], value, None, None, False, problem))
        else:
            tested.append((name, base, new, *test(base, new)))
    m = len(tested)
    p_holm = holm(np.array([t[3] for t in tested]))
    order = np.argsort([t[3] for t in tested], kind="stable")
    for rank, i in enumerate(order):
        name, base, new, p, se, df = tested[i]
        step = level / (m - rank)
        margin = None
        if se is not None:
            crit = float(stats.norm.isf(step) if math.isinf(df) else stats.t.isf(step, df))
            margin = max(abs_tol, crit * se)
        diff = new["mean"] - base["mean"]
        failed = p_holm[i] < level and diff < -abs_tol
        shown = "" if margin is None else f", margin {margin:.4f}"
        message = (
            f"dropped {-diff:.4f} (Holm p {p_holm[i]:.3g} < {level:.3g}{shown})"
            if failed
            else f"diff {diff:+.4f}{shown}, Holm p {p_holm[i]:.3g}, n {base['n']}/{new['n']}"
        )
        rows.append(
            CheckRow(
                kind, name, base["mean"], new["mean"], margin, float(p_holm[i]), not failed, message
            )
        )
    return rows


def compare(
    base: dict, new: dict, abs_tol: float = DEFAULT_ABS_TOL, alpha: float = DEFAULT_ALPHA
) -> list[CheckRow]:
    """One-sided regression test of every baseline point and curve nAUC against `new`.

    `base` and `new` hold `points`, `curves` and `families` entries as a baseline file does
    (Baseline.model_dump()).
    """
    new_points = {(p["model"], p["regime"], p["condition"]): p for p in new["points"]}
    curves: dict[tuple[str, str, str], list] = {}
    for p in base["points"]:
        key = (p["model"], p["regime"], p["condition"])
        name = f"{p['model']} / {p['regime']} / {p['condition']}"
        curves.setdefault((p["model"], p["regime"], p["sweep"]), []).append(
            (name, p, new_points.get(key))
        )
    new_curves = {(c["model"], c["regime"], c["sweep"]): c for c in new["curves"]}
    nauc = [
        (
            f"{c['model']} / {c['regime']} / {c['sweep']} nAUC",
            c,
            new_curves.get((c["model"], c["regime"], c["sweep"])),
        )
        for c in base["curves"]
    ]
    families = len(curves) + (1 if nauc else 0)
    level = alpha / max(families, 1)
    base_fam = {(f["model"], f["regime"], f["sweep"]): f for f in base.get("families", [])}
    new_fam = {(f["model"], f["regime"], f["sweep"]): f for f in new.get("families", [])}
    rows: list[CheckRow] = []
    for key in sorted(curves):
        family = curves[key]
        pooled = pooled_variance(
            [
                ([b for _, b, _ in family], base_fam.get(key)),
                ([n for _, _, n in family if n is not None], new_fam.get(key)),
            ]
        )
        rows.extend(_family(family, "point", level, abs_tol, partial(_pooled_test, pooled=pooled)))
    rows.extend(_family(nauc, "nauc", level, abs_tol, _welch_test))
    return rows


def invariants(analysis: Analysis) -> list[CheckRow]:
    """Identity condition equals clean; full missingness not below chance beyond its CI."""
    rows: list[CheckRow] = []
    pts = analysis.points
    table = analysis.table
    metric = analysis.metric
    clean = table[(table["metric"] == metric) & (table["condition"] == CLEAN)]
    clean = clean.set_index(["model", "regime", "seed", "fold"])["score"]
    identity = pts[pts["identity"] & (pts["source"] == "stored")]
    for (model, regime, sweep), g in identity.groupby(["model", "regime", "sweep"]):
        ref = clean.reindex(pd.MultiIndex.from_frame(g[["model", "regime", "seed", "fold"]]))
        gap = float(np.nanmax(np.abs(g["score"].to_numpy() - ref.to_numpy())))
        ok = gap <= IDENTITY_TOL
        rows.append(
            CheckRow(
                "invariant",
                f"{model} / {regime} / {sweep}: identity == clean",
                float(ref.mean()),
                float(g["score"].mean()),
                IDENTITY_TOL,
                None,
                ok,
                f"largest per-run gap {gap:.4g}",
            )
        )
    chance_of = analysis.chance.set_index(["model", "regime"])["chance"]
    m = analysis.means
    full = m[
        (m["metric"] == metric)
        & (m["corruption"] == "missing")
        & (m["param"] == "p")
        & np.isclose(m["value"].fillna(-1), 1.0)
    ]
    for r in full.itertuples():
        chance = float(chance_of[(r.model, r.regime)])
        ok = not (r.ci_high < chance)
        rows.append(
            CheckRow(
                "invariant",
                f"{r.model} / {r.regime} / {r.condition}: not below chance",
                chance,
                float(r.mean),
                None,
                None,
                ok,
                f"mean {r.mean:.4f}, CI high {r.ci_high:.4f} vs chance {chance:.4f}"
                f" ({r.ci_method})",
            )
        )
    return rows


def check_settings(abs_tol: float, alpha: float) -> None:
    """Refuse a negative or non-finite tolerance (NaN or inf would pass every point) or a level
    outside (0, 1) with a one-line ConfigError."""
    if not 0 <= abs_tol < math.inf:
        raise ConfigError(f"--abs-tol {abs_tol}: expected a finite, non-negative score difference")
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha {alpha}: expected a level between 0 and 1")


def check_analysis(
    analysis: Analysis,
    base: Baseline,
    baseline_file: str | Path,
    abs_tol: float = DEFAULT_ABS_TOL,
    alpha: float = DEFAULT_ALPHA,
) -> CheckResult:
    """Compare an analysed run with the baseline `base` read from `baseline_file`."""
    check_settings(abs_tol, alpha)
    new = build_baseline(analysis)
    if base.protocol_hash != new.protocol_hash:
        changes = protocol_diff(base.protocol, new.protocol)
        raise ConfigError(
            f"{baseline_file}: protocol changed since the baseline (hash "
            f"{base.protocol_hash} -> {new.protocol_hash}; "
            f"{'; '.join(changes) or 'fields equal, hash recipe differs'}); "
            "save a new baseline with 'tacfn-robust baseline save'"
        )
    if base.metric != new.metric:
        raise ConfigError(
            f"{baseline_file}: baseline metric {base.metric!r} differs from "
            f"the run's report.metric {new.metric!r}; save a new baseline"
        )
    notes = [
        f"version of {k} changed: {base.versions.get(k)} -> {new.versions.get(k)}"
        for k in sorted(base.versions.keys() | new.versions.keys())
        if base.versions.get(k) != new.versions.get(k)
    ]
    rows = compare(base.model_dump(), new.model_dump(), abs_tol, alpha) + invariants(analysis)
    return CheckResult(rows, analysis.metric, notes, abs_tol, alpha)
