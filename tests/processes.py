"""Helpers of the tests that start, watch and kill real processes: runs, pools, Dask clusters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CLI = str(Path(sys.executable).parent / "tacfn-robust")
DASK = str(Path(sys.executable).parent / "dask")


def wait_for(predicate: Callable[[], object], seconds: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def children(pid: int) -> set[int]:
    """The pids whose parent is `pid` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@contextmanager
def dask_cluster(folder: Path, workers: int) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A real Dask scheduler and `workers` single-thread workers on 127.0.0.1, as separate
    processes: (scheduler address, processes); every process in the list (a test may add its
    own) is killed on exit."""
    scheduler_file = folder / "scheduler.json"
    quiet = ["--no-dashboard"]
    processes = [
        subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", *quiet]
            + ["--scheduler-file", str(scheduler_file)],
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        wait_for(scheduler_file.is_file, 120, "the scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(workers):
            processes.append(
                subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1", "--no-nanny", *quiet]
                    + ["--host", "127.0.0.1"],
                    stderr=subprocess.DEVNULL,
                )
            )
        yield address, processes
    finally:
        for process in processes:
            process.kill()
            process.wait()
