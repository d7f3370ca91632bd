"""Robustness summaries of curves y(x): nAUC, relative robustness, drop, CE, effective robustness.

A curve is one one-dimensional sweep of one run. Its identity point (the input untouched)
is a stored point flagged `identity` by the runner (or of a `missing` sweep at p = 0), or the
clean condition placed at each declared value with no stored rows. Stored points at a
non-finite value (e.g. SNR = inf) are left out of curves.
Sweeps declared by `levels` are drawn over the stored physical values of levels 1..5.
`subsets` sweeps and joint (two-axis) sweeps have no 1-D curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tacfn.core.store import CLEAN, RUN_KEYS, SUBSETS, declares_sweep

CURVE_KEYS = [*RUN_KEYS, "sweep"]
# what each curve measure is, with {metric} standing for the report metric's label
MEASURES = {
    "clean": "{metric} at the identity (clean) condition",
    "nauc": "trapezoid area over the declared x values / (x_max - x_min)",
    "relative_robustness": "nAUC / clean",
    "mean_corrupted": "mean {metric} over the non-identity points",
    "drop": "clean - mean corrupted",
    "error_corrupted": "raw error: mean of (1 - {metric}) over the non-identity points",
    "ce": "corruption error: sum_s E_s(model) / sum_s E_s(reference), E = 1 - {metric}",
    "relative_ce": "sum_s (E_s - E_clean)(model) / sum_s (E_s - E_clean)(reference)",
    "effective_robustness": "sum_s (f_s - (r_s + f_0 - r_0)) against the reference r",
    "mce": "mean CE over the sweeps of the model",
    "relative_mce": "mean relative CE over the sweeps of the model",
}

# The reference model's value of a measure against itself, by definition (no interval).
REFERENCE_IDENTITY = {
    "ce": 1.0,
    "relative_ce": 1.0,
    "mce": 1.0,
    "relative_mce": 1.0,
    "effective_robustness": 0.0,
}


def normalised_auc(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoid area over the actual x grid divided by its span (y itself for one point)."""
    order = np.argsort(np.asarray(x, dtype=float))
    x = np.asarray(x, dtype=float)[order]
    y = np.asarray(y, dtype=float)[order]
    identity = np.zeros(x.shape, dtype=bool)
    return float(curve_measures(x, y, identity, 1.0)["nauc"])


def _declared_values(protocol: dict, sweep: str) -> list[float]:
    """The explicit `values` of the declared test sweep that produced `sweep` (else none)."""
    for spec in (protocol.get("test") or {}).get("sweeps") or []:
        if declares_sweep(spec, sweep):
            return [float(v) for v in spec.get("values") or []]
    return []


def curve_points(table: pd.DataFrame, protocol: dict, metric: str = "accuracy") -> pd.DataFrame:
    """Per run and one-dimensional sweep: x, score, whether the point is the identity, source."""
    scores = table[table["metric"] == metric]
    clean = scores[scores["condition"] == CLEAN].set_index(RUN_KEYS)["score"]
    one_d = scores[
        (scores["sweep"] != CLEAN)
        & scores["corruption2"].isna()
        & (scores["corruption"] != SUBSETS)
    ]
    frames = []
    for sweep, rows in one_d.groupby("sweep", sort=True):
        first = rows.iloc[0]
        stored = rows[np.isfinite(rows["value"])].assign(source="stored")[
            [*CURVE_KEYS, "condition", "value", "score", "source", "identity"]
        ]
        declared = _declared_values(protocol, sweep)
        extra = [v for v in declared if not np.isclose(stored["value"], v).any()]
        filled = [
            pd.DataFrame(
                {
                    **{k: clean.index.get_level_values(k) for k in RUN_KEYS},
                    "sweep": sweep,
                    "condition": CLEAN,
                    "value": v,
                    "score": clean.to_numpy(),
                    "source": "clean",
                }
            )
            for v in extra
        ]
        points = pd.concat([stored, *filled], ignore_index=True)
        runs = stored[RUN_KEYS].drop_duplicates()
        points = points.merge(runs, on=RUN_KEYS)
        points["identity"] = (
            (points["source"] == "clean")
            | points["identity"].astype("boolean").fillna(False).astype(bool)
            | ((first["corruption"] == "missing") & np.isclose(points["value"], 0.0))
        )
        points["corruption"], points["modality"] = first["corruption"], first["modality"]
        points["param"], points["unit"] = first["param"], first["unit"]
        frames.append(points)
    if not frames:
        return pd.DataFrame(
            columns=[*CURVE_KEYS, "condition", "value", "score", "source", "identity"]
        )
    return pd.concat(frames, ignore_index=True).sort_values([*CURVE_KEYS, "value"])


