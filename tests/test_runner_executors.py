"""Executors: sequential, local process pool, Dask; the cells' fixed thread count; bad options."""

from __future__ import annotations

import operator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.cells import torch_threads
from protocols.executors import (
    DaskExecutor,
    PoolExecutor,
    SequentialExecutor,
    make_executor,
)
from tacfn.errors import ConfigError

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
