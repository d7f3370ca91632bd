"""Contrasts: weighted sums of (model, regime) cells paired within (seed, fold) units."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from reports.statistics.contrasts import Contrast, unit_values


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
