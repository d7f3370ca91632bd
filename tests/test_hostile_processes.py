"""Processes under hostile conditions: a pool worker killed (as by the out-of-memory killer), the
parent killed with SIGKILL, Ctrl-C with cells running on remote Dask workers, and temporaries
left by writers killed mid-write (cell directories, protocol files, report outputs, data cache)."""

from __future__ import annotations

import json
import operator
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import CLI, children, dask_cluster, wait_for

from tacfn.core import store
from tacfn.data.cache import CACHE_ENV, load_cached
from tacfn.data.synthetic import SynthConfig, load_synthetic
from tacfn_robust.cli import main
from tacfn_robust.protocols.executors import PoolExecutor

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
TINY = ["--set", DATA, "--set", "models=[concat]", "--set", "test.sweeps=[]"]
SYNTHETIC = dict(actors=1, duration=0.5, frames=4, size=32, sample_rate=8000, seed=1)

STALLED_WRITER = """
import sys, threading, time
from pathlib import Path
from tacfn.core.io import atomic_write
from tacfn.data import cache

def stall(handle):
    handle.write(b"partial")
    handle.flush()
    time.sleep(600)

cache.torch.save = lambda obj, handle: stall(handle)  # an entry that takes long to write
for arg in sys.argv[1:]:
    kind, path = arg.split(":", 1)
    if kind == "cache":
        write = lambda obj, p: cache.atomic_save(obj, p, {})
    else:
        write = lambda _, p: atomic_write(p, stall)
    threading.Thread(target=write, args=(None, Path(path)), daemon=True).start()
time.sleep(600)
"""


def _temporaries(*folders: Path) -> list[Path]:
    return sorted(t for folder in folders for t in folder.rglob(".*.tmp"))


def _stalled_writer(files: list[Path], cache_entries: list[Path] = ()) -> subprocess.Popen:
    """A process writing `files` (tacfn.core.io.atomic_write) and `cache_entries`
    (tacfn.data.cache.atomic_save), stalled in the middle of every write."""
    args = [f"file:{f}" for f in files] + [f"cache:{f}" for f in cache_entries]
    writer = subprocess.Popen([sys.executable, "-c", STALLED_WRITER, *args])
    targets = [*files, *cache_entries]
    wait_for(
        lambda: all(list(t.parent.glob(f".{t.name}.*.tmp")) for t in targets), 120, "the writes"
    )
    return writer


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


def _running(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _pool_workers(pid: int) -> set[int]:
    workers = set()
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
        except OSError:
            continue
    return workers


def _cells(run_dir: Path) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text())
        for p in store.cells_root(run_dir).glob(f"*/{store.CELL_FILE}")
    }


def _training(run_dir: Path, cells: int) -> bool:
    """Whether `cells` cells have logged an epoch (they are in the middle of training)."""
    return len(list(store.cells_root(run_dir).glob("*/train_log.csv"))) >= cells


