"""Variance accounting of a paired contrast and the designs it predicts, on synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tacfn_robust.reports.statistics.contrasts import Contrast
from tacfn_robust.reports.statistics.designs import (
    Design,
    Limits,
    cheapest,
    floor,
    mdd_per_sd,
    predict,
)
from tacfn_robust.reports.statistics.variance import (
    ONE_SEED,
    SEED_AND_FOLD,
    ClipSampling,
    clip_sampling_bootstrap,
    clip_sampling_of_means,
    components,
    correctness,
    per_sample_values,
    stratified_variance,
)

LABELS = 8


def test_stratified_variance_of_the_mean() -> None:
    values = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    strata = np.array([0, 0, 0, 1, 1, 1])
    # each stratum: var 1/3 (ddof 1), 3 samples, weight 1/2: 2 * (1/4) * (1/3) / 3
    assert stratified_variance(values, strata) == pytest.approx(2 * 0.25 * (1 / 3) / 3)
    # a label that explains the values leaves no sampling variance
    assert stratified_variance(np.array([1.0, 1.0, 0.0, 0.0]), np.array([1, 1, 0, 0])) == 0


def _samples(folds: int, seeds: int, clips: int, shared: float, own: float, seed: int = 0):
    """Per-sample values u_fi + v_sfi: `shared` and `own` their per-clip variances."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(folds):
        u = rng.normal(0, shared**0.5, clips)
        for s in range(seeds):
            v = rng.normal(0, own**0.5, clips)
            rows.append(
                pd.DataFrame(
                    {
                        "seed": s,
                        "fold": f,
                        "sample_id": np.arange(clips),
                        "label": np.arange(clips) % LABELS,
                        "value": u + v,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_test_sampling_splits_the_part_seeds_share() -> None:
    test = clip_sampling_of_means(_samples(folds=6, seeds=4, clips=2000, shared=0.3, own=0.1))
    assert test.clips == 2000 and test.df == 6 * (2000 - LABELS)
    assert test.unit == pytest.approx(0.4 / 2000, rel=0.05)
    assert test.shared == pytest.approx(0.3 / 2000, rel=0.08)
    assert test.own == pytest.approx(0.1 / 2000, rel=0.2)


def _predictions(folds: int, seeds: int, clips: int, seed: int = 0) -> pd.DataFrame:
    """Predictions of two models on shared test clips, correct with a per-clip difficulty."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(folds):
        ease = rng.uniform(0.2, 0.95, clips)
        labels = np.arange(clips) % LABELS
        for s in range(seeds):
            for model, shift in (("a", 0.05), ("b", 0.0)):
                right = rng.random(clips) < np.clip(ease + shift, 0, 1)
                preds = np.where(right, labels, (labels + 1) % LABELS)
                rows.append(
                    pd.DataFrame(
                        {
                            "model": model,
                            "regime": "clean",
                            "seed": s,
                            "fold": f,
                            "condition": "c",
                            "sample_id": [f"f{f}s{i}" for i in range(clips)],
                            "label": labels,
                            "pred": preds,
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def test_bootstrap_agrees_with_the_stratified_variance_for_accuracy() -> None:
    preds = _predictions(folds=2, seeds=3, clips=240)
    contrast = Contrast.models("a", "b", "clean", "f")
    samples = per_sample_values(correctness(preds), contrast, {"c": 1.0})
    assert len(samples) == 2 * 3 * 240
    analytic = clip_sampling_of_means(samples)
    boot = clip_sampling_bootstrap(preds, contrast, {"c": 1.0}, "accuracy", LABELS)
    assert boot.unit == pytest.approx(analytic.unit, rel=0.15)
    assert boot.clips == analytic.clips == 240
    assert "within label strata" in boot.method and "within label strata" in analytic.method


def _units(folds: int, seeds: int, fold_sd: float, seed_sd: float, rng) -> pd.DataFrame:
    f = np.repeat(np.arange(folds), seeds)
    value = rng.normal(0, fold_sd, folds)[f] + rng.normal(0, seed_sd, folds * seeds)
    return pd.DataFrame({"seed": np.tile(np.arange(seeds), folds), "fold": f, "value": value})


NO_TEST = ClipSampling(0.0, 0.0, 100.0, 1e9, "none")


def test_components_recover_seed_and_fold() -> None:
    rng = np.random.default_rng(3)
    test = ClipSampling(0.002, 0.0015, 100.0, 1e5, "given")
    units = _units(3000, 3, fold_sd=0.05, seed_sd=0.04, rng=rng)
    units["value"] += rng.normal(0, 0.0015**0.5, 3000)[units["fold"]]  # shared test sampling
    units["value"] += rng.normal(0, 0.0005**0.5, len(units))  # each seed's own
    comps = components(units, test)
    assert comps.point("seed") == pytest.approx(0.04**2, rel=0.15)
    assert comps.point("fold") == pytest.approx(0.05**2, rel=0.2)
    record = comps.record(0.95)["components"]
    assert set(record) == {"seed", "fold", "test_shared", "test_own"}
    assert sum(c["share"] for c in record.values()) == pytest.approx(1)
    for c in record.values():
        assert c["low"] <= c["variance"] <= c["high"]


def test_components_truncate_at_zero_and_say_so() -> None:
    rng = np.random.default_rng(0)
    units = _units(3, 2, fold_sd=0.0, seed_sd=0.05, rng=rng)
    units.loc[units["fold"] == 0, "value"] = [0.1, -0.1]  # folds agree less than their seeds
    units.loc[units["fold"] == 1, "value"] = [0.1, -0.1]
    units.loc[units["fold"] == 2, "value"] = [0.1, -0.1]
    comps = components(units, NO_TEST)
    assert comps.point("fold") == 0
    assert "fold component estimated below 0, truncated at 0" in comps.notes


def test_one_seed_per_fold_gives_the_combined_component() -> None:
    units = _units(6, 1, fold_sd=0.05, seed_sd=0.03, rng=np.random.default_rng(1))
    comps = components(units, ClipSampling(0.001, float("nan"), 100.0, 1e4, "given"))
    assert not comps.seeds_apart and ONE_SEED in comps.notes
    assert set(comps.record(0.95)["components"]) == {SEED_AND_FOLD, "test"}
    assert comps.point(SEED_AND_FOLD) == pytest.approx(units["value"].var() - 0.001)
    with pytest.raises(ValueError, match="cannot be told apart"):
        comps.unit_variance(2, 100.0)
    assert floor(comps, Design(1, 6, 2, 50), 0.95, 0.05) is None


def test_the_predicted_sd_of_this_design_is_the_sd_of_its_fold_means() -> None:
    units = _units(5, 3, fold_sd=0.05, seed_sd=0.04, rng=np.random.default_rng(2))
    comps = components(units, NO_TEST)
    design = Design(3, 5, 1, 100)
    pred = predict(comps, design, 0.95, 0.05)
    fold_means = units.groupby("fold")["value"].mean()
    if comps.point("fold") > 0 and comps.point("seed") > 0:
        assert pred.sd == pytest.approx(fold_means.std(ddof=1), rel=1e-9)
    assert pred.sd_low < pred.sd < pred.sd_high
    assert pred.mdd == pytest.approx(mdd_per_sd(5, 0.05) * pred.sd)


def test_predicted_sd_interval_covers_the_truth() -> None:
    """Over simulated runs of 4 folds × 2 seeds, the 95 % interval of the SD of a fold mean of
    another design (6 folds × 4 seeds, half the clips) covers its true value."""
    rng = np.random.default_rng(7)
    fold_var, seed_var, shared, own = 0.03**2, 0.05**2, 0.0008, 0.0004
    other = Design(4, 6, 1, 50)
    truth = (fold_var + 2 * shared + (seed_var + 2 * own) / 4) ** 0.5
    covered = 0
    for _ in range(200):
        units = _units(4, 2, (fold_var + shared) ** 0.5, (seed_var + own) ** 0.5, rng)
        comps = components(units, ClipSampling(shared + own, shared, 100.0, 4 * 92, "given"))
        p = predict(comps, other, 0.95, 0.05)
        covered += p.sd_low <= truth <= p.sd_high
    assert 0.9 <= covered / 200 <= 0.995


def _given(fold: float, seed: float, test: float = 0.0004) -> object:
    """Components of a large run with these variances (seed-specific test sampling only)."""
    rng = np.random.default_rng(0)
    units = _units(2000, 4, fold**0.5, (seed + test) ** 0.5, rng)
    return components(units, ClipSampling(test, 0.0, 120.0, 1e6, "given"))


LIMITS = Limits(actors=24, clips_per_actor=60, run_actors=12, run_clips_per_actor=60, source="test")


def test_cheapest_design_is_the_fewest_cells_reaching_the_target() -> None:
    levels = [_given(0.0004, 0.0025), _given(0.0001, 0.0016)]
    plan = cheapest(levels, LIMITS, target=0.05, alpha=0.05, per_seed_fold=2)
    assert plan.design is not None and plan.worst_mdd <= 0.05
    assert plan.cells == plan.design.cells(2) == plan.design.seeds * plan.design.folds * 2
    assert plan.design.folds * plan.design.actors_per_fold <= 24
    # every design with fewer cells misses the target at some level
    for folds in range(2, 13):
        clips = (24 // folds) * 60
        for seeds in range(1, 65):
            if seeds * folds * 2 >= plan.cells:
                break
            worst = max(float(c.unit_variance(seeds, clips)[0]) for c in levels) ** 0.5
            assert mdd_per_sd(folds, 0.05) * worst > 0.05


def test_a_target_under_the_floor_names_the_floor() -> None:
    plan = cheapest([_given(0.0025, 0.0004)], LIMITS, target=0.01, alpha=0.05, per_seed_fold=2)
    assert plan.design is None and "floor that more seeds cannot pass" in plan.reason
    assert "> 0.01 at the best folds within the data set's 24 actors" in plan.reason


def test_one_seed_runs_plan_one_seed_designs_only() -> None:
    units = _units(6, 1, fold_sd=0.05, seed_sd=0.03, rng=np.random.default_rng(1))
    comps = components(units, ClipSampling(0.001, float("nan"), 120.0, 1e4, "given"))
    plan = cheapest([comps], LIMITS, target=0.001, alpha=0.05, per_seed_fold=2)
    assert plan.design is None and "run 2 or more seeds per fold" in plan.reason
    easy = cheapest([comps], LIMITS, target=1.0, alpha=0.05, per_seed_fold=2)
    assert easy.design is not None and easy.design.seeds == 1 and easy.design.folds == 2


def test_macro_f1_bootstrap_skips_units_missing_a_term() -> None:
    preds = _predictions(folds=2, seeds=3, clips=120)
    gone = (preds["model"] == "b") & (preds["seed"] == 2) & (preds["fold"] == 1)
    contrast = Contrast.models("a", "b", "clean", "f")
    full = clip_sampling_bootstrap(preds, contrast, {"c": 1.0}, "macro_f1", LABELS)
    part = clip_sampling_bootstrap(preds[~gone], contrast, {"c": 1.0}, "macro_f1", LABELS)
    assert 0 < part.unit and 0 < full.unit and part.clips == full.clips == 120
    assert part.unit == pytest.approx(full.unit, rel=0.3)
