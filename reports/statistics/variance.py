"""Where the variance of a paired contrast comes from: training seed, fold (actors), test sampling.

The model, for one contrast at one level (or summarised over a curve), on the unit (seed s,
fold f) with value d_sf (docs/statistics.md, "Variance accounting"):

    d_sf = mu + A_f + C_f + S_sf + V_sf

- A_f  fold: which actors train, validate and test (shared by the fold's seeds);
- C_f  test sampling the fold's seeds share: they score the same test clips;
- S_sf training seed within the fold;
- V_sf test sampling of the seed's own clip-level errors (seed × clip).

Test sampling is measured from per-sample values within the label strata: the unit's
stratified variance of the mean estimates var(C) + var(V), the same for the per-sample values
averaged over the fold's r seeds estimates var(C) + var(V) / r. A seed-within-fold one-way
random-effects ANOVA (method of moments) of the unit values gives
E[MS_within] = var(S) + var(V) and E[MS_between] = r (var(A) + var(C)) + var(S) + var(V), so
the seed and fold components are the ANOVA's with the test-sampling part each holds
subtracted. Components are truncated at 0 (and say so). Intervals are generalized
confidence intervals: each mean square is replaced by ms · df / chi2(df) in seeded draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tacfn_robust.reports.scoring.metrics import (
    confusions,
    custom_scores,
    multiclass_from_confusion,
)
from tacfn_robust.reports.statistics.contrasts import UNIT_KEYS, Contrast

N_DRAWS = 4000
N_BOOTSTRAP = 400
SEED_AND_FOLD = "seed + fold"
ONE_SEED = "one seed per fold: seed and fold cannot be told apart; their sum is given"
ONE_FOLD = "one fold: the fold component cannot be estimated"


@dataclass(frozen=True)
class ClipSampling:
    """Test-sampling variance of one unit's value and the part the seeds of a fold share.

    `shared` is NaN with one seed per fold; `clips` is the mean test size of a fold; `df`
    the degrees of freedom of the within-stratum variances (folds × (clips − strata)).
    """

    unit: float
    shared: float
    clips: float
    df: float
    method: str

    @property
    def own(self) -> float:
        """The seed's own part (seed × clip), NaN with one seed per fold."""
        return self.unit - self.shared


