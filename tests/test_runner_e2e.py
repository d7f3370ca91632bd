"""The smoke protocol end to end: stored results, resume, determinism, failures, Dask."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from tacfn.core import store
from tacfn_robust.cli import main
from tacfn_robust.protocols import load_protocol, run_protocol
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.fills import TrainMeans
from tacfn_robust.protocols.grid import TrainCell
from tacfn_robust.protocols.runner import CellFailed
from tacfn_robust.protocols.training import build_cell_model, train_regime

CONTRACT_COLUMNS = [
    "model",
    "regime",
    "seed",
    "fold",
    "condition",
    "sweep",
    "corruption",
    "modality",
    "param",
    "value",
    "unit",
    "corruption2",
    "modality2",
    "param2",
    "value2",
    "unit2",
    "stage",
    "fill",
    "sample_id",
    "label",
    "pred",
]


def predictions(run_dir: Path) -> pd.DataFrame:
    """Every stored prediction of a run, in a canonical order."""
    frames = [
        pd.read_parquet(p)
        for p in sorted(store.cells_root(run_dir).glob(f"*/{store.PREDICTIONS_FILE}"))
    ]
    table = pd.concat(frames, ignore_index=True)
    keys = ["model", "regime", "seed", "fold", "condition", "sample_id"]
    return table.sort_values(keys).reset_index(drop=True)


# The smoke protocol shrunk (4 actors, 4 frames, 2 epochs, one seed) with a second regime:
# 2 models x 2 regimes = 4 cells, with fill=mean both in training (dropout_mean) and in a test
# sweep.
SMOKE = [
    "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}",
    "train.epochs=2",
    "seeds=[0]",
    "train.regimes={clean: [], dropout_mean: "
    "[{corruption: missing, modality: audio, p: 0.5, fill: mean}]}",
    "test.sweeps=[{corruption: missing, modality: audio, fill: zeros, param: p, "
    "values: [0.0, 0.5, 1.0]}, {corruption: missing, modality: audio, fill: mean, param: p, "
    "values: [0.0, 1.0]}]",
]
SET = [arg for assignment in SMOKE for arg in ("--set", assignment)]
MEAN = "missing[audio;fill=mean].p=1"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """`tacfn-robust run smoke --out DIR --set ...` through the CLI entry point, shared by every
    test that reads its outputs; (DIR, cell.json list)."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["run", "smoke", "--out", str(out), *SET]) == 0
    record = json.loads((out / store.PROTOCOL_FILE).read_text())
    cells = [
        json.loads((store.cell_dir(out, c["key"]) / store.CELL_FILE).read_text())
        for c in record["cells"]
    ]
    return out, cells


