"""Where train-cell tasks run: in this process, a local process pool, or a Dask cluster.

A task is one picklable call `fn(*args)`; results arrive as tasks finish (any order). Executors do
not choose torch thread counts: each cell sets the protocol's `executor.threads` itself
(tacfn_robust.protocols.cell_task.torch_threads), so that results do not depend on the executor.
Worker processes first replay this process's registrations (models, data sets, corruptions, metrics
registered in Python) by import: tacfn.core.registry.call_with. A task reports while it runs (a
cell's epochs) through a `Relay`: in a pool worker it sends its messages over the pool's queue, and
`run(..., receive=...)` hands them to the parent as they arrive.

A pool worker that dies (killed, e.g. by the out-of-memory killer) breaks the pool: the task it ran
becomes `lost(task, reason)` (the runner records a failed cell), and a fresh pool runs the other
unfinished tasks. Stopped early, a Dask run cancels its futures and sets a stop event that tasks
still running on the cluster's workers see at their next Relay message (a cell's next epoch).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import signal
import threading
import time
import uuid
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
Lost = Callable[[Task, str], Any]

_CHANNEL: Any = None  # in a pool worker: the queue its Relays send on
_STARTS: Any = None  # in a pool worker: where it says which task it starts (a SimpleQueue)
_STOP = threading.local()  # in a Dask worker's task thread: `event`, the run's stop event


class Stopped(BaseException):
    """Raised in a task running on a Dask worker when its run stopped; a BaseException so that
    a cell does not record it as failed (it stays unfinished and runs again on resume)."""


class WorkerDied(Exception):
    """A pool worker died while it ran a task and `run` was given no `lost`."""


class Relay:
    """A picklable callable that sends `(tag, message)` to the parent of a pool worker (or to
    `local`, in the process that made it, when it runs there)."""

    def __init__(self, tag: str, local: Receive | None = None) -> None:
        self.tag = tag
        self.local = local

    def __getstate__(self) -> dict[str, Any]:
        return {"tag": self.tag, "local": None}

    def __call__(self, message: Any) -> None:
        event = getattr(_STOP, "event", None)
        if event is not None and event.is_set():
            raise Stopped("the run stopped")
        if _CHANNEL is not None:
            _CHANNEL.put((self.tag, message))
        elif self.local is not None:
            self.local((self.tag, message))


class SequentialExecutor:
    """Runs tasks one after another in this process."""

    workers = 1

    def run(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Task],
        receive: Receive | None = None,
        lost: Lost | None = None,
    ) -> Iterator[Any]:
        """Results in order; Relays among the tasks' arguments call `receive` directly."""
        for args in tasks:
            yield fn(*args)

    def close(self) -> None:
        """Nothing to release."""


def _start_worker(parent: int, channel: Any, starts: Any) -> None:
    """Pool-worker initializer: Relays send on `channel`, tasks announce themselves on
    `starts`; the worker ends with its parent."""
    global _CHANNEL, _STARTS
    _CHANNEL, _STARTS = channel, starts
    _exit_with_parent(parent)


