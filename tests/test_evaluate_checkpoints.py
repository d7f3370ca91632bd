"""`tacfn-robust evaluate`: trained checkpoints under a protocol's test sweeps, for real."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from tacfn.core.errors import ConfigError
from tacfn_robust.cli import main
from tacfn_robust.protocols import evaluate_checkpoints, load_protocol

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
    two = ["--checkpoint", f"concat={first}", "--checkpoint", f"concat={_checkpoints(run_dir)[1]}"]
    err = _one_line_error(capsys, ["evaluate", "smoke", *two, *out, *TINY, "--set", "seeds=[0]"])
    assert "seed 1 is not among the protocol's seeds (0)" in err
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a checkpoint")
    err = _one_line_error(capsys, ["evaluate", "smoke", "--checkpoint", f"concat={damaged}", *out])
    assert err.startswith(f"error: checkpoint {damaged}: not a readable checkpoint (Unsupported")
    assert not (tmp_path / "refused").exists()


def test_a_different_data_set_is_refused_in_python(trained) -> None:
    run_dir, _ = trained
    other = load_protocol("smoke", [*SMALL, "dataset.actors=6"])
    with pytest.raises(ConfigError, match=r"^checkpoint .*: dataset\.actors 4 differs from .* 6$"):
        evaluate_checkpoints(other, run_dir=run_dir, out=run_dir.parent / "never")


def _own_training_loop(steps: int = 3) -> torch.nn.Module:
    """A concat model trained in a loop of one's own (not the runner), on the tiny data set."""
    from tacfn.data import build_dataset
    from tacfn.models import build_model

    dataset = build_dataset("synthetic", actors=4, frames=4, size=32, duration=0.5)
    model = build_model("concat", dataset.info, "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for batch in list(dataset.iter_batches(list(range(len(dataset))), 16, shuffle_seed=0))[:steps]:
        loss = torch.nn.functional.cross_entropy(model(batch), batch.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_a_state_dict_from_ones_own_loop_evaluates_with_one_command(tmp_path, capsys) -> None:
    model = _own_training_loop()
    weights, module = tmp_path / "mine.pt", tmp_path / "module.pt"
    torch.save(model.state_dict(), weights)
    torch.save(model, module)
    data = ["--set", DATA]
    out = tmp_path / "evaluated"
    assert (
        main(["evaluate", "smoke", "--checkpoint", f"concat={weights}", "--out", str(out), *data])
        == 0
    )
    assert capsys.readouterr().out.startswith("1 trained, 0 reused, 0 failed; results in ")
    (cell,) = [json.loads(p.read_text()) for p in out.glob("store/cells/*/cell.json")]
    assert (cell["model"], cell["regime"], cell["seed"], cell["fold"]) == ("concat", "clean", 0, 0)
    assert cell["status"] == "done" and cell["best_epoch"] is None
    assert (out / "report" / "report.html").is_file()
    stored = torch.load(next(out.glob("store/cells/*/checkpoint.pt")), weights_only=True)
    assert stored["metadata"]["model"] == "concat"
    assert all(torch.equal(stored["state_dict"][k], v) for k, v in model.state_dict().items())
    again = tmp_path / "from-module"
    evaluate_module = ["evaluate", "smoke", "--checkpoint", f"concat={module}", *data]
    assert main([*evaluate_module, "--out", str(again)]) == 2  # unpickling runs code: opt in
    message = capsys.readouterr().err.strip()
    assert "\n" not in message and f"checkpoint {module}: holds objects beyond" in message
    assert message.endswith("or --trust-pickle for a file you trust") and not again.exists()
    assert main([*evaluate_module, "--trust-pickle", "--out", str(again)]) == 0
    (frame,) = _predictions(out).values()
    (same,) = _predictions(again).values()
    logits = [c for c in frame.columns if c.startswith("logit_")]
    assert frame[logits].equals(same[logits])


def test_a_state_dict_of_another_model_names_its_missing_and_unexpected_keys(
    tmp_path, capsys
) -> None:
    weights = {k: v for k, v in _own_training_loop(steps=0).state_dict().items()}
    first = next(iter(weights))
    weights["extra.weight"] = torch.zeros(2)
    del weights[first]
    file = tmp_path / "other.pt"
    torch.save(weights, file)
    err = _one_line_error(
        capsys, ["evaluate", "smoke", "--checkpoint", f"tacfn={file}", "--set", DATA]
    )
    assert err.startswith(f"error: checkpoint {file}: does not fit model 'tacfn' (tacfn): ")
    err = _one_line_error(
        capsys, ["evaluate", "smoke", "--checkpoint", f"concat={file}", "--set", DATA]
    )
    assert err == (
        f"error: checkpoint {file}: does not fit model 'concat' (concat): missing keys {first}; "
        "unexpected keys extra.weight"
    )
