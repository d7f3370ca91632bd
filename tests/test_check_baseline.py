"""baseline save / check: regressions caught, seed noise passes, false alarms, protocol change."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from test_reports_sim import CLEAN, P_VALUES, missing_audio_accuracy, simulate_run

from tacfn.core.errors import ConfigError
from tacfn_robust.cli import main
from tacfn_robust.reports import check, save_baseline
from tacfn_robust.reports.gate.regression import compare, pooled_variance
from tacfn_robust.reports.statistics.robustness import normalised_auc

MODELS = ["tacfn", "concat", "audio_only", "video_only"]


def degraded(model: str, regime: str, cond: dict) -> float:
    """tacfn falls to chance when 60 % of clips miss their audio; all else unchanged."""
    acc = missing_audio_accuracy(model, regime, cond)
    return 1 / 8 if model == "tacfn" and cond["value"] == 0.6 else acc


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("check")
    out = {
        "base": simulate_run(base / "base", models=MODELS, sim_seed=0),
        "reseeded": simulate_run(base / "reseeded", models=MODELS, sim_seed=7),
        "regressed": simulate_run(base / "regressed", models=MODELS, sim_seed=7, accuracy=degraded),
        "changed": simulate_run(base / "changed", models=MODELS, seeds=[0, 1]),
    }
    save_baseline(out["base"], base / "baseline.json")
    out["baseline"] = base / "baseline.json"
    return out


def test_baseline_file_contents(runs: dict[str, Path]) -> None:
    data = json.loads(runs["baseline"].read_text())
    assert data["protocol_hash"] and data["protocol"]["seeds"] == [0, 1, 2]
    assert data["versions"]["numpy"] == np.__version__
    assert len(data["points"]) == len(MODELS) * 6  # clean + p = 0.2 .. 1.0
    point = next(p for p in data["points"] if p["model"] == "tacfn" and p["condition"] == "clean")
    assert point["n"] == 3 and point["n_samples"] == 240 and point["std"] > 0
    assert len(data["curves"]) == len(MODELS)


def test_reseeded_run_passes(runs: dict[str, Path]) -> None:
    result = check(runs["reseeded"], runs["baseline"])
    assert result.passed and result.exit_code == 0
    kinds = {r.kind for r in result.rows}
    assert kinds == {"point", "nauc", "invariant"}


def test_injected_regression_is_caught(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    result = check(runs["regressed"], runs["baseline"])
    failed = {r.name for r in result.failures}
    assert "tacfn / clean / missing[audio].p=0.6" in failed
    assert all(name.startswith("tacfn") for name in failed)
    junit = tmp_path / "junit.xml"
    code = main(
        [
            "check",
            str(runs["regressed"]),
            "--baseline",
            str(runs["baseline"]),
            "--junit",
            str(junit),
        ]
    )
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "missing[audio].p=0.6" in out
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(result.rows)
    bad = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(bad) == len(result.failures)
    assert any("missing[audio].p=0.6" in c.get("name") for c in bad)


def test_protocol_change_is_reported(runs: dict[str, Path], capsys) -> None:
    with pytest.raises(ConfigError, match=r"protocol changed.*seeds: \[0, 1, 2\] -> \[0, 1\]"):
        check(runs["changed"], runs["baseline"])
    assert main(["check", str(runs["changed"]), "--baseline", str(runs["baseline"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "save a new baseline" in err


def test_bad_inputs_exit_2(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    missing = tmp_path / "none.json"
    assert main(["check", str(runs["base"]), "--baseline", str(missing)]) == 2
    assert "baseline file not found" in capsys.readouterr().err
    assert (
        main(["check", str(runs["base"]), "--baseline", str(runs["baseline"]), "--alpha", "1.5"])
        == 2
    )
    assert "--alpha 1.5" in capsys.readouterr().err


def test_stored_identity_must_equal_clean(tmp_path: Path) -> None:
    root = simulate_run(tmp_path / "ident", models=["tacfn", "concat"], store_identity=True)
    save_baseline(root, tmp_path / "b.json")
    result = check(root, tmp_path / "b.json")
    ident = [r for r in result.rows if "identity == clean" in r.name]
    assert len(ident) == 2 and all(r.passed for r in ident)
    # a producer whose p=0 predictions differ from clean breaks the invariant
    broken = simulate_run(
        tmp_path / "broken",
        models=["tacfn", "concat"],
        store_identity=True,
        accuracy=lambda m, r, c: missing_audio_accuracy(m, r, c) - (0.3 if c["value"] == 0 else 0),
    )
    assert not all(
        r.passed for r in check(broken, tmp_path / "b.json").rows if "identity == clean" in r.name
    )


def _draw(rng: np.random.Generator, seeds: int = 3, samples: int = 240, tau: float = 0.0) -> dict:
    """Baseline dict of a simulated run: run r's accuracy at point j ~ Binomial(samples,
    truth_j + u_r) / samples, u_r ~ N(0, tau) shared by the points of the run (a seed that
    trains worse is worse everywhere)."""
    points, curves, families = [], [], []
    for model in ("tacfn", "concat", "cross_attention"):
        truth = np.array(
            [
                missing_audio_accuracy(model, "clean", {"corruption": "missing", "value": p})
                for p in P_VALUES
            ]
        )
        effect = rng.normal(0, tau, (seeds, 1))
        runs = rng.binomial(samples, np.clip(truth + effect, 0, 1)) / samples
        for j, p in enumerate(P_VALUES):
            points.append(
                {
                    "model": model,
                    "regime": "clean",
                    "sweep": "missing[audio].p",
                    "condition": f"p={p}",
                    "mean": runs[:, j].mean(),
                    "std": runs[:, j].std(ddof=1),
                    "n": seeds,
                    "n_samples": samples,
                }
            )
        nauc = [normalised_auc(np.array(P_VALUES), r) for r in runs]
        curves.append(
            {
                "model": model,
                "regime": "clean",
                "sweep": "missing[audio].p",
                "mean": float(np.mean(nauc)),
                "std": float(np.std(nauc, ddof=1)),
                "n": seeds,
            }
        )
        families.append(
            {
                "model": model,
                "regime": "clean",
                "sweep": "missing[audio].p",
                "n": seeds,
                "run_mean_std": float(runs.mean(axis=1).std(ddof=1)),
            }
        )
    return {"points": points, "curves": curves, "families": families}


def _drop(draw: dict, amount: float, model: str = "concat", condition: str = "p=0.4") -> dict:
    for p in draw["points"]:
        if p["model"] == model and p["condition"] == condition:
            p["mean"] -= amount
    return draw


def _false_alarm_rate(draws: int, tau: float, seed: int, abs_tol: float) -> float:
    rng = np.random.default_rng(seed)
    return (
        sum(
            any(not r.passed for r in compare(_draw(rng, tau=tau), _draw(rng, tau=tau), abs_tol))
            for _ in range(draws)
        )
        / draws
    )


def _detection_rate(draws: int, amount: float, tau: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(draws):
        rows = compare(_draw(rng, tau=tau), _drop(_draw(rng, tau=tau), amount))
        hits += any(r.name == "concat / clean / p=0.4" and not r.passed for r in rows)
    return hits / draws


def test_pooled_variance_hand_computed() -> None:
    # one side: 3 runs, 2 points, each point's std 0.02: sum of squares 2 * 2 * 0.0004
    side = [{"n": 3, "std": 0.02, "mean": 0.8}] * 2
    independent = {"n": 3, "run_mean_std": math.sqrt(0.0002)}  # run part = residual part
    variance, df = pooled_variance([(side, independent), (side, independent)])
    assert variance == pytest.approx(0.0004) and df == pytest.approx(8.0)
    together = {"n": 3, "run_mean_std": 0.02}  # the points move together: runs are the units
    assert pooled_variance([(side, together)] * 2)[1] == pytest.approx(4.0)
    assert pooled_variance([(side, None)] * 2)[1] == pytest.approx(4.0)  # no record: runs
    assert pooled_variance([([{"n": 1, "std": None, "mean": 0.8}], None)]) is None


def test_false_alarm_rate_over_seed_draws() -> None:
    """Measured false-alarm rate of a whole check (3 models x 6 points + 3 nAUC, 3 seeds each
    side, run effect sd 0.02, abs_tol 0, the strict case): 0.037 over 300 draws here; over
    1000 draws see test_check_rates_over_many_draws."""
    assert _false_alarm_rate(300, 0.02, 11, abs_tol=0.0) < 0.05


def test_three_seeds_catch_a_single_point_drop() -> None:
    """With 3 seeds a side a 0.15 drop at one point fails that point (and at most its nAUC)."""
    rng = np.random.default_rng(3)
    base, new = _draw(rng), _drop(_draw(rng), 0.15)
    failed = {r.name for r in compare(base, new) if not r.passed}
    assert "concat / clean / p=0.4" in failed
    assert failed <= {"concat / clean / p=0.4", "concat / clean / missing[audio].p nAUC"}
    assert CLEAN["concat"] > 0.8
    # an older baseline without the family records falls back to the runs' df: wider margin
    legacy = {k: v for k, v in base.items() if k != "families"}
    margins = {
        name: next(r.margin for r in compare(b, new) if r.name == "concat / clean / p=0.4")
        for name, b in (("pooled", base), ("legacy", legacy))
    }
    assert margins["pooled"] < margins["legacy"]


@pytest.mark.slow
def test_check_rates_over_many_draws() -> None:
    """Measured with 3 seeds a side, abs_tol 0.01 (1000 draws for false alarms, 500 for
    detection of a drop at one point, concat p=0.4):
    run effect sd 0:    false alarms 0.033; 0.15 drop caught 0.992, 0.30 drop 1.000
    run effect sd 0.02: false alarms 0.031; 0.15 drop caught 0.876, 0.30 drop 1.000
    run effect sd 0.05: false alarms 0.019; 0.15 drop caught 0.262, 0.30 drop 0.732
    (per-point Welch SE before pooling, sd 0: 0.028; 0.410 and 0.884)."""
    assert _false_alarm_rate(1000, 0.0, 2, abs_tol=0.01) < 0.05
    assert _false_alarm_rate(1000, 0.05, 2, abs_tol=0.01) < 0.05
    assert _detection_rate(500, 0.15, 0.0, 3) > 0.95
    assert _detection_rate(500, 0.15, 0.02, 3) > 0.8
    assert _detection_rate(500, 0.30, 0.02, 4) > 0.95
