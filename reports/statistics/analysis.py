"""Everything the report, summary.json and the gate need, computed once from a run's scores."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tacfn.core.store import CLEAN, RUN_KEYS
from tacfn_robust.reports.reading.run_dir import Run
from tacfn_robust.reports.scoring.metrics import custom_metrics
from tacfn_robust.reports.scoring.table import Scores
from tacfn_robust.reports.statistics.accounting import variance_column
from tacfn_robust.reports.statistics.comparisons import (
    FRIEDMAN_NEEDS,
    Friedman,
    condition_means,
    friedman,
    probability_of_improvement,
)
from tacfn_robust.reports.statistics.contrasts import (
    Contrast,
    asked_contrasts,
    contrast_table,
    default_kinds,
)
from tacfn_robust.reports.statistics.inference import (
    DETECT,
    Interval,
    mean_interval,
    percentile_interval,
    single_run_what,
)
from tacfn_robust.reports.statistics.resample import REFERENCE_MEASURES, single_run_measure_draws
from tacfn_robust.reports.statistics.robustness import (
    REFERENCE_IDENTITY,
    curve_points,
    curve_summaries,
    unimodal_floor,
)

DEFAULT_FOCUS = "tacfn"
DEFAULT_REFERENCE = "concat"


@dataclass
class Analysis:
    """Tidy tables of one run: per-run scores, condition means with CIs, curve summaries."""

    run: Run
    table: pd.DataFrame
    means: pd.DataFrame
    points: pd.DataFrame
    summaries: pd.DataFrame
    summary_means: pd.DataFrame
    floors: pd.DataFrame
    chance: pd.DataFrame
    focus: str
    reference: str
    level: float
    metric: str = "accuracy"
    margin: float = DETECT
    contrasts: pd.DataFrame | None = None
    asked: tuple[Contrast, ...] = ()
    below_floor: pd.DataFrame | None = None
    improvement: pd.DataFrame | None = None
    friedman: Friedman | None = None
    friedman_note: str = FRIEDMAN_NEEDS

    @property
    def fusion_models(self) -> list[str]:
        return sorted(m for m, mods in self.run.modalities().items() if len(mods) > 1)

    @property
    def regimes(self) -> list[str]:
        """The protocol's training regimes in its order, then any other of the results table."""
        listed = list((self.run.protocol.get("train") or {}).get("regimes") or {})
        return [r for r in listed if r in set(self.table["regime"])] + sorted(
            set(self.table["regime"]) - set(listed)
        )

    @property
    def models(self) -> list[str]:
        """The protocol's models in its order, then any other model of the results table."""
        entries = self.run.protocol.get("models", [])
        listed = [m if isinstance(m, str) else m["name"] for m in entries]
        return listed + sorted(set(self.table["model"]) - set(listed))


def summarise_measures(
    summaries: pd.DataFrame,
    level: float,
    single_run: dict[tuple, tuple[np.ndarray, int]] | None = None,
    sizes: pd.Series | None = None,
    reference: str | None = None,
) -> pd.DataFrame:
    """Mean, std, CI and n over runs of every (model, regime, sweep, measure).

    Folds are clusters weighted by their test size (`sizes`, indexed by run keys);
    `single_run` holds sample-bootstrap draws for model x regime pairs with one run. The
    `reference` model's CE, relative CE, mCE and effective robustness against itself are their
    defined values (1, or 0) with no interval.
    """
    rows = []
    single_run = single_run or {}
    if sizes is not None and not summaries.empty:
        summaries = summaries.join(sizes.rename("size"), on=RUN_KEYS)
    for key, g in summaries.groupby(["model", "regime", "sweep", "measure"], sort=True):
        g = g[g["score"].notna()]
        values = g["score"].to_numpy()
        weights = g["size"].to_numpy() if "size" in g else None
        mean, ci = mean_interval(values, level, g["fold"].to_numpy(), weights)
        if values.size == 1 and key in single_run:
            draws, samples = single_run[key]
            what = single_run_what(samples)
            if key[3] in REFERENCE_MEASURES:
                what += " (reference curve fixed at its mean)"
            ci = percentile_interval(draws, level, what)
        defined = key[0] == reference and key[3] in REFERENCE_IDENTITY
        if defined:
            mean = REFERENCE_IDENTITY[key[3]]
            ci = Interval(math.nan, math.nan, "by definition: the reference against itself")
        rows.append(
            {
                **dict(zip(["model", "regime", "sweep", "measure"], key, strict=True)),
                "mean": mean,
                "std": float(values.std(ddof=1))
                if values.size > 1 and not defined
                else float("nan"),
                "ci_low": ci.low,
                "ci_high": ci.high,
                "ci_method": ci.method,
                "n": int(values.size),
            }
        )
    return pd.DataFrame(rows)


def _floors(table: pd.DataFrame, points: pd.DataFrame, run: Run, metric: str) -> pd.DataFrame:
    """Unimodal floor per regime and missing-modality sweep."""
    rows = []
    if points.empty:
        return pd.DataFrame(columns=["regime", "sweep", "missing", "floor", "models"])
    missing = points[points["corruption"] == "missing"][["regime", "sweep", "modality"]]
    for regime, sweep, modality in missing.drop_duplicates().itertuples(index=False):
        floor, models = unimodal_floor(table, run.modalities(), modality, regime, metric)
        rows.append(
            {
                "regime": regime,
                "sweep": sweep,
                "missing": modality,
                "floor": floor,
                "models": models,
            }
        )
    return pd.DataFrame(rows, columns=["regime", "sweep", "missing", "floor", "models"])