def _pool_call(index: int, registrations: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """A task in a pool worker: say (synchronously, so that it outlives a kill) that this
    worker runs task `index`, then run it."""
    _STARTS.put((index, os.getpid()))
    return call_with(registrations, fn, *args)


def death(exitcode: int | None) -> str:
    """How a worker process ended, in words: "killed by signal 9 (SIGKILL); out of memory?"."""
    if exitcode is None or exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
    except ValueError:
        name = f"signal {-exitcode}"
    hint = "; out of memory?" if -exitcode == getattr(signal, "SIGKILL", None) else ""
    return f"killed by {name}{hint}"


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
        self._start_pool()

    def _start_pool(self) -> None:
        """A fresh pool (at start, and after a worker died), with fresh queues: a killed
        worker may have held a queue's lock."""
        context = multiprocessing.get_context("spawn")
        self._channel = context.Queue()
        self._starts = context.SimpleQueue()
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(), self._channel, self._starts),
        )

    def _drain(self, receive: Receive | None, started: dict[int, int]) -> None:
        """Hand the Relay messages to `receive`; note in `started` which worker runs which task."""
        while not self._starts.empty():
            index, pid = self._starts.get()
            started[index] = pid
        while True:
            try:
                message = self._channel.get_nowait()
            except queue.Empty:
                return
            if receive is not None:
                receive(message)

    def run(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Task],
        receive: Receive | None = None,
        lost: Lost | None = None,
    ) -> Iterator[Any]:
        """Results as tasks finish; the workers' Relay messages go to `receive` meanwhile.

        A task whose worker died yields `lost(task, reason)` (without `lost`: WorkerDied), and
        a fresh pool runs the unfinished rest. Stopped early (Ctrl-C, a raising task,
        --fail-fast), it cancels the pending tasks and terminates the workers instead of
        waiting for the running ones; their cells are left unfinished and run again on resume.
        """
        registrations = portable()
        unfinished = dict(enumerate(tasks))
        finished = False
        try:
            while unfinished:
                started: dict[int, int] = {}
                futures = {
                    self._pool.submit(_pool_call, index, registrations, fn, *args): index
                    for index, args in unfinished.items()
                }
                broken = False
                try:
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                        self._drain(receive, started)
                        for future in done:
                            if isinstance(future.exception(), BrokenProcessPool):
                                broken = True
                                continue
                            del unfinished[futures[future]]
                            yield future.result()
                finally:
                    for future in futures:
                        future.cancel()
                if broken:
                    for index, reason in self._bury(unfinished, started):
                        task = unfinished.pop(index)
                        if lost is None:
                            raise WorkerDied(reason)
                        yield lost(task, reason)
            finished = True
        finally:
            if not finished:
                for process in list((self._pool._processes or {}).values()):
                    process.terminate()

    def _bury(self, unfinished: dict[int, Task], started: dict[int, int]) -> list[tuple[int, str]]:
        """After the pool broke, once every worker has ended: (task, reason) of each unfinished
        task whose worker died, then a fresh pool for the rest. A ConfigError when workers died
        before any task started (e.g. a script without a main guard)."""
        processes = dict(self._pool._processes or {})
        self._pool.shutdown(wait=True, cancel_futures=True)  # the pool terminated the others
        self._drain(None, started)
        if not started:
            raise ConfigError(
                "a worker process of the pool ended abruptly (killed, out of memory, or the "
                "script calls tacfn-robust without an `if __name__ == '__main__':` guard, which "
                "every spawned worker runs again); expected that guard, or workers=1"
            )
        running = {index: pid for index, pid in started.items() if index in unfinished}
        dead = {pid for pid, p in processes.items() if p.exitcode != -signal.SIGTERM}
        if dead:  # the others were terminated by the pool; their tasks run again
            running = {index: pid for index, pid in running.items() if pid in dead}
        self._close_queues()
        self._start_pool()
        return [
            (index, f"worker process {pid} died ({death(processes[pid].exitcode)})")
            for index, pid in sorted(running.items())
        ]

    def _close_queues(self) -> None:
        self._channel.close()
        self._starts.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._close_queues()


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
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Task],
        receive: Receive | None = None,
        lost: Lost | None = None,
    ) -> Iterator[Any]:
        """Results as tasks finish; Relay messages stay on the Dask workers (not received).

        A worker lost mid-task has its task rescheduled by Dask. Stopped early, it cancels the
        unfinished tasks and sets the run's stop event: a task already running on a worker
        raises Stopped at its next Relay message (a cell's next epoch)."""
        from dask.distributed import Event
        from dask.distributed import as_completed as dask_as_completed

        registrations = portable()
        stop = Event(f"tacfn-robust-stop-{uuid.uuid4().hex}", client=self._client)
        futures = [
            self._client.submit(_dask_call, stop.name, registrations, fn, *args, pure=False)
            for args in tasks
        ]
        try:
            for future in dask_as_completed(futures):
                yield future.result()
        finally:
            running = [f for f in futures if not f.done()]
            if running:
                stop.set()
                self._client.cancel(running, force=True)

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _dask_call(stop: str, registrations: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """A task on a Dask worker: its Relays raise Stopped once the run's event `stop` is set."""
    from dask.distributed import Event

    _STOP.event = Event(stop)
    try:
        return call_with(registrations, fn, *args)
    finally:
        _STOP.event = None


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
