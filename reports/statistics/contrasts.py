"""Contrasts: the questions a report answers, each a weighted sum of (model, regime) cells.

A contrast is paired within each run unit (seed, fold): its value on a unit is the weighted
sum of the scores of its terms on that unit, so every term must be present on the unit.
Weights sum to zero. Kinds:

- `model`: model a − model b within one training regime;
- `regime`: regime a − regime b within one model;
- `interaction`: (a − b under regime r) − (a − b under regime s), a difference of differences.

`asked_contrasts` turns a protocol's `report.contrasts` (or the default the grid implies) into
contrasts, each with its question (`family`). `contrast_table` tests every contrast at the
clean condition, at every non-identity level of every sweep and over each whole 1-D curve
(normalised AUC: one test per curve), and gives each row a verdict with its interval and MDD.

Multiplicity, one rule: every distinct difference is tested once. The clean condition and a
sweep's identity level (e.g. p = 0) hold the same predictions, so the identity is tested once,
as the `clean` row. Families (Holm at alpha = 1 - level, and the same family for TOST):
- `clean`: the question's contrasts at the clean condition;
- `curve`: the question's contrasts over the whole curve of one sweep (the decisive answer);
- `level`: one contrast's non-identity levels of one sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from tacfn.core.store import CLEAN
from tacfn_robust.reports.statistics import inference

ContrastKind = Literal["model", "regime", "interaction"]
KINDS: tuple[ContrastKind, ...] = ("model", "regime", "interaction")
Scope = Literal["clean", "level", "curve"]
UNIT_KEYS = ["seed", "fold"]
CURVE_CONDITION = "nauc"
COLUMNS = [
    "contrast", "kind", "question", "a", "b", "within", "scope", "sweep", "condition", "x",
    "metric", "family", "family_size", "n", "units", "diff", "sd", "ci_low", "ci_high",
    "ci_method", "p", "p_holm", "margin", "p_equivalence", "verdict", "mdd", "variance",
]  # fmt: skip


@dataclass(frozen=True)
class Contrast:
    """One question: a name, its kind, its multiplicity family and its weighted terms."""

    kind: ContrastKind
    name: str
    family: str
    terms: tuple[tuple[str, str, float], ...]  # (model, regime, weight)

    def __post_init__(self) -> None:
        if abs(sum(w for _, _, w in self.terms)) > 1e-12:
            raise ValueError(f"contrast {self.name!r}: weights must sum to 0")

    @property
    def labels(self) -> tuple[str, str, str]:
        """(a, b, within): the two sides compared and what they are compared within."""
        (m1, r1, _), (m2, r2, _) = self.terms[0], self.terms[1]
        if self.kind == "model":
            return m1, m2, r1
        if self.kind == "regime":
            return r1, r2, m1
        return m1, m2, f"{r1} − {self.terms[2][1]}"

    @classmethod
    def models(cls, a: str, b: str, regime: str, family: str) -> Contrast:
        return cls("model", f"{a} − {b} | {regime}", family, ((a, regime, 1.0), (b, regime, -1.0)))

    @classmethod
    def regimes(cls, model: str, a: str, b: str, family: str) -> Contrast:
        return cls("regime", f"{a} − {b} | {model}", family, ((model, a, 1.0), (model, b, -1.0)))

    @classmethod
    def interaction(cls, a: str, b: str, r: str, s: str, family: str) -> Contrast:
        terms = ((a, r, 1.0), (b, r, -1.0), (a, s, -1.0), (b, s, 1.0))
        return cls("interaction", f"({a} − {b}) × ({r} − {s})", family, terms)


def cell_columns(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and test sizes as (seed, fold, condition) rows x (model, regime) columns."""
    keyed = scores.set_index(["model", "regime", *UNIT_KEYS, "condition"])
    keyed = keyed[~keyed.index.duplicated()]
    wide = keyed[["score", "n"]].unstack(["model", "regime"])
    return wide["score"], wide["n"]


def combine(score: pd.DataFrame, n: pd.DataFrame, contrast: Contrast) -> pd.DataFrame:
    """The contrast's value per row of cell_columns where every term is present, with the
    first term's test size; columns seed, fold, condition, value, n."""
    cells = [(model, regime) for model, regime, _ in contrast.terms]
    if not set(cells) <= set(score.columns):
        return pd.DataFrame(columns=[*UNIT_KEYS, "condition", "value", "n"])
    terms = score[cells].dropna()
    weights = np.array([w for _, _, w in contrast.terms])
    out = pd.DataFrame(
        {"value": terms.to_numpy() @ weights, "n": n.loc[terms.index, cells[0]].to_numpy()},
        index=terms.index,
    )
    return out.reset_index()


