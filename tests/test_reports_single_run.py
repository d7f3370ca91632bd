"""A run with a single seed: every statistic degrades to a bootstrap over test samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from test_reports_sim import simulate_run

from tacfn.core import store
from tacfn_robust.reports import build_report
from tacfn_robust.reports.statistics.inference import (
    estimate,
    mean_interval,
    single_run_scores,
    t_test_p,
)

SAMPLES = 160
SINGLE = f"percentile bootstrap over {SAMPLES} test samples of a single run"


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = simulate_run(
        tmp_path_factory.mktemp("one") / "run",
        models=["tacfn", "concat", "cross_attention", "audio_only", "video_only"],
        seeds=[0],
        n_samples=SAMPLES,
    )
    assert build_report(root).is_file()
    return json.loads((root / store.SUMMARY_FILE).read_text())


def test_points_bootstrap_over_samples(summary: dict) -> None:
    points = summary["points"]
    assert len(points) == 5 * 6 * 12  # models x conditions x (4 metrics + 8 class recalls)
    assert {p["n"] for p in points} == {1} and {p["ci_method"] for p in points} == {SINGLE}
    clean = next(
        p
        for p in points
        if p["model"] == "tacfn" and p["condition"] == "clean" and p["metric"] == "accuracy"
    )
    assert clean["ci_low"] < clean["mean"] < clean["ci_high"]
    # binomial: 2 * 1.96 * sqrt(0.86 * 0.14 / 160) = 0.107
    assert 0.07 < clean["ci_high"] - clean["ci_low"] < 0.15
    recalls = [p for p in points if p["metric"].startswith("recall[")]
    assert all(p["ci_low"] <= p["mean"] <= p["ci_high"] for p in recalls)
    assert any(p["ci_high"] - p["ci_low"] > 0.2 for p in recalls)  # 20 samples per class


def test_curve_summaries_bootstrap_over_samples(summary: dict) -> None:
    curves = {(c["model"], c["sweep"], c["measure"]): c for c in summary["curves"]}
    nauc = curves[("tacfn", "missing[audio].p", "nauc")]
    assert nauc["n"] == 1 and nauc["ci_method"] == SINGLE
    assert nauc["ci_low"] < nauc["mean"] < nauc["ci_high"] < nauc["ci_low"] + 0.15
    ce = curves[("cross_attention", "missing[audio].p", "ce")]
    assert ce["ci_method"] == SINGLE + " (reference curve fixed at its mean)"
    assert ce["ci_low"] < ce["mean"] < ce["ci_high"]
    mce = curves[("cross_attention", "all", "mce")]
    assert mce["mean"] == pytest.approx(ce["mean"])  # one sweep: mCE is its CE
    assert (mce["ci_low"], mce["ci_high"]) == pytest.approx((ce["ci_low"], ce["ci_high"]))


def test_paired_tests_not_computed_with_one_run(summary: dict) -> None:
    contrasts = summary["contrasts"]
    assert {c["kind"] for c in contrasts} == {"model"}  # one regime: no regime contrast
    assert len(contrasts) == 2 * (1 + 5 + 1)  # 2 others x (clean, 5 levels, whole curve)
    for c in contrasts:
        assert c["n"] == 1 and c["p"] is None and c["p_holm"] is None and c["ci_low"] is None
        assert c["ci_method"] == "not computed: needs ≥ 2 paired runs"
        assert c["verdict"] == "inconclusive" and c["mdd"] is None
    # one run per model is one block: the conditions of its sweep are not independent blocks
    assert summary["friedman"] is None and "independent blocks" in summary["friedman_note"]


def test_one_value_has_no_interval() -> None:
    mean, ci = mean_interval(np.array([0.8]), 0.95)
    assert mean == 0.8 and math.isnan(ci.low) and math.isnan(ci.high)
    assert ci.method == "not computed: needs ≥ 2 runs"
    one = estimate(np.array([0.1]))
    assert math.isnan(t_test_p(one.mean, one.se, one.df))


def test_multilabel_single_run_resamples_samples() -> None:
    rng = np.random.default_rng(0)
    n, names = 200, ["Neutral", "Happy"]
    labels = rng.integers(0, 2, (n, 2))
    preds = np.where(rng.random((n, 2)) < [0.9, 0.6], labels, 1 - labels)
    rows = pd.DataFrame(
        {
            "sample_id": np.repeat([f"s{i}" for i in range(n)], 2),
            "target": np.tile([0, 1], n),
            "label": labels.ravel(),
            "pred": preds.ravel(),
        }
    )
    draws, samples = single_run_scores(rows, names)
    assert samples == n and draws["accuracy[Happy]"].shape == (1000,)
    truth = (labels == preds).mean(axis=0)
    assert abs(np.median(draws["accuracy[Neutral]"]) - truth[0]) < 0.01
    assert abs(np.median(draws["accuracy"]) - truth.mean()) < 0.01
    # resampling by sample: the spread of the mean is that of n samples, not 2n rows
    assert np.std(draws["accuracy[Happy]"]) == pytest.approx(
        math.sqrt(truth[1] * (1 - truth[1]) / n), rel=0.15
    )
