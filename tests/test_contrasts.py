"""Contrasts: weighted sums of (model, regime) cells paired within (seed, fold) units."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tacfn_robust.reports.statistics.comparisons import friedman
from tacfn_robust.reports.statistics.contrasts import (
    COLUMNS,
    Contrast,
    asked_contrasts,
    contrast_table,
    default_kinds,
    unit_values,
)
from tacfn_robust.reports.statistics.robustness import curve_points


def _scores(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grid = itertools.product(["a", "b"], ["clean", "drop"], [0, 1], [0, 1], ["clean", "p=1"])
    keys = ["model", "regime", "seed", "fold", "condition"]
    frame = pd.DataFrame(list(grid), columns=keys)
    return frame.assign(score=rng.uniform(0, 1, len(frame)), n=12)


def _score(t: pd.DataFrame, model: str, regime: str, seed: int, fold: int, cond: str) -> float:
    sel = (t["model"] == model) & (t["regime"] == regime) & (t["seed"] == seed)
    return t[sel & (t["fold"] == fold) & (t["condition"] == cond)]["score"].item()


def test_interaction_is_difference_of_differences_on_complete_units() -> None:
    t = _scores()
    t = t[~((t["model"] == "b") & (t["regime"] == "drop") & (t["seed"] == 1) & (t["fold"] == 1))]
    out = unit_values(t, Contrast.interaction("a", "b", "drop", "clean", "focus"))
    assert len(out) == 6  # the unit (1, 1) lacks a term at both conditions
    row = out[(out["seed"] == 0) & (out["fold"] == 1) & (out["condition"] == "p=1")].iloc[0]
    expected = (
        _score(t, "a", "drop", 0, 1, "p=1")
        - _score(t, "b", "drop", 0, 1, "p=1")
        - _score(t, "a", "clean", 0, 1, "p=1")
        + _score(t, "b", "clean", 0, 1, "p=1")
    )
    assert row["value"] == pytest.approx(expected, abs=1e-12)
    assert row["n"] == 12


def test_model_and_regime_contrasts() -> None:
    t = _scores(1)
    models = unit_values(t, Contrast.models("a", "b", "clean", "f"))
    regimes = unit_values(t, Contrast.regimes("b", "drop", "clean", "f"))
    assert len(models) == len(regimes) == 8
    first = models.iloc[0]
    args = (int(first["seed"]), int(first["fold"]), first["condition"])
    diff = _score(t, "a", "clean", *args) - _score(t, "b", "clean", *args)
    assert first["value"] == pytest.approx(diff, abs=1e-12)


def test_weights_must_sum_to_zero() -> None:
    with pytest.raises(ValueError, match="sum to 0"):
        Contrast("model", "bad", "f", (("a", "clean", 1.0), ("b", "clean", -0.5)))


def _sweep_table(seed: int = 2) -> pd.DataFrame:
    """Results table of models a, b x regimes clean, drop x 2 seeds x 3 folds at clean and
    p = 0, 0.5, 1 of one missing sweep (p = 0 repeats clean)."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, regime, s, fold in itertools.product("ab", ["clean", "drop"], [0, 1], [0, 1, 2]):
        clean = rng.uniform(0.6, 0.9)
        for x in (None, 0.0, 0.5, 1.0):
            score = clean if x in (None, 0.0) else clean - x * rng.uniform(0.1, 0.4)
            rows.append(
                {"model": model, "regime": regime, "seed": s, "fold": fold, "score": score}
                | {"n": 20 + fold, "metric": "accuracy", "identity": x == 0.0}
                | {
                    "condition": "clean" if x is None else f"missing[audio].p={x:g}",
                    "sweep": "clean" if x is None else "missing[audio].p",
                    "value": np.nan if x is None else x,
                    "corruption": None if x is None else "missing",
                    "modality": None if x is None else "audio",
                    "param": None if x is None else "p",
                    "unit": None,
                    "corruption2": None,
                }
            )
    return pd.DataFrame(rows)


def test_default_kinds_follow_the_grid() -> None:
    assert default_kinds(["t", "c"], ["clean", "drop"], "t", "c") == [
        "model",
        "regime",
        "interaction",
    ]
    assert default_kinds(["t", "c"], ["clean"], "t", "c") == ["model"]
    assert default_kinds(["t"], ["clean", "drop"], "t", "c") == ["regime"]
    asked = asked_contrasts(
        ["regime", "interaction"], ["t", "c"], ["t", "c", "v"], ["clean", "drop"], "t", "c"
    )
    assert [c.name for c in asked] == [
        "drop − clean | t",
        "drop − clean | c",
        "drop − clean | v",
        "(t − c) × (drop − clean)",
    ]
    assert {c.family for c in asked[:3]} == {"drop − clean training"}


def test_each_difference_is_tested_once_and_the_curve_is_its_nauc() -> None:
    table = _sweep_table()
    points = curve_points(table, {})
    contrasts = asked_contrasts(
        ["model", "regime"], ["a", "b"], ["a", "b"], ["clean", "drop"], "a", "b"
    )
    out = contrast_table(table, points, contrasts, 0.95, 0.03)
    one = out[out["contrast"] == "a − b | clean"].set_index("scope")
    # clean, two non-identity levels, one whole curve: p = 0 is the clean row
    assert sorted(out[out["contrast"] == "a − b | clean"]["scope"]) == [
        "clean",
        "curve",
        "level",
        "level",
    ]
    assert one.loc["clean", "family"] == "a against each fusion model · clean"
    levels = out[(out["contrast"] == "a − b | clean") & (out["scope"] == "level")]
    assert (levels["family_size"] == 2).all() and levels["family"].nunique() == 1
    # whole-curve family: the question's two model contrasts (clean, drop)
    assert one.loc["curve", "family_size"] == 2
    # the curve value per unit is the trapezoid nAUC of the per-unit differences
    diffs = unit_values(table, Contrast.models("a", "b", "clean", "q"))
    diffs["x"] = (
        diffs["condition"]
        .map({"clean": np.nan})
        .fillna(diffs["condition"].str.extract(r"=(.*)$")[0].astype(float))
    )
    per_unit = (
        diffs.dropna(subset=["x"])
        .groupby(["seed", "fold"])
        .apply(
            lambda g: np.trapezoid(g.sort_values("x")["value"], g.sort_values("x")["x"]),
            include_groups=False,
        )
    )
    by_fold = per_unit.groupby("fold").mean()
    sizes = np.array([20, 21, 22]) / 63
    assert one.loc["curve", "diff"] == pytest.approx(float((by_fold.to_numpy() * sizes).sum()))
    assert out["variance"].isna().all() and list(out.columns) == COLUMNS


def test_friedman_blocks_are_folds_with_regimes_averaged() -> None:
    table = _sweep_table(3)
    third = table[table["model"] == "a"].assign(model="c", score=lambda f: f["score"] - 0.1)
    result = friedman(pd.concat([table, third]), ["a", "b", "c"])
    assert result is not None and result.n_blocks == 3  # 3 folds, not 3 folds x 2 regimes
    assert "fusion models" in result.method