def unit_values(scores: pd.DataFrame, contrast: Contrast) -> pd.DataFrame:
    """The contrast's value per (seed, fold, condition) unit where every term is present.

    `scores`: one row per (model, regime, seed, fold, condition) with a `score` column (one
    metric) and the test size `n`. Returns columns seed, fold, condition, value, n.
    """
    return combine(*cell_columns(scores), contrast)


def default_kinds(models: list[str], regimes: list[str], focus: str, reference: str) -> list[str]:
    """The kinds the grid supports: model contrasts when the focus and another fusion model
    ran; regime contrasts with two or more regimes; the interaction when both hold for the
    focus and the reference."""
    kinds = []
    if focus in models and len(models) >= 2:
        kinds.append("model")
    if len(regimes) >= 2:
        kinds.append("regime")
    if "model" in kinds and "regime" in kinds and reference in models and reference != focus:
        kinds.append("interaction")
    return kinds


def asked_contrasts(
    kinds: list[str],
    fusion: list[str],
    every_model: list[str],
    regimes: list[str],
    focus: str,
    reference: str,
) -> list[Contrast]:
    """The contrasts of the asked kinds, each regime against the first (the baseline):

    - model: the focus against every other fusion model within each regime;
    - regime: each later regime against the first within every model;
    - interaction: (focus − reference) × (each later regime − the first).
    """
    base, later = (regimes[0], regimes[1:]) if regimes else ("", [])
    out: list[Contrast] = []
    if "model" in kinds and focus in fusion:
        question = f"{focus} against each fusion model"
        out += [
            Contrast.models(focus, other, regime, question)
            for regime in regimes
            for other in fusion
            if other != focus
        ]
    if "regime" in kinds:
        for regime in later:
            question = f"{regime} − {base} training"
            out += [Contrast.regimes(m, regime, base, question) for m in every_model]
    if "interaction" in kinds and focus != reference:
        for regime in later:
            question = f"does {regime} training change {focus} − {reference}"
            out.append(Contrast.interaction(focus, reference, regime, base, question))
    return out


def _curve_values(curves: dict[str, tuple], contrast: Contrast) -> pd.DataFrame:
    """Per unit and 1-D sweep: the contrast's normalised AUC over the sweep's x values.

    `curves`: sweep -> cell_columns of its points keyed by x (condition = x value).
    """
    frames = []
    for sweep, (score, n) in curves.items():
        per_level = combine(score, n, contrast)
        if per_level.empty:
            continue
        wide = per_level.pivot(index=UNIT_KEYS, columns="condition", values="value").dropna()
        if wide.empty:
            continue
        x = wide.columns.to_numpy(dtype=float)
        span = x[-1] - x[0]
        y = wide.to_numpy()
        nauc = np.trapezoid(y, x, axis=1) / span if span else y.mean(axis=1)
        sizes = per_level.groupby(UNIT_KEYS)["n"].first().reindex(wide.index)
        frame = pd.DataFrame({"sweep": sweep, "value": nauc, "n": sizes.to_numpy()}, wide.index)
        frames.append(frame.reset_index())
    if not frames:
        return pd.DataFrame(columns=[*UNIT_KEYS, "sweep", "value", "n"])
    return pd.concat(frames, ignore_index=True)


def _test_row(values: pd.DataFrame, level: float) -> dict:
    """Estimate, interval, two-sided p and its units from one contrast's unit values."""
    est = inference.estimate(
        values["value"].to_numpy(), values["fold"].to_numpy(), values["n"].to_numpy()
    )
    ci = est.interval(level)
    p = float(inference.t_test_p(est.mean, est.se, est.df)) if est.units >= 2 else math.nan
    return {
        "n": len(values),
        "units": est.units,
        "diff": est.mean,
        "sd": est.sd,
        "se": est.se,
        "df": est.df,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "ci_method": ci.method if est.units >= 2 else inference.NEEDS_PAIRS,
        "p": p,
    }


