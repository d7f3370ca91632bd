"""Executors: sequential, local process pool, Dask; thread budgets; bad options."""

from __future__ import annotations

import operator
import os

import pytest

from protocols.executors import (
    DaskExecutor,
    PoolExecutor,
    SequentialExecutor,
    make_executor,
    threads_per_worker,
)
from tacfn.errors import ConfigError

TASKS = [(i, i + 1) for i in range(6)]
EXPECTED = sorted(a * b for a, b in TASKS)


def test_threads_never_oversubscribe_the_cores() -> None:
    cores = os.cpu_count() or 1
    for workers in range(1, 2 * cores + 2):
        assert threads_per_worker(workers) >= 1
        if workers <= cores:
            assert workers * threads_per_worker(workers) <= cores


def test_sequential_runs_in_order() -> None:
    executor = make_executor("local", 1)
    assert isinstance(executor, SequentialExecutor)
    assert list(executor.run(operator.mul, TASKS)) == [a * b for a, b in TASKS]


def test_process_pool_runs_every_task() -> None:
    executor = make_executor("local", 2)
    assert isinstance(executor, PoolExecutor)
    assert executor.threads == threads_per_worker(2)
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