def _stratified(groups: np.ndarray, labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per group code 0..G-1: the variance of the mean of `values` over a sample stratified by
    the label codes, sum_h (n_h/n)^2 s_h^2 / n_h."""
    shape = (int(groups.max()) + 1, int(labels.max()) + 1)
    key = groups * shape[1] + labels
    size = np.bincount(key, minlength=shape[0] * shape[1]).astype(float)
    s1 = np.bincount(key, values, minlength=size.size)
    s2 = np.bincount(key, values * values, minlength=size.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(size > 1, np.maximum(s2 - s1 * s1 / size, 0.0) / (size - 1), 0.0)
        per = np.where(size > 0, var / size, 0.0).reshape(shape)
    size = size.reshape(shape)
    return ((size / size.sum(axis=1, keepdims=True)) ** 2 * per).sum(axis=1)


def stratified_variance(values: np.ndarray, strata: np.ndarray) -> float:
    """Variance of the mean of `values` over a stratified sample (strata: labels)."""
    labels = pd.factorize(np.asarray(strata))[0]
    return float(_stratified(np.zeros(labels.size, int), labels, np.asarray(values, float))[0])


def correctness(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per-sample correctness of a run, wide: one row per (seed, fold, sample_id, label), one
    column per (model, regime, condition); 1.0 right, 0.0 wrong, NaN not run."""
    keys = ["model", "regime", "condition", *UNIT_KEYS, "sample_id", "label"]
    right = predictions["label"].to_numpy() == predictions["pred"].to_numpy()
    frame = predictions[keys].assign(correct=right.astype(float))
    return frame.set_index(keys)["correct"].unstack(["model", "regime", "condition"])


def per_sample_values(
    wide: pd.DataFrame, contrast: Contrast, weights: Mapping[str, float]
) -> pd.DataFrame:
    """The contrast's per-sample value: sum over terms and conditions of weights × correct.

    `wide`: `correctness` of the run. `weights`: condition -> weight (one level:
    {condition: 1}; a curve summary: its weights). Samples are kept where every term has every
    condition on the same (seed, fold, sample). Returns seed, fold, sample_id, label, value.
    """
    columns = [(m, r, c) for m, r, _ in contrast.terms for c in weights]
    w = np.array([tw * weights[c] for _, _, tw in contrast.terms for c in weights])
    cells = wide.reindex(columns=pd.MultiIndex.from_tuples(columns)).dropna()
    return cells.index.to_frame(index=False).assign(value=cells.to_numpy() @ w)


def clip_sampling_of_means(samples: pd.DataFrame) -> ClipSampling:
    """Test sampling of a contrast of per-sample means (accuracy) from its per-sample values."""
    values = samples["value"].to_numpy(float)
    labels = pd.factorize(samples["label"])[0]
    folds = pd.factorize(samples["fold"])[0]
    units = samples.groupby(["fold", "seed"], sort=False).ngroup().to_numpy()
    clips = samples.groupby(["fold", "sample_id"], sort=False).ngroup().to_numpy()
    count = np.bincount(clips)
    unit_fold = np.bincount(units, folds) / np.bincount(units)
    per_fold = np.bincount(unit_fold.astype(int), _stratified(units, labels, values))
    seeds = np.bincount(unit_fold.astype(int))
    clip_label = np.zeros(count.size, int)
    clip_label[clips] = labels
    clip_fold = np.zeros(count.size, int)
    clip_fold[clips] = folds
    of_mean = _stratified(clip_fold, clip_label, np.bincount(clips, values) / count)
    unit = per_fold / seeds
    shared = [_shared(u, m, int(r)) for u, m, r in zip(unit, of_mean, seeds, strict=True)]
    clips_per_fold = np.bincount(clip_fold)
    strata = samples.groupby("fold", sort=False)["label"].nunique().to_numpy()
    return ClipSampling(
        float(unit.mean()),
        float(np.mean(shared)),
        float(clips_per_fold.mean()),
        float((clips_per_fold - strata).sum()),
        "stratified variance of per-sample values within label strata",
    )


def clip_sampling_bootstrap(
    predictions: pd.DataFrame,
    contrast: Contrast,
    weights: Mapping[str, float],
    metric: str,
    num_classes: int,
    seed: int = 0,
) -> ClipSampling:
    """Test sampling of a contrast of a metric that is no mean of per-sample scores (macro F1):
    a bootstrap of the fold's test samples within label strata, the same draws for every
    seed, term and condition of the fold."""
    cells = predictions[predictions["condition"].isin(list(weights))]
    units, shared, clips, df = [], [], [], 0.0
    for fold_id, fold in cells.groupby("fold"):
        ids = np.sort(fold["sample_id"].unique())
        labels = fold.drop_duplicates("sample_id").set_index("sample_id")["label"].loc[ids]
        draws = stratified_draws(labels.to_numpy(), N_BOOTSTRAP, seed + int(fold_id))
        per_seed = []
        for _, runs in fold.groupby("seed"):
            value = np.zeros(N_BOOTSTRAP)
            for model, regime, weight in contrast.terms:
                cell = runs[(runs["model"] == model) & (runs["regime"] == regime)]
                for condition, w in weights.items():
                    rows = cell[cell["condition"] == condition].set_index("sample_id")
                    rows = rows.reindex(ids)
                    value += weight * w * _metric_draws(rows, draws, metric, num_classes)
            if np.isfinite(value).all():  # else a term or condition is missing on this unit
                per_seed.append(value)
        if not per_seed:
            continue
        stack = np.array(per_seed)
        unit = float(stack.var(axis=1, ddof=1).mean())
        units.append(unit)
        shared.append(_shared(unit, float(stack.mean(axis=0).var(ddof=1)), len(per_seed)))
        clips.append(len(ids))
        df += len(ids) - labels.nunique()
    return ClipSampling(
        float(np.mean(units)),
        float(np.mean(shared)),
        float(np.mean(clips)),
        df,
        f"bootstrap of test samples within label strata ({N_BOOTSTRAP} draws)",
    )


def _shared(unit: float, of_mean: float, seeds: int) -> float:
    """Shared part C from var(C) + var(V) (`unit`) and var(C) + var(V) / r (`of_mean`)."""
    return (seeds * of_mean - unit) / (seeds - 1) if seeds > 1 else float("nan")


def stratified_draws(labels: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """Bootstrap resamples (draws, n) of sample indices, each stratum keeping its size."""
    rng = np.random.default_rng(seed)
    columns = [
        rng.choice(idx, size=(draws, idx.size))
        for idx in (np.flatnonzero(labels == h) for h in np.unique(labels))
    ]
    return np.concatenate(columns, axis=1)


def _metric_draws(rows: pd.DataFrame, draws: np.ndarray, metric: str, k: int) -> np.ndarray:
    """The metric of every resample of `rows`; NaN when a sample has no prediction."""
    if rows["pred"].isna().any():
        return np.full(draws.shape[0], np.nan)
    labels, preds = rows["label"].to_numpy(np.int64), rows["pred"].to_numpy(np.int64)
    scores = multiclass_from_confusion(confusions(labels, preds, draws, k), [])
    if metric in scores:
        return np.asarray(scores[metric], float)
    return custom_scores(labels, preds, [metric], draws)[metric]


@dataclass(frozen=True)
class Anova:
    """Seed-within-fold one-way random-effects ANOVA of unit values (method of moments)."""

    folds: int
    seeds_per_fold: float  # r0: the mean seeds per fold, adjusted for imbalance
    ms_between: float
    df_between: int
    ms_within: float
    df_within: int


def seed_fold_anova(units: pd.DataFrame) -> Anova:
    """The ANOVA of `units` (columns seed, fold, value): between-fold and within-fold MS."""
    values = units["value"].to_numpy(float)
    by_fold = units.groupby("fold")["value"]
    sizes, means = by_fold.size().to_numpy(), by_fold.mean().to_numpy()
    n, k = values.size, sizes.size
    grand = values.mean()
    within = float(((values - units["fold"].map(by_fold.mean()).to_numpy()) ** 2).sum())
    df_b, df_w = k - 1, n - k
    r0 = (n - (sizes**2).sum() / n) / df_b if df_b > 0 else float(n)
    return Anova(
        folds=k,
        seeds_per_fold=float(r0),
        ms_between=float((sizes * (means - grand) ** 2).sum() / df_b) if df_b > 0 else float("nan"),
        df_between=df_b,
        ms_within=within / df_w if df_w > 0 else float("nan"),
        df_within=df_w,
    )


@dataclass(frozen=True)
class Components:
    """Variance components of one contrast at one level, each a draw array's first entry being
    the point estimate (the rest: generalized-pivot draws for intervals)."""

    anova: Anova
    test: ClipSampling
    draws: dict[str, np.ndarray]
    notes: tuple[str, ...] = field(default=())

    @property
    def seeds_apart(self) -> bool:
        """Whether seed and fold are told apart (two or more seeds per fold)."""
        return "seed" in self.draws

    def point(self, name: str) -> float:
        return float(self.draws[name][0])

    def unit_variance(self, seeds: int, clips: float) -> np.ndarray:
        """Variance of a fold's mean over `seeds` seeds with `clips` test clips (per draw)."""
        q = self.test.clips / clips
        d = self.draws
        if self.seeds_apart:
            return d["fold"] + d["test_shared"] * q + (d["seed"] + d["test_own"] * q) / seeds
        if seeds != 1:
            raise ValueError(ONE_SEED)
        return d[SEED_AND_FOLD] + d["test"] * q

    def record(self, level: float) -> dict:
        """Each component's variance, interval and share of the unit variance, for summary.json."""
        alpha = 1 - level
        names = [n for n in self.draws if n != "test"] if self.seeds_apart else list(self.draws)
        names = [n for n in names if np.isfinite(self.point(n))]
        total = sum(self.point(n) for n in names)
        out = {}
        for name in names:
            low, high = np.quantile(self.draws[name][1:], [alpha / 2, 1 - alpha / 2])
            out[name] = {
                "variance": self.point(name),
                "low": float(low),
                "high": float(high),
                "share": self.point(name) / total if total > 0 else float("nan"),
            }
        return {
            "components": out,
            "seeds_per_fold": self.anova.seeds_per_fold,
            "folds": self.anova.folds,
            "clips_per_fold": self.test.clips,
            "test_method": self.test.method,
            "interval_method": f"generalized pivots ({N_DRAWS} draws), truncated at 0",
            "notes": list(self.notes),
        }


def components(units: pd.DataFrame, test: ClipSampling, seed: int = 0) -> Components:
    """Variance components from unit values (seed, fold, value) and the contrast's test sampling.

    Every component is truncated at 0; the notes say which were.
    """
    anova = seed_fold_anova(units)
    rng = np.random.default_rng(seed)

    def pivot(ms: float, df: float) -> np.ndarray:
        scale = df / rng.chisquare(df, N_DRAWS) if df > 0 else np.full(N_DRAWS, np.nan)
        return ms * np.concatenate([[1.0], scale])

    t_scale = pivot(1.0, test.df)
    raw: dict[str, np.ndarray] = {}
    notes = []
    if anova.folds < 2:
        notes.append(ONE_FOLD)
    if anova.df_within > 0:
        r = anova.seeds_per_fold
        ms_w = pivot(anova.ms_within, anova.df_within)
        ms_b = pivot(anova.ms_between, anova.df_between)
        shared = test.shared * t_scale
        own = (test.unit - max(test.shared, 0.0)) * t_scale
        raw = {
            "seed": ms_w - own,
            "fold": (ms_b - ms_w) / r - np.maximum(shared, 0.0),
            "test_shared": shared,
            "test_own": own,
            "test": test.unit * t_scale,
        }
    else:
        notes.append(ONE_SEED)
        raw = {
            SEED_AND_FOLD: pivot(anova.ms_between, anova.df_between) - test.unit * t_scale,
            "test": test.unit * t_scale,
        }
    draws = {}
    for name, values in raw.items():
        if values[0] < 0:
            notes.append(f"{name} component estimated below 0, truncated at 0")
        draws[name] = np.maximum(values, 0.0)
    return Components(anova, test, draws, tuple(notes))