def test_a_killed_pool_worker_fails_its_task_and_the_rest_finish(sentinel) -> None:
    pool = PoolExecutor(2)
    try:
        oom = (signal.raise_signal, signal.SIGKILL)  # what the out-of-memory killer does
        tasks = [oom, (time.sleep, 0.3), (time.sleep, 0.3), (operator.mul, 2, 3), (pow, 2, 5)]
        results = list(pool.run(operator.call, tasks, lost=lambda task, why: (task, why)))
        [(task, reason)] = [r for r in results if isinstance(r, tuple)]
        assert task == oom
        assert reason.startswith("worker process ") and reason.endswith(
            " died (killed by signal 9 (SIGKILL); out of memory?)"
        )
        assert sorted(r for r in results if r is not None and r != (task, reason)) == [6, 32]
        assert results.count(None) == 2
        assert sorted(pool.run(operator.mul, [(2, 3), (4, 5)])) == [6, 20]  # the new pool works
    finally:
        pool.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_cache_write_killed_midway_leaves_no_temporary(sentinel) -> None:
    cache = sentinel / "cache"
    entry = SynthConfig(**SYNTHETIC).cache_path(str(cache))
    writer = _stalled_writer([], [entry])
    try:
        assert load_cached(entry, {}) is None  # a writer is busy in the folder: its temporary stays
        assert len(_temporaries(cache)) == 1
    finally:
        _kill(writer)
    info = load_synthetic(**SYNTHETIC, cache=str(cache)).info
    assert info.extra["cache_path"] == str(entry) and entry.is_file()
    assert not _temporaries(cache)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_killed_worker_fails_its_cell_not_the_run_and_the_next_run_recomputes_it(
    sentinel,
) -> None:
    run_dir = sentinel / "run"
    args = ["run", "smoke", "--out", str(run_dir), "--workers", "2", *TINY]
    args += ["--set", "seeds=[0, 1]", "--set", "train.epochs=8"]
    run = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _training(run_dir, 2), 300, "both cells to train")
        victim = min(_pool_workers(run.pid))
        os.kill(victim, signal.SIGKILL)
        out, err = run.communicate(timeout=600)
    finally:
        run.kill()
    assert run.returncode == 1, err
    assert "internal error" not in err and "1 trained, 0 reused, 1 failed" in out
    cells = _cells(run_dir)
    failed = [c for c in cells.values() if c["status"] == "failed"]
    assert len(cells) == 2 and len(failed) == 1
    assert failed[0]["error"] == (
        f"worker process {victim} died (killed by signal 9 (SIGKILL); out of memory?)"
    )
    assert not _temporaries(run_dir)
    assert main(args) == 0
    assert {c["status"] for c in _cells(run_dir).values()} == {"done"}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_killed_run_ends_its_workers_and_frees_the_lock(sentinel) -> None:
    run_dir = sentinel / "run"
    args = ["run", "smoke", "--out", str(run_dir), "--workers", "2", *TINY]
    args += ["--set", "seeds=[0, 1]", "--set", "train.epochs=8"]
    run = subprocess.Popen([CLI, *args], stderr=subprocess.DEVNULL)
    wait_for(lambda: _training(run_dir, 2), 300, "both cells to train")
    workers = _pool_workers(run.pid)
    assert len(workers) == 2
    _kill(run)
    wait_for(lambda: not any(_running(w) for w in workers), 10, "the workers to end")
    assert main(args) == 0
    assert {c["status"] for c in _cells(run_dir).values()} == {"done"}
    assert not _temporaries(run_dir)


@pytest.mark.slow
def test_no_temporary_of_a_killed_writer_survives_the_next_run(sentinel, monkeypatch) -> None:
    cache = sentinel / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    run_dir = sentinel / "run"
    args = ["run", "smoke", "--out", str(run_dir), *TINY, "--set", "train.epochs=1"]
    args += ["--set", "seeds=[0]"]
    assert main(args) == 0
    [cell] = store.cells_root(run_dir).iterdir()
    files = [
        cell / store.CHECKPOINT_FILE,  # as when a stored cell is re-evaluated for new tests
        run_dir / store.PROTOCOL_FILE,
        store.report_dir(run_dir) / store.REPORT_FILE,
    ]
    entry = SynthConfig(**SYNTHETIC).cache_path(str(cache))  # another data set's entry
    _kill(_stalled_writer(files, [entry]))
    assert len(_temporaries(run_dir, cache)) == 4
    rerun = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0 and "0 trained, 1 reused" in rerun.stdout, rerun.stderr
    assert not _temporaries(run_dir, cache)


def _busy_threads(address: str) -> int:
    """How many task threads the Dask workers of the scheduler at `address` are running."""
    from dask.distributed import Client

    with Client(address, timeout="30s") as client:
        return sum(client.run(lambda dask_worker: len(dask_worker.active_threads)).values())


@pytest.mark.slow
def test_ctrl_c_stops_the_cells_running_on_remote_dask_workers(sentinel) -> None:
    with dask_cluster(sentinel, workers=1) as (address, processes):
        run_dir = sentinel / "run"
        run = subprocess.Popen(
            [CLI, "run", "smoke", "--out", str(run_dir), "--executor", "dask"]
            + ["--address", address, *TINY, "--set", "seeds=[0]", "--set", "train.epochs=60"],
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(run)
        wait_for(lambda: _training(run_dir, 1), 300, "the cell to train on the worker")
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 130, err
        wait_for(lambda: _busy_threads(address) == 0, 30, "the remote cell to stop")
        assert not _cells(run_dir)  # stopped: neither finished nor recorded as failed
