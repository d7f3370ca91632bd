"""`tacfn-robust evaluate`: trained checkpoints under a protocol's test sweeps, for real."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from tacfn_robust.protocols import evaluate_checkpoints, load_protocol

from tacfn.core.errors import ConfigError
from tacfn_robust.cli import main

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
SMALL = [DATA, "train.epochs=1", "models=[concat]", "seeds=[0, 1]"]
TINY = [arg for assignment in SMALL for arg in ("--set", assignment)]


def _predictions(run_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        p.parent.name: pd.read_parquet(p)
        for p in sorted(run_dir.glob("store/cells/*/predictions.parquet"))
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A run of the tiny smoke protocol (2 cells) and a baseline saved from it."""
    root = tmp_path_factory.mktemp("trained")
    run_dir, baseline = root / "run", root / "baseline.json"
    assert main(["run", "smoke", "--out", str(run_dir), *TINY]) == 0
    assert main(["baseline", "save", str(run_dir), str(baseline)]) == 0
    return run_dir, baseline


def _checkpoints(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("store/cells/*/checkpoint.pt"))


def test_checkpoints_record_what_the_model_is(trained) -> None:
    run_dir, _ = trained
    payloads = [torch.load(p, weights_only=True) for p in _checkpoints(run_dir)]
    assert len(payloads) == 2
    meta = payloads[0]["metadata"]
    assert (meta["model"], meta["builds"], meta["preset"], meta["options"]) == (
        "concat",
        "concat",
        "cpu",
        {},
    )
    assert meta["dataset"]["name"] == "synthetic" and meta["dataset"]["num_classes"] == 8
    assert meta["dataset"]["modalities"] == ["audio", "video"]
    assert meta["dataset"]["shapes"]["video"] == [3, 4, 32, 32]
    assert (meta["regime"], meta["fold"], meta["version"]) == ("clean", 0, "0.1.0")
    assert sorted(p["metadata"]["seed"] for p in payloads) == [0, 1]


def test_evaluate_from_a_run_reproduces_its_predictions(trained, tmp_path, capsys) -> None:
    run_dir, baseline = trained
    out = tmp_path / "evaluated"
    assert main(["evaluate", "smoke", "--from", str(run_dir), "--out", str(out), *TINY]) == 0
    assert capsys.readouterr().out.startswith("2 trained, 0 reused, 0 failed; results in ")
    before, after = _predictions(run_dir), _predictions(out)
    assert sorted(after) == sorted(before) and len(after) == 2
    for key, frame in before.items():
        pd.testing.assert_frame_equal(after[key], frame, check_exact=True)
    cells = [json.loads(p.read_text()) for p in out.glob("store/cells/*/cell.json")]
    assert {c["status"] for c in cells} == {"done"}
    assert {Path(c["checkpoint_source"]) for c in cells} == {
        p.resolve() for p in _checkpoints(run_dir)
    }
    assert (out / "report" / "report.html").is_file()
    assert main(["check", str(out), "--baseline", str(baseline)]) == 0
    assert "passed: 0 of" in capsys.readouterr().out
    assert main(["evaluate", "smoke", "--from", str(run_dir), "--out", str(out), *TINY]) == 0
    assert capsys.readouterr().out.startswith("0 trained, 2 reused, 0 failed")


def test_evaluate_named_checkpoint_files_in_python(trained, tmp_path) -> None:
    run_dir, _ = trained
    seed0 = next(
        p
        for p in _checkpoints(run_dir)
        if torch.load(p, weights_only=True)["metadata"]["seed"] == 0
    )
    protocol = load_protocol("smoke", [*SMALL, "seeds=[0]", "models=[{name: mine, model: concat}]"])
    result = evaluate_checkpoints(
        protocol, checkpoints={"mine": seed0}, out=tmp_path / "one", report=False
    )
    assert [c["model"] for c in result.cells] == ["mine"] and not result.failed
    (frame,) = _predictions(tmp_path / "one").values()
    (original,) = [f for f in _predictions(run_dir).values() if (f["seed"] == 0).all()]
    logits = [c for c in frame.columns if c.startswith("logit_")]
    assert frame[logits].equals(original[logits])


def _one_line_error(capsys, args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_mismatched_checkpoints_are_refused_in_one_line(trained, tmp_path, capsys) -> None:
    run_dir, _ = trained
    out = ["--out", str(tmp_path / "refused")]
    first = _checkpoints(run_dir)[0]
    bigger = [*TINY, "--set", "dataset.size=48"]
    err = _one_line_error(capsys, ["evaluate", "smoke", "--from", str(run_dir), *out, *bigger])
    assert err.startswith("error: checkpoint ") and "dataset.shapes" in err
    assert "differs from the protocol's" in err
    seeds = [*TINY, "--set", "seeds=[7]"]
    err = _one_line_error(capsys, ["evaluate", "smoke", "--from", str(run_dir), *out, *seeds])
    assert "seed 0 is not among the protocol's seeds (7)" in err
    named = ["--checkpoint", f"tacfn={first}"]
    err = _one_line_error(capsys, ["evaluate", "smoke", *named, *out, *TINY])
    assert f"checkpoint {first}: model 'tacfn' is not among the protocol's models" in err
    err = _one_line_error(
        capsys, ["evaluate", "smoke", "--checkpoint", f"concat={first}", *out, *TINY]
    )
    assert err.startswith("error: no checkpoint for cell concat/clean/seed=")
    old = tmp_path / "old.pt"
    torch.save({"state_dict": torch.load(first, weights_only=True)["state_dict"]}, old)
    err = _one_line_error(
        capsys, ["evaluate", "smoke", "--checkpoint", f"concat={old}", *out, *TINY]
    )
    assert f"checkpoint {old}: records no model metadata" in err
    assert not (tmp_path / "refused").exists()


def test_a_different_data_set_is_refused_in_python(trained) -> None:
    run_dir, _ = trained
    other = load_protocol("smoke", [*SMALL, "dataset.actors=6"])
    with pytest.raises(ConfigError, match=r"^checkpoint .*: dataset\.actors 4 differs from .* 6$"):
        evaluate_checkpoints(other, run_dir=run_dir, out=run_dir.parent / "never")
