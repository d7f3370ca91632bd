"""Metrics: hand-computed golden cases and agreement with scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from tacfn.core.errors import ConfigError
from tacfn_robust.reports.scoring.metrics import (
    accuracy,
    class_recall,
    get_metric,
    macro_f1,
    multilabel_scores,
    uar,
    weighted_f1,
)

# labels 0,0,0,1,1,2 ; preds 0,0,1,1,2,2
# class 0: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 0.8
# class 1: tp 1, fp 1, fn 1 -> P 1/2, R 1/2, F1 0.5
# class 2: tp 1, fp 1, fn 0 -> P 1/2, R 1, F1 2/3
LABELS = np.array([0, 0, 0, 1, 1, 2])
PREDS = np.array([0, 0, 1, 1, 2, 2])


def test_golden_multiclass() -> None:
    assert accuracy(LABELS, PREDS) == pytest.approx(4 / 6)
    assert macro_f1(LABELS, PREDS) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert uar(LABELS, PREDS) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert weighted_f1(LABELS, PREDS) == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    np.testing.assert_allclose(class_recall(LABELS, PREDS, 4), [2 / 3, 1 / 2, 1, np.nan])


def test_class_only_predicted_counts_in_macro_f1_not_in_uar() -> None:
    labels, preds = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    # F1: class 0 = 2/3, class 1 = 1, class 2 (never true) = 0
    assert macro_f1(labels, preds) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert uar(labels, preds) == pytest.approx((0.5 + 1) / 2)


def test_multilabel_per_emotion() -> None:
    # two emotions, three samples each: Neutral 2/3 right, Happy 3/3 right
    targets = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([1, 0, 0, 0, 1, 1])
    preds = np.array([1, 1, 0, 0, 1, 1])
    scores = multilabel_scores(targets, labels, preds, ["Neutral", "Happy"])
    assert scores["accuracy[Neutral]"] == pytest.approx(2 / 3)
    assert scores["accuracy[Happy]"] == 1.0
    neutral_wf1 = skm.f1_score(labels[:3], preds[:3], average="weighted")
    assert scores["weighted_f1[Neutral]"] == pytest.approx(neutral_wf1)
    assert scores["accuracy"] == pytest.approx((2 / 3 + 1) / 2)


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'f2'; expected one of: accuracy"):
        get_metric("f2")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=6).flatmap(
        lambda k: st.lists(
            st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60
        )
    )
)
def test_agrees_with_sklearn(pairs: list[tuple[int, int]]) -> None:
    labels = np.array([p[0] for p in pairs])
    preds = np.array([p[1] for p in pairs])
    assert accuracy(labels, preds) == pytest.approx(skm.accuracy_score(labels, preds))
    assert macro_f1(labels, preds) == pytest.approx(
        skm.f1_score(labels, preds, average="macro", zero_division=0)
    )
    assert weighted_f1(labels, preds) == pytest.approx(
        skm.f1_score(labels, preds, average="weighted", zero_division=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when a predicted class is never true
        assert uar(labels, preds) == pytest.approx(skm.balanced_accuracy_score(labels, preds))
