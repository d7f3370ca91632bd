"""How a run looks on the terminal: the plan tables, live progress bars or one line per cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tacfn.core.errors import one_line
from tacfn_robust.protocols.planning import Plan
from tacfn_robust.protocols.runner import RunEvents


def print_plan(p: Plan, console: Console, estimate: float | None) -> None:
    """The grid as tables: train cells with their stored state, test conditions."""
    cells = Table(title=f"{p.protocol.name}: {len(p.cells)} train cells ({len(p.pending)} to run)")
    for column in ("model", "regime", "seed", "fold", "key", "state"):
        cells.add_column(column)
    for c in p.cells:
        state = "stored" if c in p.done else "to run"
        cells.add_row(c.model, c.regime, str(c.seed), str(c.fold), p.keys[c], state)
    console.print(cells)
    conditions = Table(title=f"{len(p.conditions)} test conditions per cell")
    conditions.add_column("condition")
    conditions.add_column("sweep")
    for condition in p.conditions:
        conditions.add_row(escape(condition.id), escape(condition.sweep))
    console.print(conditions)
    if estimate is not None:
        console.print(f"estimated time: {_duration(estimate)} for {len(p.pending)} cells")


def cell_line(record: dict[str, Any], position: int, total: int, status: str) -> str:
    """One log line for a finished cell: position, model, regime, seed, fold, seconds, status."""
    seconds = record.get("seconds")
    took = f"{seconds:.1f} s" if status != "reused" and seconds is not None else "-"
    return (
        f"cell {position}/{total} {status}: {record['model']} {record['regime']} "
        f"seed={record['seed']} fold={record['fold']} {took}"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def eta_seconds(seconds: list[float], remaining: int, workers: int) -> float | None:
    """Seconds left for `remaining` cells at the mean measured cell time, `workers` at once."""
    if not seconds or remaining <= 0:
        return None if remaining > 0 else 0.0
    return remaining * (sum(seconds) / len(seconds)) / max(1, min(workers, remaining))


def epoch_label(cell: str, row: dict[str, Any]) -> str:
    """e.g. "  tacfn/clean/seed0/fold0 fusion epoch 3 val_loss 1.234"."""
    label = f"  {cell} {row.get('stage', 'fusion')} epoch {row.get('epoch')}"
    loss = row.get("val_loss")
    return label if loss is None else f"{label} val_loss {loss:.3f}"


class ConsoleEvents(RunEvents):
    """A run on a console: live bars on a terminal (cells with their ETA, and each running
    cell's epochs and validation loss), one line per finished cell with the ETA in a log."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lines = not console.is_terminal  # logs get one line per cell instead of live bars
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=console,
            transient=False,
            disable=self.lines,
        )
        self.task: Any = None
        self.workers = 1
        self.seconds: list[float] = []  # measured seconds of the cells this run finished
        self.epochs: dict[str, Any] = {}  # running cell label -> its epoch bar

    def started(self, run_dir: Path) -> None:
        path = escape(one_line(str(run_dir.resolve())))
        self.console.print(f"run directory: {path}", soft_wrap=True)

    def skipped(self, problems: list[str]) -> None:
        self.console.print(f"skipped {len(problems)} unreadable media files (on_error: skip):")
        for problem in problems:
            self.console.print(f"  skipped {escape(problem)}", soft_wrap=True)

    def cells_started(self, total: int, reused: list[dict[str, Any]], workers: int = 1) -> None:
        self.workers = workers
        if self.lines:
            for position, record in enumerate(reused, 1):
                self._line(cell_line(record, position, total, "reused"))
        self.progress.start()
        self.task = self.progress.add_task("cells", total=total, completed=len(reused), eta="")

    def epoch(self, cell: str, epochs: int, row: dict[str, Any]) -> None:
        if cell not in self.epochs:
            self.epochs[cell] = self.progress.add_task("", total=epochs, eta="")
        self.progress.update(self.epochs[cell], advance=1, description=epoch_label(cell, row))

    def cell_finished(self, record: dict[str, Any], position: int, total: int) -> None:
        label = f"{record['model']}/{record['regime']}/seed{record['seed']}/fold{record['fold']}"
        if label in self.epochs:
            self.progress.remove_task(self.epochs.pop(label))
        if record["status"] == "done" and record.get("seconds") is not None:
            self.seconds.append(float(record["seconds"]))
        eta = eta_seconds(self.seconds, total - position, self.workers)
        eta_text = "" if eta is None else f"eta {_duration(eta)}"
        self.progress.update(self.task, advance=1, eta=eta_text)
        if self.lines:
            line = cell_line(record, position, total, record["status"])
            self._line(f"{line}, {eta_text}" if eta_text and position < total else line)
        if record["status"] != "done":
            error = escape(str(record["error"]))
            self.console.print(f"[red]failed[/red] {label}: {error}")

    def cells_stopped(self) -> None:
        self.progress.stop()

    def _line(self, text: str) -> None:
        self.console.print(escape(text), highlight=False)