def _rows(
    cells: tuple[pd.DataFrame, pd.DataFrame],
    conditions: pd.DataFrame,
    curves: dict[str, tuple],
    contrast: Contrast,
    identity: set[str],
    level: float,
) -> list[dict]:
    """Untested rows of one contrast: clean, every non-identity level, every whole curve."""
    a, b, within = contrast.labels
    base = {"contrast": contrast.name, "kind": contrast.kind, "question": contrast.family}
    base |= {"a": a, "b": b, "within": within}
    rows = []
    values = combine(*cells, contrast)
    for condition, g in values.groupby("condition", sort=False):
        if condition in identity:
            continue
        info = conditions.loc[condition]
        scope = "clean" if condition == CLEAN else "level"
        x = None if scope == "clean" or pd.isna(info["value"]) else float(info["value"])
        where = {"scope": scope, "sweep": info["sweep"], "condition": condition, "x": x}
        rows.append(base | where | _test_row(g, level))
    for sweep, g in _curve_values(curves, contrast).groupby("sweep", sort=True):
        where = {"scope": "curve", "sweep": sweep, "condition": CURVE_CONDITION, "x": None}
        rows.append(base | where | _test_row(g, level))
    return rows


def identity_conditions(table: pd.DataFrame, points: pd.DataFrame) -> set[str]:
    """Stored conditions that repeat the clean predictions (a sweep's identity level)."""
    flagged = table["identity"].astype("boolean").fillna(False).astype(bool)
    stored = points[points["identity"] & (points["source"] == "stored")]
    return (set(table.loc[flagged, "condition"]) | set(stored["condition"])) - {CLEAN}


def family_of(row: pd.Series) -> str:
    """The multiplicity family of one tested row (see the module docstring)."""
    if row["scope"] == "level":
        return f"{row['contrast']} · levels of {row['sweep']}"
    if row["scope"] == "curve":
        return f"{row['question']} · whole curve of {row['sweep']}"
    return f"{row['question']} · clean"


def contrast_table(
    table: pd.DataFrame,
    points: pd.DataFrame,
    contrasts: list[Contrast],
    level: float,
    margin: float,
    metric: str = "accuracy",
) -> pd.DataFrame:
    """Every contrast tested at clean, at each non-identity level and over each whole curve.

    `table`: the results table; `points`: its curve points
    (tacfn_robust.reports.statistics.robustness). Per row: the paired t test and t-interval over the
    units (fold means with several folds), Holm within the row's family at alpha = 1 - level, TOST
    against ±margin with the same family adjustment, the verdict, and the MDD at 80 % power at the
    family's first Holm step. `variance` is None here;
    tacfn_robust.reports.statistics.accounting.variance_column fills it.
    """
    alpha = 1 - level
    scores = table[table["metric"] == metric]
    keyed = points[["model", "regime", *UNIT_KEYS, "sweep", "value", "score"]].merge(
        scores[scores["condition"] == CLEAN][["model", "regime", *UNIT_KEYS, "n"]],
        on=["model", "regime", *UNIT_KEYS],
    )
    curves = {
        sweep: cell_columns(g.assign(condition=g["value"]))
        for sweep, g in keyed.groupby("sweep", sort=True)
    }
    cells = cell_columns(scores)
    conditions = scores.drop_duplicates("condition").set_index("condition")
    identity = identity_conditions(scores, points)
    rows = [r for c in contrasts for r in _rows(cells, conditions, curves, c, identity, level)]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.DataFrame(rows)
    out["metric"], out["margin"], out["variance"] = metric, margin, None
    out["family"] = out.apply(family_of, axis=1)
    out["p_equivalence"] = [
        float(inference.equivalence_p(m, s, d, margin)) if u >= 2 else math.nan
        for m, s, d, u in zip(out["diff"], out["se"], out["df"], out["units"], strict=True)
    ]
    out["p_holm"] = np.nan
    for _, idx in out.groupby("family", sort=False).groups.items():
        out.loc[idx, "p_holm"] = inference.holm(out.loc[idx, "p"].to_numpy())
        out.loc[idx, "p_equivalence"] = inference.holm(out.loc[idx, "p_equivalence"].to_numpy())
    out["family_size"] = out.groupby("family")["p"].transform(lambda p: int(p.notna().sum()))
    out["verdict"] = inference.verdict(
        out["p_holm"], out["ci_low"], out["ci_high"], alpha, out["p_equivalence"]
    )
    first_step = alpha / out["family_size"].clip(lower=1)
    out["mdd"] = [
        inference.mdd(s, u, a) for s, u, a in zip(out["sd"], out["units"], first_step, strict=True)
    ]
    return out[COLUMNS]
