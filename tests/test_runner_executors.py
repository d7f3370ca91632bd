"""Executors: sequential, local process pool, Dask; the cells' fixed thread count; bad options."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.errors import ConfigError
from tacfn_robust.protocols.cell_task import torch_threads
from tacfn_robust.protocols.executors import (
    DaskExecutor,
    PoolExecutor,
    SequentialExecutor,
    make_executor,
)

TASKS = [(i, i + 1) for i in range(6)]
EXPECTED = sorted(a * b for a, b in TASKS)


@settings(max_examples=5, deadline=None)
@given(threads=st.integers(1, 4))
def test_a_cell_runs_with_the_given_threads_and_restores_them(threads: int) -> None:
    before = torch.get_num_threads()
    with torch_threads(threads):
        assert torch.get_num_threads() == threads
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), torch_threads(threads):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_sequential_runs_in_order() -> None:
    executor = make_executor("local", 1)
    assert isinstance(executor, SequentialExecutor)
    assert list(executor.run(operator.mul, TASKS)) == [a * b for a, b in TASKS]


def test_process_pool_runs_every_task() -> None:
    executor = make_executor("local", 2)
    assert isinstance(executor, PoolExecutor)
    try:
        assert sorted(executor.run(operator.mul, TASKS)) == EXPECTED
    finally:
        executor.close()


def test_dask_local_cluster_runs_every_task() -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        executor = make_executor("dask", 1, cluster.scheduler_address)
        assert isinstance(executor, DaskExecutor)
        try:
            assert sorted(executor.run(operator.mul, TASKS)) == EXPECTED
        finally:
            executor.close()


def test_bad_executor_options() -> None:
    with pytest.raises(ConfigError, match="executor 'ray'; expected local or dask"):
        make_executor("ray")
    with pytest.raises(ConfigError, match="--address is only used with --executor dask"):
        make_executor("local", 1, "tcp://127.0.0.1:8786")


WORKER_PIDS = """
import os, sys, time
from tacfn_robust.protocols.executors import PoolExecutor
pool = PoolExecutor(2)
print(" ".join(str(p) for p in sorted(set(pool.run(os.getpid, [()] * 4)))), flush=True)
time.sleep(120)
"""


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_pool_workers_end_when_the_run_is_killed() -> None:
    run = subprocess.Popen([sys.executable, "-c", WORKER_PIDS], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in run.stdout.readline().split()]
    assert pids and all(_running(p) for p in pids)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 15
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(p) for p in pids), f"orphaned pool workers {pids}"