def test_smoke_writes_the_store_and_the_report(smoke_run) -> None:
    out, cells = smoke_run
    assert len(cells) == 4
    assert (store.report_dir(out) / store.REPORT_FILE).is_file()
    assert (out / store.RESULTS_PARQUET).is_file() and (out / store.SUMMARY_FILE).is_file()
    record = json.loads((out / store.PROTOCOL_FILE).read_text())
    assert record["name"] == "smoke" and len(record["hash"]) == 64
    assert {"torch", "numpy", "pandas"} <= set(record["versions"])
    assert len(record["cells"]) == 4
    assert (out / store.PROTOCOL_YAML).is_file()
    for cell in cells:
        directory = store.cell_dir(out, cell["key"])
        for name in (store.CELL_FILE, store.LOG_FILE, store.CHECKPOINT_FILE, store.RECORDS_FILE):
            assert (directory / name).is_file(), name
        assert cell["status"] == "done" and cell["threads"] == 1
        assert cell["modalities"] and cell["num_classes"] == 8 and cell["parameters"] > 0
        assert len(pd.read_csv(directory / store.LOG_FILE)) == 2  # smoke trains 2 epochs
    table = predictions(out)
    assert list(table.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert [f"logit_{i}" for i in range(8)] == [c for c in table.columns if c.startswith("logit_")]
    assert {"actor", "emotion", "intensity"} <= set(table.columns)
    # clean once + 5 sweep points (p=0 identity points are conditions of their own)
    assert sorted(table["condition"].unique()) == [
        "clean",
        "missing[audio;fill=mean].p=0",
        MEAN,
        "missing[audio].p=0",
        "missing[audio].p=0.5",
        "missing[audio].p=1",
    ]
    identity = table[table["condition"].str.endswith("p=0")]
    assert (
        identity["identity"].all()
        and not table.loc[table.index.difference(identity.index), "identity"].any()
    )
    assert set(identity["realised"]) == {0.0} and set(
        table.loc[table["condition"] == "missing[audio].p=1", "realised"]
    ) == {1.0}
    assert sorted(table["regime"].unique()) == ["clean", "dropout_mean"]
    mean_rows = table[table["condition"] == MEAN]
    assert set(mean_rows["fill"]) == {"mean"} and set(mean_rows["sweep"]) == {MEAN[:-2]}
    per_cell = table.groupby(["model", "seed", "condition"]).size()
    assert per_cell.nunique() == 1  # every condition covers the same test samples


def test_rerun_skips_stored_cells(smoke_run) -> None:
    out, first = smoke_run
    stamps = {p: p.stat().st_mtime_ns for p in store.cells_root(out).glob(f"*/{store.CELL_FILE}")}
    started = time.perf_counter()
    again = run_protocol(load_protocol("smoke", SMOKE), out=out)
    assert time.perf_counter() - started < 30
    assert {
        p: p.stat().st_mtime_ns for p in store.cells_root(out).glob(f"*/{store.CELL_FILE}")
    } == stamps
    assert [c["key"] for c in again.cells] == [c["key"] for c in first]
    assert not again.failed and again.report == store.report_dir(out) / store.REPORT_FILE


@pytest.mark.slow
def test_a_cell_killed_before_cell_json_is_redone_identically(smoke_run, tmp_path) -> None:
    out, cells = smoke_run
    before = predictions(out)
    victim = store.cell_dir(out, cells[0]["key"])
    (victim / store.CELL_FILE).unlink()
    (victim / ".predictions.parquet.x.tmp").write_bytes(b"torn")
    run_protocol(load_protocol("smoke", SMOKE), out=out)
    assert not list(victim.glob(".*.tmp"))
    pd.testing.assert_frame_equal(predictions(out), before)


@pytest.mark.slow
def test_cli_run_from_any_directory_gives_identical_results(smoke_run, tmp_path) -> None:
    out, _ = smoke_run
    cli = str(Path(sys.executable).parent / "tacfn-robust")
    done = subprocess.run(
        [cli, "run", "smoke", *SET], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "report: runs/smoke/report/report.html" in done.stdout
    assert (store.report_dir(tmp_path / "runs" / "smoke") / store.REPORT_FILE).is_file()
    pd.testing.assert_frame_equal(predictions(out), predictions(tmp_path / "runs" / "smoke"))


def test_dask_local_cluster_equals_local_run(smoke_run, tmp_path) -> None:
    from dask.distributed import LocalCluster

    out, _ = smoke_run
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        run_protocol(
            load_protocol("smoke", [*SMOKE, "models=[concat]", "train.regimes={clean: []}"]),
            out=tmp_path / "dask",
            executor="dask",
            address=cluster.scheduler_address,
            report=False,
        )
    first = predictions(out)
    local = first[(first["regime"] == "clean") & (first["model"] == "concat")]
    local = local.reset_index(drop=True)
    pd.testing.assert_frame_equal(local, predictions(tmp_path / "dask"), check_exact=True)


BROKEN = [
    SMOKE[0],
    "models=[audio_only]",
    "seeds=[0]",
    "train.epochs=1",
    "train.regimes={clean: [], broken: [{corruption: missing, modality: video, p: 0.5}]}",
]


@pytest.fixture
def broken_regime(monkeypatch) -> None:
    """Cells of regime `broken` fail while training (in this process: run with workers=1).

    Every protocol value that could fail a cell is checked at validation, so the failure is
    injected."""
    import tacfn_robust.protocols.training

    real = tacfn_robust.protocols.training.train_regime

    def train_regime(protocol, cell, means):
        if cell.regime == "broken":
            raise RuntimeError("regime broken cannot train")
        return real(protocol, cell, means)

    monkeypatch.setattr(tacfn_robust.protocols.training, "train_regime", train_regime)


def test_failing_cell_is_recorded_and_the_rest_continues(tmp_path, broken_regime) -> None:
    protocol = load_protocol("smoke", BROKEN)
    result = run_protocol(protocol, out=tmp_path / "broken", workers=1, report=False)
    status = {c["regime"]: c for c in result.cells}
    assert status["clean"]["status"] == "done"
    assert status["broken"]["status"] == "failed"
    assert "regime broken cannot train" in status["broken"]["error"]
    stored = json.loads(
        (store.cell_dir(tmp_path / "broken", status["broken"]["key"]) / store.CELL_FILE).read_text()
    )
    assert stored["status"] == "failed" and stored["error"] == status["broken"]["error"]


@pytest.mark.slow
def test_fail_fast_stops(tmp_path, broken_regime) -> None:
    protocol = load_protocol("smoke", [*BROKEN, "models=[audio_only, concat]"])
    with pytest.raises(CellFailed, match="stopped by --fail-fast"):
        run_protocol(protocol, out=tmp_path / "ff", workers=1, fail_fast=True, report=False)
    cells = [
        json.loads(p.read_text())
        for p in store.cells_root(tmp_path / "ff").glob(f"*/{store.CELL_FILE}")
    ]
    assert len(cells) < 4


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted(smoke_run, tmp_path) -> None:
    out, _ = smoke_run
    target = tmp_path / "killed"
    command = [
        str(Path(sys.executable).parent / "tacfn-robust"),
        "run",
        "smoke",
        "--out",
        str(target),
        *SET,
    ]
    rng = random.Random(os.getpid())
    for _ in range(3):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 12.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    pd.testing.assert_frame_equal(predictions(out), predictions(target))
    assert not list(store.cells_root(target).glob("*/.*.tmp"))


@pytest.mark.slow
def test_local_pool_equals_sequential_bit_for_bit(smoke_run, tmp_path) -> None:
    out, _ = smoke_run
    result = run_protocol(
        load_protocol("smoke", SMOKE), out=tmp_path / "pool", workers=2, report=False
    )
    assert len(result.cells) == 4 and not result.failed
    pd.testing.assert_frame_equal(
        predictions(out), predictions(tmp_path / "pool"), check_exact=True
    )


def test_mean_fill_end_to_end(smoke_run) -> None:
    """Stored fill=mean logits equal the model on test clips whose audio is the training mean;
    the dropout_mean regime drops audio to that same mean."""
    out, cells = smoke_run
    protocol = load_protocol("smoke", SMOKE)
    dataset = load_dataset(protocol.dataset)
    split = fold_split(dataset, protocol.dataset, 0)
    means = TrainMeans(dataset, split.train)
    cell = next(c for c in cells if (c["model"], c["regime"]) == ("concat", "dropout_mean"))
    model = build_cell_model(protocol, TrainCell("concat", "dropout_mean", 0, 0), dataset.info)
    payload = torch.load(
        store.cell_dir(out, cell["key"]) / store.CHECKPOINT_FILE, weights_only=True
    )
    model.load_state_dict(payload["state_dict"])
    model.eval()
    clean = dataset.batch(split.test)
    audio = means["audio"].expand_as(clean.inputs["audio"])
    batch = clean.with_inputs(audio=audio).with_present(audio=torch.zeros(len(clean), dtype=bool))
    with torch.inference_mode():
        expected = model(batch)
    table = predictions(out)
    rows = table[(table["model"] == "concat") & (table["regime"] == "dropout_mean")]

    def logits_of(condition: str) -> torch.Tensor:
        chosen = rows[rows["condition"] == condition].set_index("sample_id").loc[list(clean.ids)]
        return torch.tensor(chosen[[f"logit_{i}" for i in range(8)]].to_numpy())

    torch.testing.assert_close(logits_of(MEAN), expected)
    zero_fill = logits_of("missing[audio].p=1")
    assert (logits_of(MEAN) - zero_fill).abs().max() > 1e-3  # the mean is not zeros
    records = pd.read_parquet(store.cell_dir(out, cell["key"]) / store.RECORDS_FILE)
    fills = records[(records["condition"] == MEAN) & (records["field"] == "fill")]
    assert len(fills) == len(split.test) and set(fills["text"]) == {"mean"}

    regime = train_regime(protocol, TrainCell("concat", "dropout_mean", 0, 0), means)
    train = dataset.batch(split.train[:16])
    dropped = regime(train, 0)
    gone = ~dropped.present["audio"]
    assert 0 < int(gone.sum()) < 16  # p = 0.5 per sample
    assert torch.equal(dropped.inputs["audio"][gone], means["audio"].expand(int(gone.sum()), -1))
    kept = ~gone
    assert torch.equal(dropped.inputs["audio"][kept], train.inputs["audio"][kept])


def test_logs_get_one_line_per_cell_and_a_tally(smoke_run, tmp_path) -> None:
    """Without a TTY: a line per finished cell (reused or trained), then the counts; --set shows."""
    out, cells = smoke_run
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    (store.cell_dir(copy, cells[0]["key"]) / store.CELL_FILE).unlink()
    cli = str(Path(sys.executable).parent / "tacfn-robust")
    done = subprocess.run(
        [cli, "run", "smoke", "--out", str(copy), *SET], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert sum(" reused: " in line for line in lines) == 3
    trained = [line for line in lines if " done: " in line]
    assert len(trained) == 1 and trained[0].startswith("cell 4/4 done: ")
    model, regime = cells[0]["model"], cells[0]["regime"]
    assert f"{model} {regime} seed=0 fold=" in trained[0] and trained[0].endswith(" s")
    assert "━" not in done.stderr  # no progress bars in a log
    assert done.stdout.startswith("1 trained, 3 reused, 0 failed; results in ")
    html = (store.report_dir(copy) / store.REPORT_FILE).read_text()
    assert "1 seed · " in html  # the effective protocol (seeds=[0]), not the file's 3 seeds
