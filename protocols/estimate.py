"""The wall-time estimate of a plan's pending cells (shown by --dry-run), measured here.

Per model, at the cell's torch thread count and on a real batch: a training step and an
evaluation forward, each timed after a warm-up. A cell costs its training steps and
validation forwards over every epoch plus every test sample under every condition, timed
through the evaluation itself (corrupting, forward and records) on a few of the conditions;
cells spread over the lanes the run would use (workers, at most the cores allow).
Start-up is measured too: the wall time this process took so far (imports, protocol, plan)
plus the data set's build, once for the run and once more for pool workers, which start in
parallel; the report is the time a fresh interpreter takes to import its modules
(`tacfn_robust.reports.build`, timed) and as much again, plus its statistics per run x
condition (a bootstrap, timed, scaled by REPORT_WORK).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tacfn.core.device import resolve_device
from tacfn.core.registry import unportable
from tacfn.core.timing import median_time
from tacfn_robust.protocols.cell_task import torch_threads
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.evaluate import evaluate
from tacfn_robust.protocols.executors import resolve_workers
from tacfn_robust.protocols.fills import TrainMeans
from tacfn_robust.protocols.grid import TrainCell
from tacfn_robust.protocols.planning import Plan
from tacfn_robust.protocols.training import build_cell_model, train_regime
from tacfn_robust.reports.statistics.inference import single_run_scores

TIMED = 3  # timed repetitions after one warm-up
# The report's cost of one run x condition over its bootstrap's: 13 ms against 5 ms of CPU
# (the tables, figures and pages around it; 120 test clips, 100 and 1000 levels).
REPORT_WORK = 3


@dataclass(frozen=True)
class ModelTimes:
    """Seconds of one training step (a train batch), of one test sample's forward and of one
    test sample under one test condition (corrupted, forward, recorded: `evaluate`)."""

    step: float
    forward: float
    condition: float


def _model_times(p: Plan, dataset: Any, cell: TrainCell, device: torch.device) -> ModelTimes:
    protocol = p.protocol
    split = fold_split(dataset, protocol.dataset, cell.fold)
    model = build_cell_model(protocol, cell, dataset.info).to(device)
    indices = split.train[: protocol.train.batch_size]
    regime = train_regime(protocol, cell, TrainMeans(dataset, split.train))
    optimizer_class = torch.optim.AdamW if protocol.train.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=protocol.train.lr)

    def step() -> None:  # as the trainer's: build the batch, corrupt, forward, backward, step
        model.train()
        batch = dataset.batch(indices).to(device)
        logits = model(regime(batch, 0) if regime else batch)
        logits.float().sum().backward()
        optimizer.step()
        optimizer.zero_grad()

    first = split.test[: protocol.test.batch_size]
    test = dataset.batch(first).to(device)

    def forward() -> None:
        model.eval()
        with torch.inference_mode():
            model(test)

    timed = p.conditions[:: max(1, len(p.conditions) // TIMED)][:TIMED]  # spread over the sweeps
    means = TrainMeans(dataset, split.train)

    def conditions() -> None:
        seed, size = protocol.test.seed, protocol.test.batch_size
        evaluate(model, dataset, first, timed, seed, size, device, means=means)

    samples = max(1, len(test.labels))
    return ModelTimes(
        median_time(step, TIMED),
        median_time(forward, TIMED) / samples,
        median_time(conditions, TIMED) / (samples * max(1, len(timed))),
    )


def _seconds_since_start() -> float:
    """Wall seconds since this process started (Linux: /proc), else its CPU seconds."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return time.process_time()
    return max(time.process_time(), uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def _report_seconds(p: Plan, dataset: Any) -> float:
    """The report: a fresh interpreter importing its modules (`tacfn_robust.reports.build`),
    timed, and as much again for its fixed part; then REPORT_WORK times the bootstrap of one
    run x condition (`single_run_scores` on a test-sized table, timed) for every cell and
    condition."""
    clock = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tacfn_robust.reports.build"], capture_output=True)
    start = 2 * (time.perf_counter() - clock)
    split = fold_split(dataset, p.protocol.dataset, p.cells[0].fold) if p.cells else None
    samples = max(1, len(split.test)) if split is not None else 1
    classes = list(dataset.info.class_names)
    guesses = np.arange(samples) % max(1, len(classes))
    table = pd.DataFrame({"label": guesses, "pred": guesses[::-1]})
    condition = median_time(lambda: single_run_scores(table, classes), TIMED)
    return start + REPORT_WORK * len(p.cells) * len(p.conditions) * condition


def lanes(p: Plan, workers: int | None = None, kind: str | None = None) -> int:
    """How many cells a local run would train at once: its workers (`workers` over the
    protocol's; in process when a registration lives in `__main__`), at most the cores allow
    at `executor.threads` each. A Dask run counts as one lane (its cluster is not measured)."""
    executor = p.protocol.executor
    if (kind or executor.kind) != "local":
        return 1
    workers = resolve_workers(workers or executor.workers, executor.threads, len(p.pending))
    if workers <= 1 or unportable():
        return 1
    return max(1, min(workers, (os.cpu_count() or 1) // executor.threads))


def estimate_seconds(p: Plan, workers: int | None = None, kind: str | None = None) -> float:
    """Wall time of running the plan's pending cells and building the report, in seconds,
    with `workers` and executor `kind` (default: the protocol's)."""
    started_up = _seconds_since_start()  # this process so far: imports, protocol, plan
    protocol = p.protocol
    clock = time.perf_counter()
    dataset = load_dataset(protocol.dataset)
    start_up = started_up + time.perf_counter() - clock
    report = _report_seconds(p, dataset)
    device = resolve_device(protocol.device)
    times: dict[str, ModelTimes] = {}
    cells: list[float] = []
    modalities = len(dataset.info.modalities)
    epochs = protocol.train.epochs + protocol.train.pretrain_epochs * modalities
    with torch_threads(protocol.executor.threads):
        for cell in p.pending:
            if cell.model not in times:
                times[cell.model] = _model_times(p, dataset, cell, device)
            t = times[cell.model]
            split = fold_split(dataset, protocol.dataset, cell.fold)
            steps = math.ceil(len(split.train) / protocol.train.batch_size)
            train = epochs * (steps * t.step + len(split.val) * t.forward)
            evaluation = len(p.conditions) * len(split.test) * t.condition
            cells.append(train + evaluation)
    if not cells:
        return start_up + report
    n = lanes(p, workers, kind)
    workers_start = start_up if n > 1 else 0.0
    return start_up + workers_start + max(sum(cells) / n, max(cells)) + report
