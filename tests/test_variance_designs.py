"""The design estimate of one trained run predicts the paired-difference SD of an independent one.

Design A: TACFN and concat, clean training, 2 seeds (0, 1) × 3 folds of 12 synthetic actors
(data seed 0). Design B: 1 seed (7) × 6 folds of 12 other actors (data seed 1), 2 test actors
per fold. From A's variance components the SD of B's fold-mean differences is predicted with an
interval that includes B's own sampling (df 5); B's observed SD must fall inside at ≥ 5 of the
6 levels of the missing-audio sweep. Both designs train 2 epochs on small clips: 3.5 to 5 min
on 2 shared cores (24 cells), 90 to 100 s of CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tacfn_robust.cli import main
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.scoring.table import results_table
from tacfn_robust.reports.statistics.accounting import (
    contrast_components,
    run_limits,
    summary_units,
)
from tacfn_robust.reports.statistics.contrasts import Contrast
from tacfn_robust.reports.statistics.designs import Design, predict
from tacfn_robust.reports.statistics.variance import correctness

SWEEP = "missing[audio].p"
SHARED = [
    "models=[tacfn, concat]",
    "train.epochs=2",
    "train.regimes={clean: []}",
    "test.sweeps=[{corruption: missing, modality: audio, fill: zeros, param: p, "
    "values: [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]}]",
]
DESIGN_A = [
    "dataset={name: synthetic, actors: 12, folds: 3, frames: 4, size: 32, duration: 0.5}",
    "seeds=[0, 1]",
    "folds=[0, 1, 2]",
]
DESIGN_B = [
    "dataset={name: synthetic, actors: 12, folds: 6, frames: 4, size: 32, duration: 0.5, seed: 1}",
    "seeds=[7]",
    "folds=[0, 1, 2, 3, 4, 5]",
]
CONTRAST = Contrast.models("tacfn", "concat", "clean", "tacfn vs concat")


def _run(out: Path, assignments: list[str]) -> Path:
    args = [arg for a in SHARED + assignments for arg in ("--set", a)]
    assert main(["run", "smoke", "--out", str(out), *args]) == 0
    return out


@pytest.mark.slow
def test_design_estimate_predicts_an_independent_design(tmp_path: Path) -> None:
    run_a = load_run(_run(tmp_path / "a", DESIGN_A))
    run_b = load_run(_run(tmp_path / "b", DESIGN_B))
    scores_a, scores_b = (
        (t := results_table(r))[t["metric"] == "accuracy"] for r in (run_a, run_b)
    )
    wide_a = correctness(run_a.predictions)
    levels = sorted(scores_a[scores_a["sweep"] == SWEEP]["condition"].unique())
    assert len(levels) == 6
    limits = run_limits(run_a)
    assert (limits.actors, limits.clips_per_actor, limits.run_actors) == (24, 60, 12)
    design_b = Design(seeds=1, folds=6, actors_per_fold=2, clips_per_actor=60)
    inside, shown = [], []
    for condition in levels:
        comps = contrast_components(run_a, scores_a, wide_a, CONTRAST, {condition: 1.0}, "accuracy")
        assert not isinstance(comps, str) and comps.seeds_apart
        predicted = predict(comps, design_b, 0.95, 0.05, observed_df=5)
        units = summary_units(scores_b, CONTRAST, {condition: 1.0})
        observed = units.groupby("fold")["value"].mean().std(ddof=1)
        inside.append(predicted.sd_low <= observed <= predicted.sd_high)
        shown.append(
            f"{condition}: predicted {predicted.sd:.4f} [{predicted.sd_low:.4f}, "
            f"{predicted.sd_high:.4f}], observed {observed:.4f}"
        )
    assert sum(inside) >= 5, "\n".join(shown)
