"""A real Dask cluster on the loopback address (scheduler and two workers as separate
processes) loses a worker mid-run: the run completes and its predictions equal a local run's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tacfn.core import store
from tacfn_robust.cli import main

pytestmark = pytest.mark.slow

DASK = str(Path(sys.executable).parent / "dask")
CLI = str(Path(sys.executable).parent / "tacfn-robust")
DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
TINY = ["--set", DATA, "--set", "train.epochs=3", "--set", "models=[concat]"]


def _predictions(run_dir: Path) -> pd.DataFrame:
    frames = [
        pd.read_parquet(p)
        for p in sorted(store.cells_root(run_dir).glob(f"*/{store.PREDICTIONS_FILE}"))
    ]
    keys = ["model", "regime", "seed", "fold", "condition", "sample_id"]
    return pd.concat(frames).sort_values(keys).reset_index(drop=True)


def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_killed_worker_does_not_change_results(tmp_path: Path) -> None:
    local = tmp_path / "local"
    assert main(["run", "smoke", "--out", str(local), "--workers", "1", *TINY]) == 0
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", *common]
            + ["--scheduler-file", str(scheduler_file)],
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        _wait_for(scheduler_file.is_file, 120, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1", "--no-nanny", *common]
                    + ["--host", "127.0.0.1"],
                    stderr=subprocess.DEVNULL,
                )
            )
        remote = tmp_path / "remote"
        run = subprocess.Popen(
            [CLI, "run", "smoke", "--out", str(remote), "--executor", "dask"]
            + ["--address", address, *TINY],
            stderr=subprocess.PIPE,
            text=True,
        )
        cells = store.cells_root(remote)
        _wait_for(lambda: cells.is_dir() and any(cells.iterdir()), 300, "a cell to start")
        time.sleep(2.0)
        victim = processes[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        _, err = run.communicate(timeout=900)
        assert run.returncode == 0, err
    finally:
        for process in processes:
            process.kill()
            process.wait()
    pd.testing.assert_frame_equal(_predictions(local), _predictions(remote), check_exact=True)
    assert not list(remote.rglob(".*.tmp"))
