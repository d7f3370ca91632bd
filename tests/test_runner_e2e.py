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

from protocols import load_protocol, run_protocol
from protocols.runner import CellFailed
from tacfn.cli import main

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
    frames = [pd.read_parquet(p) for p in sorted(run_dir.glob("store/cells/*/predictions.parquet"))]
    table = pd.concat(frames, ignore_index=True)
    keys = ["model", "regime", "seed", "fold", "condition", "sample_id"]
    return table.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """`tacfn-robust run smoke --out DIR` through the CLI entry point; (DIR, cell.json list)."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["run", "smoke", "--out", str(out)]) == 0
    record = json.loads((out / "protocol.json").read_text())
    cells = [
        json.loads((out / "store/cells" / c["key"] / "cell.json").read_text())
        for c in record["cells"]
    ]
    return out, cells


def test_smoke_writes_the_store_and_the_report(smoke_run) -> None:
    out, cells = smoke_run
    assert len(cells) == 4
    assert (out / "report" / "report.html").is_file()
    assert (out / "results.parquet").is_file() and (out / "summary.json").is_file()
    record = json.loads((out / "protocol.json").read_text())
    assert record["name"] == "smoke" and len(record["hash"]) == 64
    assert {"torch", "numpy", "pandas"} <= set(record["versions"])
    assert len(record["cells"]) == 4
    assert (out / "protocol.yaml").is_file()
    for cell in cells:
        directory = out / "store" / "cells" / cell["key"]
        for name in ("cell.json", "train_log.csv", "checkpoint.pt", "records.parquet"):
            assert (directory / name).is_file(), name
        assert cell["status"] == "done"
        assert cell["modalities"] and cell["num_classes"] == 8 and cell["parameters"] > 0
        assert len(pd.read_csv(directory / "train_log.csv")) == 2  # smoke trains 2 epochs
    table = predictions(out)
    assert list(table.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert [f"logit_{i}" for i in range(8)] == [c for c in table.columns if c.startswith("logit_")]
    assert {"actor", "emotion", "intensity"} <= set(table.columns)
    # clean once + 2 non-identity sweep points (p=0 maps onto clean)
    assert sorted(table["condition"].unique()) == [
        "clean",
        "missing[audio].p=0.5",
        "missing[audio].p=1",
    ]
    per_cell = table.groupby(["model", "seed", "condition"]).size()
    assert per_cell.nunique() == 1  # every condition covers the same test samples


def test_rerun_skips_stored_cells(smoke_run) -> None:
    out, first = smoke_run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("store/cells/*/cell.json")}
    started = time.perf_counter()
    again = run_protocol(load_protocol("smoke"), out=out)
    assert time.perf_counter() - started < 30
    assert {p: p.stat().st_mtime_ns for p in out.glob("store/cells/*/cell.json")} == stamps
    assert [c["key"] for c in again.cells] == [c["key"] for c in first]
    assert not again.failed and again.report == out / "report" / "report.html"


@pytest.mark.slow
def test_a_cell_killed_before_cell_json_is_redone_identically(smoke_run, tmp_path) -> None:
    out, cells = smoke_run
    before = predictions(out)
    victim = out / "store" / "cells" / cells[0]["key"]
    (victim / "cell.json").unlink()
    (victim / ".predictions.parquet.x.tmp").write_bytes(b"torn")
    run_protocol(load_protocol("smoke"), out=out)
    assert not list(victim.glob(".*.tmp"))
    pd.testing.assert_frame_equal(predictions(out), before)


@pytest.mark.slow
def test_cli_run_from_any_directory_gives_identical_results(smoke_run, tmp_path) -> None:
    out, _ = smoke_run
    cli = str(Path(sys.executable).parent / "tacfn-robust")
    done = subprocess.run(
        [cli, "run", "smoke"], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "report: runs/smoke/report/report.html" in done.stdout
    assert (tmp_path / "runs" / "smoke" / "report" / "report.html").is_file()
    pd.testing.assert_frame_equal(predictions(out), predictions(tmp_path / "runs" / "smoke"))


def test_dask_local_cluster_equals_local_run(smoke_run, tmp_path) -> None:
    from dask.distributed import LocalCluster

    out, _ = smoke_run
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        run_protocol(
            load_protocol("smoke", ["seeds=[0]", "models=[concat]"]),
            out=tmp_path / "dask",
            executor="dask",
            address=cluster.scheduler_address,
            report=False,
        )
    first = predictions(out)
    local = first[(first["seed"] == 0) & (first["model"] == "concat")].reset_index(drop=True)
    pd.testing.assert_frame_equal(local, predictions(tmp_path / "dask"))


BROKEN = [
    "models=[audio_only]",
    "seeds=[0]",
    "train.epochs=1",
    "train.regimes={clean: [], broken: [{corruption: missing, modality: text, p: 0.5}]}",
]


def test_failing_cell_is_recorded_and_the_rest_continues(tmp_path) -> None:
    result = run_protocol(load_protocol("smoke", BROKEN), out=tmp_path / "broken", report=False)
    status = {c["regime"]: c for c in result.cells}
    assert status["clean"]["status"] == "done"
    assert status["broken"]["status"] == "failed"
    assert "text" in status["broken"]["error"]
    stored = json.loads(
        (
            tmp_path / "broken" / "store" / "cells" / status["broken"]["key"] / "cell.json"
        ).read_text()
    )
    assert stored["status"] == "failed" and stored["error"] == status["broken"]["error"]


@pytest.mark.slow
def test_fail_fast_stops(tmp_path) -> None:
    protocol = load_protocol("smoke", [*BROKEN, "models=[audio_only, concat]"])
    with pytest.raises(CellFailed, match="stopped by --fail-fast"):
        run_protocol(protocol, out=tmp_path / "ff", fail_fast=True, report=False)
    cells = [json.loads(p.read_text()) for p in (tmp_path / "ff").glob("store/cells/*/cell.json")]
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
    assert not list(target.glob("store/cells/*/.*.tmp"))


@pytest.mark.slow
def test_local_pool_matches_sequential_up_to_thread_numerics(smoke_run, tmp_path) -> None:
    out, _ = smoke_run
    result = run_protocol(load_protocol("smoke"), out=tmp_path / "pool", workers=2, report=False)
    assert len(result.cells) == 4 and not result.failed
    sequential, pooled = predictions(out), predictions(tmp_path / "pool")
    assert sequential[CONTRACT_COLUMNS[:-2]].equals(pooled[CONTRACT_COLUMNS[:-2]])
    logits = [c for c in sequential.columns if c.startswith("logit_")]
    diff = (sequential[logits] - pooled[logits]).abs().to_numpy().max()
    assert diff < 1e-2
    assert (sequential["pred"] == pooled["pred"]).mean() > 0.97
