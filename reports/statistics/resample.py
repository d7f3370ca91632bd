"""Single-run uncertainty of curve measures: bootstrap over the run's test samples.

With one run per (model, regime) there is no run-to-run spread; the interval then resamples
the test samples (conditional on that run). One resample draws sample ids once and applies
them to every condition of the run (a sample's clean and corrupted predictions stay together), so
every measure of a curve, and mCE across sweeps, is computed from the same resample. The
reference curve of CE and effective robustness stays at its mean, as in the point estimate.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from tacfn.core.store import RUN_KEYS
from tacfn_robust.reports.statistics.inference import sample_draws
from tacfn_robust.reports.statistics.robustness import (
    CURVE_KEYS,
    curve_measures,
    reference_curves,
    reference_on,
)

REFERENCE_MEASURES = ("ce", "relative_ce", "effective_robustness", "mce", "relative_mce")
MEAN_CE = {"ce": "mce", "relative_ce": "relative_mce"}


def _resample_weights(n: int) -> np.ndarray:
    """How often each of n samples is drawn in each bootstrap resample: (R, n) counts."""
    draws = sample_draws(n)
    flat = np.arange(draws.shape[0])[:, None] * n + draws
    return np.bincount(flat.ravel(), minlength=draws.size).reshape(-1, n)


def _condition_accuracy(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of every condition of one run over the resamples: (R, conditions) frame.

    A sample's correctness is the mean over its rows (multilabel: over its targets).
    """
    correct = predictions.assign(ok=(predictions["label"] == predictions["pred"]).astype(float))
    per_sample = correct.pivot_table(index="sample_id", columns="condition", values="ok")
    per_sample = per_sample.sort_index()
    weights = _resample_weights(len(per_sample))
    acc = weights @ per_sample.to_numpy() / len(per_sample)
    return pd.DataFrame(acc, columns=per_sample.columns)


def single_run_measure_draws(
    points: pd.DataFrame, predictions: pd.DataFrame, table: pd.DataFrame, reference: str
) -> dict[tuple, tuple[np.ndarray, int]]:
    """(model, regime, sweep, measure) -> (resampled values, test samples), for one-run pairs.

    Covers every curve measure, and mce / relative_mce under sweep 'all'.
    """
    if points.empty:
        return {}
    runs = points[RUN_KEYS].drop_duplicates()
    single = runs.groupby(["model", "regime"]).filter(lambda g: len(g) == 1)
    ref_curves, ref_clean = reference_curves(points, table, reference)
    by_run = predictions.groupby(RUN_KEYS, sort=False)
    out: dict[tuple, tuple[np.ndarray, int]] = {}
    for run in single.itertuples(index=False):
        acc = _condition_accuracy(by_run.get_group(tuple(run)))
        n = int(by_run.get_group(tuple(run))["sample_id"].nunique())
        run_points = points.merge(pd.DataFrame([run._asdict()]), on=RUN_KEYS)
        ce: dict[str, list[np.ndarray]] = {name: [] for name in MEAN_CE}
        for (*_, sweep), curve in run_points.groupby(CURVE_KEYS, sort=True):
            curve = curve.sort_values("value")
            x = curve["value"].to_numpy(dtype=float)
            ref_y, ref_c = reference_on(ref_curves, ref_clean, run.regime, sweep, x)
            measures = curve_measures(
                x,
                acc[curve["condition"].to_list()].to_numpy(),
                curve["identity"].to_numpy(),
                acc["clean"].to_numpy(),
                ref_y,
                ref_c,
            )
            for name, draws in measures.items():
                out[(run.model, run.regime, sweep, name)] = (draws, n)
            for name in ce:
                ce[name].append(measures[name])
        for name, parts in ce.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a draw with no defined CE
                draws = np.nanmean(parts, axis=0)
            out[(run.model, run.regime, "all", MEAN_CE[name])] = (draws, n)
    return out
