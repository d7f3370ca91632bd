"""check against damaged or mismatched baselines and runs; report metric; chance; unequal folds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_reports_sim import simulate_run

from tacfn_robust.cli import main
from tacfn_robust.reports import check, save_baseline
from tacfn_robust.reports.gate.baseline import build_baseline
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.scoring.table import CONDITION_COLUMNS, chance_level, score_run
from tacfn_robust.reports.statistics.analysis import analyse
from tacfn_robust.reports.statistics.comparisons import condition_means

MODELS = ["tacfn", "concat"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    out = {
        "base": simulate_run(root / "base", models=MODELS),
        "cell_missing": simulate_run(root / "cell", models=MODELS, not_run={("tacfn", 2)}),
        "fewer_samples": simulate_run(root / "small", models=MODELS, n_samples=120),
    }
    save_baseline(out["base"], root / "baseline.json")
    out["baseline"] = root / "baseline.json"
    return out


def test_missing_cell_fails_and_says_why(runs: dict[str, Path]) -> None:
    result = check(runs["cell_missing"], runs["baseline"])
    assert result.exit_code == 1
    failed = [r for r in result.failures if r.name.startswith("tacfn / clean /")]
    assert failed and all(
        "n 2 < baseline's 3: a cell (run) is missing" in r.message for r in failed
    )


def test_other_test_size_fails_and_says_why(runs: dict[str, Path]) -> None:
    result = check(runs["fewer_samples"], runs["baseline"])
    points = [r for r in result.rows if r.kind == "point"]
    assert result.exit_code == 1 and points and not any(r.passed for r in points)
    assert all("n_test 120 != baseline's 240" in r.message for r in points)


def test_baseline_points_missing_from_the_run_fail(runs: dict[str, Path], tmp_path: Path) -> None:
    data = json.loads(runs["baseline"].read_text())
    extra = dict(data["points"][0], condition="missing[audio].p=0.9", value=0.9)
    data["points"].append(extra)
    file = tmp_path / "extra.json"
    file.write_text(json.dumps(data))
    result = check(runs["base"], file)
    assert result.exit_code == 1
    assert [r.message for r in result.failures] == ["missing from the new run"]


def _mutations() -> list[tuple[str, object, str]]:
    """(what, change to the baseline dict, expected words in the one-line message)."""

    def point(key: str, value: object):
        def change(d: dict) -> None:
            d["points"][0][key] = value

        return change

    def drop(key: str):
        def change(d: dict) -> None:
            del d["points"][0][key]

        return change

    def top(key: str, value: object):
        def change(d: dict) -> None:
            d[key] = value

        return change

    def curve(key: str, value: object):
        def change(d: dict) -> None:
            d["curves"][0][key] = value

        return change

    return [
        ("missing key", drop("mean"), "points[0].mean: missing"),
        (
            "string mean",
            point("mean", "0.8"),
            'points[0].mean: input should be a valid number, got "0.8"',
        ),
        (
            "infinite mean",
            point("mean", math.inf),
            "points[0].mean: input should be a finite number",
        ),
        ("zero n", point("n", 0), "points[0].n: input should be greater than 0, got 0"),
        ("bool n", point("n", True), "points[0].n: input should be a valid integer, got true"),
        ("zero n_samples", point("n_samples", 0), "points[0].n_samples: input should be greater"),
        ("bad std", point("std", [1]), "points[0].std: input should be a valid number, got [1]"),
        ("unknown field", point("men", 0.5), "points[0].men: unknown field"),
        ("empty points", top("points", []), "points: list should have at least 1 item"),
        ("points not a list", top("points", {}), "points: input should be a valid list"),
        ("no curves", top("curves", None), "curves: input should be a valid list, got null"),
        ("curve n", curve("n", -1), "curves[0].n: input should be greater than 0"),
        ("family", top("families", [{"model": "x"}]), "families[0].regime: missing"),
        ("versions", top("versions", []), "versions: input should be a valid dictionary"),
        ("not a baseline", top("schema", "other"), "not a tacfn-robust baseline"),
    ]


@pytest.mark.parametrize(
    ("what", "change", "words"), _mutations(), ids=[m[0] for m in _mutations()]
)
def test_malformed_baseline_exits_2_naming_file_and_problem(
    runs: dict[str, Path], tmp_path: Path, capsys, what: str, change, words: str
) -> None:
    data = json.loads(runs["baseline"].read_text())
    change(data)
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data))
    assert main(["check", str(runs["base"]), "--baseline", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(file) in err and words in err, err


def test_report_metric_drives_comparisons_and_baseline(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = load_run(runs["base"])
    run.record["protocol"]["report"]["metric"] = "macro_f1"
    analysis = analyse(score_run(run))
    assert analysis.metric == "macro_f1"
    assert set(analysis.contrasts["metric"]) == {"macro_f1"}
    base = build_baseline(analysis)
    assert base.metric == "macro_f1"
    f1 = analysis.means[analysis.means["metric"] == "macro_f1"].set_index(["model", "condition"])
    point = base.points[0]
    assert point.mean == pytest.approx(f1.loc[(point.model, point.condition), "mean"])
    run.record["protocol"]["report"]["metric"] = "bogus"
    with pytest.raises(Exception, match="unknown metric 'bogus'"):
        score_run(run)


def test_chance_is_the_majority_share() -> None:
    rows = pd.DataFrame({"fold": 0, "sample_id": list("abcde"), "label": [0, 0, 0, 1, 2]})
    assert chance_level(rows, ["x", "y", "z"], "accuracy") == pytest.approx(0.6)
    multilabel = pd.DataFrame(
        {
            "fold": 0,
            "sample_id": np.repeat(list("abcd"), 2),
            "target": np.tile([0, 1], 4),
            "label": [1, 0, 1, 0, 1, 0, 0, 1],  # label 0: 3/4 positive; label 1: 3/4 negative
        }
    )
    assert chance_level(multilabel, ["happy", "sad"], "accuracy") == pytest.approx(0.75)


def _means_of_scores(rows: list[dict]) -> pd.DataFrame:
    """condition_means of per-run score rows (missing condition columns null, no predictions)."""
    table = pd.DataFrame(rows)
    for column in CONDITION_COLUMNS:
        if column not in table.columns:
            table[column] = None
    no_predictions = pd.DataFrame(columns=["model", "regime", "seed", "fold", "condition"])
    return condition_means(table, no_predictions)


def test_unequal_folds_weighted_by_test_size() -> None:
    rows = []
    for fold, (size, score) in enumerate([(300, 0.9), (100, 0.5)]):
        for seed in range(2):
            rows.append(
                {"model": "m", "regime": "r", "seed": seed, "fold": fold, "condition": "clean"}
                | {"sweep": "clean", "metric": "accuracy", "score": score, "n": size}
            )
    means = _means_of_scores(rows)
    row = means.iloc[0]
    assert row["mean"] == pytest.approx(0.8) and row["n_samples"] == 400 and row["n"] == 4
    assert "2 fold means (df 1; covers new actors)" in row["ci_method"]


def test_folds_with_different_realised_shares_make_one_curve_point() -> None:
    """Each fold's missing set removes its own share of clips; the point is their mean."""
    rows = [
        {"model": "m", "regime": "r", "seed": 0, "fold": fold, "condition": "missing.p=0.2"}
        | {"sweep": "missing.p", "value": 0.2, "realised": realised}
        | {"metric": "accuracy", "score": score, "n": 120}
        for fold, (realised, score) in enumerate([(0.175, 0.7), (0.25, 0.8), (0.175, 0.9)])
    ]
    means = _means_of_scores(rows)
    assert len(means) == 1
    row = means.iloc[0]
    assert row["mean"] == pytest.approx(0.8) and row["n"] == 3
    assert row["realised"] == pytest.approx(0.2)
