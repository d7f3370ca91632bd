"""Where train-cell tasks run: in this process, a local process pool, or a Dask cluster.

A task is one picklable call `fn(*args)`; results arrive as tasks finish (any order). Executors do
not choose torch thread counts: each cell sets the protocol's `executor.threads` itself
(tacfn_robust.protocols.cell_task.torch_threads), so that results do not depend on the executor.
Worker processes first replay this process's registrations (models, data sets, corruptions, metrics
registered in Python) by import: tacfn.core.registry.call_with. A task reports while it runs (a
cell's epochs) through a `Relay`: in a pool worker it sends its messages over the pool's queue, and
`run(..., receive=...)` hands them to the parent as they arrive.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any
from urllib.parse import urlsplit

from tacfn.core.errors import ConfigError
from tacfn.core.registry import call_with, portable, unportable

ADDRESS_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")  # Dask's network transports

Task = tuple[Any, ...]
Receive = Callable[[Any], None]

_CHANNEL: Any = None  # in a pool worker: the queue its Relays send on


class Relay:
    """A picklable callable that sends `(tag, message)` to the parent of a pool worker (or to
    `local`, in the process that made it, when it runs there)."""

    def __init__(self, tag: str, local: Receive | None = None) -> None:
        self.tag = tag
        self.local = local

    def __getstate__(self) -> dict[str, Any]:
        return {"tag": self.tag, "local": None}

    def __call__(self, message: Any) -> None:
        if _CHANNEL is not None:
            _CHANNEL.put((self.tag, message))
        elif self.local is not None:
            self.local((self.tag, message))


class SequentialExecutor:
    """Runs tasks one after another in this process."""

    workers = 1

    def run(
        self, fn: Callable[..., Any], tasks: Sequence[Task], receive: Receive | None = None
    ) -> Iterator[Any]:
        """Results in order; Relays among the tasks' arguments call `receive` directly."""
        for args in tasks:
            yield fn(*args)

    def close(self) -> None:
        """Nothing to release."""


def _start_worker(parent: int, channel: Any) -> None:
    """Pool-worker initializer: Relays send on `channel`; the worker ends with its parent."""
    global _CHANNEL
    _CHANNEL = channel
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the run that started it dies (e.g. killed with SIGKILL), so no
    orphan keeps computing or writing into the store."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class PoolExecutor:
    """A local pool of `workers` spawned processes that end with the run that started them."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        context = multiprocessing.get_context("spawn")
        self._channel = context.Queue()
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(), self._channel),
        )

    def _drain(self, receive: Receive | None) -> None:
        while True:
            try:
                message = self._channel.get_nowait()
            except queue.Empty:
                return
            if receive is not None:
                receive(message)

    def run(
        self, fn: Callable[..., Any], tasks: Sequence[Task], receive: Receive | None = None
    ) -> Iterator[Any]:
        """Results as tasks finish; the workers' Relay messages go to `receive` meanwhile.
        Stopped early (Ctrl-C, a raising task, --fail-fast), it cancels the pending tasks and
        terminates the workers instead of waiting for the running ones; their cells are left
        unfinished and run again on resume."""
        registrations = portable()
        futures = [self._pool.submit(call_with, registrations, fn, *args) for args in tasks]
        finished = False
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                self._drain(receive)
                for future in done:
                    yield future.result()
            finished = True
        except BrokenProcessPool:
            raise ConfigError(
                "a worker process of the pool ended abruptly (killed, out of memory, or the "
                "script calls tacfn-robust without an `if __name__ == '__main__':` guard, which "
                "every spawned worker runs again); expected that guard, or workers=1"
            ) from None
        finally:
            for future in futures:
                future.cancel()
            if not finished:
                for process in list((self._pool._processes or {}).values()):
                    process.terminate()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._channel.close()


class DaskExecutor:
    """Tasks on a Dask cluster at `address`, or on a LocalCluster of `workers` processes."""

    def __init__(self, address: str | None, workers: int) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "executor dask needs dask[distributed]; expected it installed "
                "(pip install 'tacfn-robust[dist]')"
            ) from None
        self.workers = workers
        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            address = self._cluster.scheduler_address
        try:
            self._client = Client(address, timeout="30s")
        except OSError as exc:
            raise ConfigError(
                f"executor.address {address!r}: cannot reach the Dask scheduler ({exc}); "
                "expected tcp://host:port of a running scheduler"
            ) from None

    def run(
        self, fn: Callable[..., Any], tasks: Sequence[Task], receive: Receive | None = None
    ) -> Iterator[Any]:
        """Results as tasks finish; Relay messages stay on the Dask workers (not received)."""
        from dask.distributed import as_completed as dask_as_completed

        registrations = portable()
        futures = [
            self._client.submit(call_with, registrations, fn, *args, pure=False) for args in tasks
        ]
        try:
            for future in dask_as_completed(futures):
                yield future.result()
        finally:
            self._client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


Executor = SequentialExecutor | PoolExecutor | DaskExecutor


def resolve_workers(workers: int | str, threads: int, pending: int) -> int:
    """A worker count: `auto` is the cores available at `threads` each, capped by `pending`."""
    if workers != "auto":
        return int(workers)
    return max(1, min(pending, (os.cpu_count() or 1) // threads))


def _scheduler_address(address: str) -> bool:
    """Whether `address` is [tcp|tls|ws|wss|ucx://]host:port, or Dask's in-process inproc://."""
    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        port = parts.port
    except ValueError:  # unclosed [ of an IPv6 host, a port that is not a number in range
        return False
    host = re.fullmatch(r"[A-Za-z0-9._%:-]+", parts.hostname or "") and "@" not in parts.netloc
    if parts.scheme == "inproc":  # inproc://ip/pid/n: a scheduler in this process
        return bool(host)
    rest = (parts.path, parts.query, parts.fragment) == ("", "", "")
    return bool(host and port and rest and parts.scheme in ADDRESS_SCHEMES)


def check_address(address: str) -> None:
    """A ConfigError unless `address` is a scheduler address (`_scheduler_address`)."""
    if not _scheduler_address(address):
        raise ConfigError(
            f"executor.address {address!r}: not a scheduler address; expected tcp://host:port "
            "(e.g. tcp://127.0.0.1:8786)"
        )


def check_executor(kind: str, address: str | None) -> None:
    """A ConfigError unless `kind` is local or dask, an address comes only with dask and it is
    a scheduler address."""
    if kind not in ("local", "dask"):
        raise ConfigError(f"executor {kind!r}; expected local or dask")
    if kind == "local" and address is not None:
        raise ConfigError("--address is only used with --executor dask")
    if address is not None:
        check_address(address)


def make_executor(kind: str, workers: int = 1, address: str | None = None) -> Executor:
    """The executor for `kind` ("local" or "dask"): local with 1 worker runs in-process, and so
    does a local pool when a registration lives in `__main__` (a script or notebook) or in a
    function, which spawned workers cannot import."""
    check_executor(kind, address)
    if kind == "dask":
        return DaskExecutor(address, workers)
    return SequentialExecutor() if workers <= 1 or unportable() else PoolExecutor(workers)


def check_not_bootstrapping() -> None:
    """A ConfigError in a spawned worker that is importing the parent's main script: a script
    that runs a protocol without an `if __name__ == '__main__':` guard would run it again in
    every worker (and find the parent's run lock held)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # set by spawn
        raise ConfigError(
            "a spawned worker process is importing the main script, which runs a protocol at "
            "import; expected the call under `if __name__ == '__main__':` (or workers=1)"
        )