def curve_measures(
    x: np.ndarray,
    y: np.ndarray,
    identity: np.ndarray,
    clean: np.ndarray | float,
    ref_y: np.ndarray | None = None,
    ref_clean: float = float("nan"),
) -> dict[str, np.ndarray]:
    """Every measure of curves y (..., P) over sorted x (P,), one value per leading index.

    `identity` (P,) flags identity points; `clean` (...) is the clean accuracy; `ref_y` (P,)
    is the reference model's mean curve on the same x (NaN where it has no point).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    identity = np.asarray(identity, dtype=bool)
    clean = np.asarray(clean, dtype=float)
    nan = np.full(clean.shape, np.nan)
    span = x[-1] - x[0]
    nauc = np.trapezoid(y, x, axis=-1) / span if span != 0 else y.mean(axis=-1)
    corrupted = y[..., ~identity]
    mean_corrupted = corrupted.mean(axis=-1) if corrupted.shape[-1] else nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "clean": clean,
            "nauc": nauc,
            "relative_robustness": np.where(clean > 0, nauc / clean, np.nan),
            "mean_corrupted": mean_corrupted,
            "drop": clean - mean_corrupted,
            "error_corrupted": 1.0 - mean_corrupted,
        }
        shared = ~identity & ~np.isnan(ref_y) if ref_y is not None else np.zeros_like(identity)
        if not shared.any():
            return {**out, "ce": nan, "relative_ce": nan, "effective_robustness": nan}
        f, r = y[..., shared], np.asarray(ref_y)[shared]
        ref_error = np.sum(1 - r)
        ref_rel = np.sum((1 - r) - (1 - ref_clean))
        f_error = np.sum(1 - f, axis=-1)
        f_rel = np.sum((1 - f) - (1 - clean[..., None]), axis=-1)
        out["ce"] = f_error / ref_error if ref_error > 0 else nan
        out["relative_ce"] = f_rel / ref_rel if ref_rel > 0 else nan
        out["effective_robustness"] = np.sum(f - (r + clean[..., None] - ref_clean), axis=-1)
    return out


def reference_curves(
    points: pd.DataFrame, table: pd.DataFrame, reference: str, metric: str = "accuracy"
) -> tuple[pd.Series, pd.Series]:
    """The reference model's mean corrupted curve (regime, sweep, value) and clean (regime)."""
    clean_rows = table[(table["metric"] == metric) & (table["condition"] == CLEAN)]
    ref_points = points[(points["model"] == reference) & ~points["identity"]]
    curves = ref_points.groupby(["regime", "sweep", "value"])["score"].mean()
    clean = clean_rows[clean_rows["model"] == reference].groupby("regime")["score"].mean()
    return curves, clean


def reference_on(
    curves: pd.Series, clean: pd.Series, regime: str, sweep: str, x: np.ndarray
) -> tuple[np.ndarray | None, float]:
    """The reference curve on grid x (NaN where missing) and its clean accuracy, if any."""
    if regime not in clean.index or (regime, sweep) not in curves.index.droplevel("value"):
        return None, float("nan")
    curve = curves.loc[(regime, sweep)]
    return curve.reindex(x).to_numpy(dtype=float), float(clean[regime])


def curve_summaries(
    points: pd.DataFrame, table: pd.DataFrame, reference: str, metric: str = "accuracy"
) -> pd.DataFrame:
    """Long table: one row per run x sweep x measure (sweep 'all' for mCE), column `score`."""
    if points.empty:
        return pd.DataFrame(columns=[*CURVE_KEYS, "measure", "score"])
    clean_rows = table[(table["metric"] == metric) & (table["condition"] == CLEAN)]
    clean = clean_rows.set_index(RUN_KEYS)["score"]
    ref_curves, ref_clean = reference_curves(points, table, reference, metric)
    rows = []
    for key, run_points in points.groupby(CURVE_KEYS, sort=True):
        run_points = run_points.sort_values("value")
        regime, sweep = key[1], key[4]
        x = run_points["value"].to_numpy(dtype=float)
        ref_y, ref_c = reference_on(ref_curves, ref_clean, regime, sweep, x)
        measures = curve_measures(
            x,
            run_points["score"].to_numpy(),
            run_points["identity"].to_numpy(),
            float(clean.get(key[:4], np.nan)),
            ref_y,
            ref_c,
        )
        rows.extend(
            {**dict(zip(CURVE_KEYS, key, strict=True)), "measure": m, "score": float(s)}
            for m, s in measures.items()
        )
    long = pd.DataFrame(rows)
    return pd.concat([long, mean_ce(long)], ignore_index=True)


def mean_ce(long: pd.DataFrame) -> pd.DataFrame:
    """mCE and relative mCE per run (sweep 'all') from a long table of CE per sweep."""
    per_run = long[long["measure"].isin(["ce", "relative_ce"])].groupby(
        [*RUN_KEYS, "measure"], dropna=False
    )
    mce = per_run["score"].mean().reset_index()
    mce["measure"] = mce["measure"].map({"ce": "mce", "relative_ce": "relative_mce"})
    mce["sweep"] = "all"
    return mce[long.columns]


def unimodal_floor(
    table: pd.DataFrame,
    modalities: dict[str, tuple[str, ...]],
    missing: str,
    regime: str,
    metric: str = "accuracy",
) -> tuple[float, list[str]]:
    """Best clean score among unimodal models reading only modalities other than `missing`.

    Uses the unimodal models' runs in `regime` when they exist, else all their runs.
    Returns (floor, model names); NaN and [] when no such unimodal model was run.
    """
    fused = {m for mods in modalities.values() if len(mods) > 1 for m in mods}
    remaining = fused - {missing}
    candidates = [
        name for name, mods in modalities.items() if len(mods) == 1 and set(mods) <= remaining
    ]
    clean = table[(table["metric"] == metric) & (table["condition"] == CLEAN)]
    best, used = float("nan"), []
    for name in candidates:
        rows = clean[clean["model"] == name]
        same = rows[rows["regime"] == regime]
        score = float((same if not same.empty else rows)["score"].mean())
        if not np.isnan(score) and (np.isnan(best) or score > best):
            best, used = score, [name]
    return best, used
