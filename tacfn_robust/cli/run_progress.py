"""How a run looks on the terminal: the plan tables, live progress bars or one line per cell."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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


class ConsoleEvents(RunEvents):
    """A run on a console: live bars on a terminal, one line per finished cell in a log."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lines = not console.is_terminal  # logs get one line per cell instead of live bars
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=self.lines,
        )
        self.task: Any = None

    def started(self, run_dir: Path) -> None:
        self.console.print(f"run directory: {escape(str(run_dir.resolve()))}", soft_wrap=True)

    def skipped(self, problems: list[str]) -> None:
        self.console.print(f"skipped {len(problems)} unreadable media files (on_error: skip):")
        for problem in problems:
            self.console.print(f"  skipped {escape(problem)}", soft_wrap=True)

    def cells_started(self, total: int, reused: list[dict[str, Any]]) -> None:
        if self.lines:
            for position, record in enumerate(reused, 1):
                self._line(cell_line(record, position, total, "reused"))
        self.progress.start()
        self.task = self.progress.add_task("cells", total=total, completed=len(reused))

    def epoch_hook(self, epochs: int) -> Callable[[dict[str, Any]], None]:
        return EpochProgress(self.progress, epochs)

    def cell_finished(self, record: dict[str, Any], position: int, total: int) -> None:
        self.progress.advance(self.task)
        if self.lines:
            self._line(cell_line(record, position, total, record["status"]))
        if record["status"] != "done":
            label = f"{record['model']}/{record['regime']}/seed{record['seed']}"
            error = escape(str(record["error"]))
            self.console.print(f"[red]failed[/red] {label}/fold{record['fold']}: {error}")

    def cells_stopped(self) -> None:
        self.progress.stop()

    def _line(self, text: str) -> None:
        self.console.print(escape(text), highlight=False)


class EpochProgress:
    """fit's progress hook: a rich bar of the epochs of the cell being trained."""

    def __init__(self, progress: Progress, epochs: int) -> None:
        self._progress = progress
        self._total = epochs
        self._task: Any = None
        self._done = 0

    def __call__(self, row: dict[str, Any]) -> None:
        if self._task is None or self._done >= self._total:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task("  epochs", total=self._total)
            self._done = 0
        self._done += 1
        loss = row.get("val_loss")
        label = f"  {row.get('stage', 'fusion')} epoch {row.get('epoch')}"
        if loss is not None:
            label += f" val_loss {loss:.3f}"
        self._progress.update(self._task, completed=self._done, description=label)
