"""A real Dask cluster on the loopback address (scheduler and two workers as separate
processes) loses a worker mid-run: the run completes and its predictions equal a local run's."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from processes import CLI, dask_cluster, wait_for

from tacfn.core import store
from tacfn_robust.cli import main

pytestmark = pytest.mark.slow

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
TINY = ["--set", DATA, "--set", "train.epochs=3", "--set", "models=[concat]"]


def _predictions(run_dir: Path) -> pd.DataFrame:
    frames = [
        pd.read_parquet(p)
        for p in sorted(store.cells_root(run_dir).glob(f"*/{store.PREDICTIONS_FILE}"))
    ]
    keys = ["model", "regime", "seed", "fold", "condition", "sample_id"]
    return pd.concat(frames).sort_values(keys).reset_index(drop=True)


def test_a_killed_worker_does_not_change_results(tmp_path: Path) -> None:
    local = tmp_path / "local"
    assert main(["run", "smoke", "--out", str(local), "--workers", "1", *TINY]) == 0
    with dask_cluster(tmp_path, workers=2) as (address, processes):
        remote = tmp_path / "remote"
        run = subprocess.Popen(
            [CLI, "run", "smoke", "--out", str(remote), "--executor", "dask"]
            + ["--address", address, *TINY],
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(run)
        cells = store.cells_root(remote)
        wait_for(lambda: cells.is_dir() and any(cells.iterdir()), 300, "a cell to start")
        time.sleep(2.0)
        victim = processes[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        _, err = run.communicate(timeout=900)
        assert run.returncode == 0, err
    pd.testing.assert_frame_equal(_predictions(local), _predictions(remote), check_exact=True)
    assert not list(remote.rglob(".*.tmp"))
