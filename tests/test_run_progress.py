"""Progress of a run: epochs and losses arrive from pool workers, and the ETA comes from the
measured times of the cells finished so far."""

from __future__ import annotations

from typing import Any

from tacfn_robust.cli.run_progress import epoch_label, eta_seconds
from tacfn_robust.protocols import RunEvents, load_protocol, run_protocol

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"


class Recorder(RunEvents):
    def __init__(self) -> None:
        self.epochs: list[tuple[str, int, dict[str, Any]]] = []
        self.workers = 0

    def cells_started(self, total: int, reused: list[dict[str, Any]], workers: int = 1) -> None:
        self.workers = workers

    def epoch(self, cell: str, epochs: int, row: dict[str, Any]) -> None:
        self.epochs.append((cell, epochs, row))


def test_pool_workers_report_every_epoch_with_its_loss(tmp_path) -> None:
    protocol = load_protocol("smoke", [DATA, "train.epochs=2", "seeds=[0]"])
    events = Recorder()
    result = run_protocol(protocol, tmp_path / "run", workers=2, events=events, report=False)
    assert not result.failed and events.workers == 2
    cells = {f"{m}/clean/seed0/fold0" for m in ("tacfn", "concat")}
    assert {cell for cell, _, _ in events.epochs} == cells
    for cell in cells:
        rows = [row for c, _, row in events.epochs if c == cell]
        assert [r["epoch"] for r in rows] == [1, 2]
        assert all(isinstance(r["val_loss"], float) for r in rows)
    assert {epochs for _, epochs, _ in events.epochs} == {2}


def test_eta_is_the_mean_measured_cell_time_over_the_workers() -> None:
    assert eta_seconds([], 4, 2) is None
    assert eta_seconds([10.0, 30.0], 4, 2) == 40.0
    assert eta_seconds([10.0, 30.0], 1, 4) == 20.0
    assert eta_seconds([10.0], 0, 2) == 0.0
    row = {"stage": "fusion", "epoch": 3, "val_loss": 1.23456}
    assert epoch_label("tacfn/clean/seed0/fold0", row) == (
        "  tacfn/clean/seed0/fold0 fusion epoch 3 val_loss 1.235"
    )


def _contrast(scope: str, verdict: str, sweep: str = "missing[audio].p") -> dict[str, Any]:
    return {
        "contrast": "tacfn − concat | clean",
        "scope": scope,
        "sweep": "clean" if scope == "clean" else sweep,
        "metric": "accuracy",
        "diff": 0.0226,
        "ci_low": -0.0251,
        "ci_high": 0.0702,
        "verdict": verdict,
        "mdd": 0.0651,
        "margin": 0.03,
    }


def test_the_headline_gives_whole_curve_answers_decided_ones_first() -> None:
    from tacfn_robust.reports.rendering.headline import headline

    rows = [_contrast("clean", "better"), _contrast("level", "worse")]
    rows += [_contrast("curve", "inconclusive"), _contrast("curve", "equivalent", "noise")]
    assert headline({"contrasts": rows}) == [
        "tacfn − concat | clean, whole curve of noise: +0.023 [-0.025, +0.070] nAUC accuracy: "
        "equivalent (within ±0.030)",
        "tacfn − concat | clean, whole curve of missing[audio].p: +0.023 [-0.025, +0.070] "
        "nAUC accuracy: inconclusive (MDD 0.065)",
    ]
    assert headline({"contrasts": rows[:2]}) == [
        "tacfn − concat | clean, clean: +0.023 [-0.025, +0.070] accuracy: better"
    ]
    assert headline({"contrasts": rows * 3}, limit=4)[-1] == "... 2 more answers in the report"