BELOW_FLOOR_COLUMNS = [
    "model", "regime", "sweep", "missing", "floor", "x", "mean", "ci_low", "ci_high", "below"
]  # fmt: skip


def below_floor(
    means: pd.DataFrame, floors: pd.DataFrame, fusion: list[str], metric: str
) -> pd.DataFrame:
    """Per fusion model, regime and missing-modality sweep: the first level from which the
    model's mean stays below the unimodal floor, its mean and CI there, and whether the whole
    CI is below the floor. Curves that never end below the floor have no row."""
    rows = []
    m = means[(means["metric"] == metric) & means["model"].isin(fusion)]
    for f in floors[floors["floor"].notna()].itertuples():
        sel = m[(m["regime"] == f.regime) & (m["sweep"] == f.sweep)]
        for model, curve in sel.sort_values("value").groupby("model", sort=True):
            above = (curve["mean"] >= f.floor).to_numpy()
            if above[-1]:
                continue
            first = curve.iloc[int(np.flatnonzero(above)[-1]) + 1 if above.any() else 0]
            rows.append(
                {
                    "model": model,
                    "regime": f.regime,
                    "sweep": f.sweep,
                    "missing": f.missing,
                    "floor": f.floor,
                    "x": float(first["value"]),
                    "mean": float(first["mean"]),
                    "ci_low": float(first["ci_low"]),
                    "ci_high": float(first["ci_high"]),
                    "below": bool(first["ci_high"] < f.floor),
                }
            )
    return pd.DataFrame(rows, columns=BELOW_FLOOR_COLUMNS)


def analyse(scores: Scores, with_tests: bool = True) -> Analysis:
    """Statistics of a scored run; `with_tests` adds the contrasts, Friedman and
    P(improvement)."""
    run, table, metric = scores.run, scores.table, scores.metric
    options = run.report_options
    level = float(options.get("ci", 0.95))
    focus = str(options.get("focus", DEFAULT_FOCUS))
    reference = str(options.get("reference", DEFAULT_REFERENCE))
    points = curve_points(table, run.protocol, metric)
    summaries = curve_summaries(points, table, reference, metric)
    single_run = (
        single_run_measure_draws(points, run.predictions, table, reference)
        if metric == "accuracy"
        else {}
    )
    sizes = table[table["condition"] == CLEAN].drop_duplicates(RUN_KEYS)
    analysis = Analysis(
        run=run,
        table=table,
        means=condition_means(
            table, run.predictions, level, run.class_names(), custom_metrics([metric])
        ),
        points=points,
        summaries=summaries,
        summary_means=summarise_measures(
            summaries, level, single_run, sizes.set_index(RUN_KEYS)["n"], reference
        ),
        floors=_floors(table, points, run, metric),
        chance=scores.chance,
        focus=focus,
        reference=reference,
        level=level,
        metric=metric,
        margin=float(options.get("margin") or DETECT),
    )
    analysis.below_floor = below_floor(
        analysis.means, analysis.floors, analysis.fusion_models, metric
    )
    if with_tests:
        present = set(table["model"])
        fusion = [m for m in analysis.models if m in analysis.fusion_models and m in present]
        every = [m for m in analysis.models if m in present]
        kinds = options.get("contrasts")
        if kinds is None:
            kinds = default_kinds(fusion, analysis.regimes, focus, reference)
        contrasts = asked_contrasts(kinds, fusion, every, analysis.regimes, focus, reference)
        analysis.asked = tuple(contrasts)
        analysis.contrasts = contrast_table(
            table, points, contrasts, level, analysis.margin, metric
        )
        analysis.contrasts["variance"] = variance_column(
            run, table, points, contrasts, analysis.contrasts, level, metric
        )
        others = [m for m in fusion if m != focus]
        if focus in present:
            analysis.improvement = probability_of_improvement(table, focus, others, metric, level)
        analysis.friedman = friedman(table, fusion, metric)
    return analysis


def curve_means(analysis: Analysis) -> pd.DataFrame:
    """Condition means (report metric) of every 1-D curve point, clean-sourced identity included."""
    m = analysis.means[analysis.means["metric"] == analysis.metric]
    stored = m[(m["sweep"] != CLEAN) & m["corruption2"].isna()]
    from_clean = analysis.points[analysis.points["source"] == "clean"]
    if from_clean.empty:  # no sweeps (test.sweeps: []): clean results only
        return stored.reset_index(drop=True)
    keys = ["model", "regime", "sweep", "value"]
    filled = from_clean[[*keys, "param", "unit"]].drop_duplicates(keys)
    clean = m[m["condition"] == CLEAN].drop(columns=["sweep", "value", "param", "unit"])
    return pd.concat([stored, filled.merge(clean, on=["model", "regime"])], ignore_index=True)


def worst_condition(analysis: Analysis) -> str | None:
    """The non-clean condition with the lowest mean report metric over the fusion models."""
    m = analysis.means
    rows = m[(m["metric"] == analysis.metric) & (m["condition"] != CLEAN)]
    fused = rows[rows["model"].isin(analysis.fusion_models)]
    rows = fused if not fused.empty else rows
    if rows.empty:
        return None
    by_condition = rows.groupby("condition")["mean"].mean()
    return str(by_condition.idxmin()) if np.isfinite(by_condition.min()) else None
