"""Run every benchmark module and print one table of ratios measured side by side.

    python -m benchmarks [--quick] [--only NAME ...] [--json FILE]

Each module benchmarks/bench_<name>.py exposes `run(quick: bool) -> list[Row]`; every row is
a ratio of two timings taken interleaved in this process, with absolute times beside it for
context only (absolute times on shared machines are noisy; ratios are what we report).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks.harness import Row
from tacfn.core.io import write_json


def discover() -> list[str]:
    """Names of the benchmark modules, e.g. ["models", "corruptions", "runner"]."""
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def render(rows: list[tuple[str, Row]], console: Console) -> None:
    table = Table(title="tacfn-robust benchmarks (ratio = baseline time / candidate time)")
    for column in (
        "module",
        "benchmark",
        "baseline",
        "candidate",
        "baseline s",
        "candidate s",
        "ratio",
        "note",
    ):
        table.add_column(column, justify="right" if column.endswith(("s", "ratio")) else "left")
    for module, row in rows:
        table.add_row(
            module,
            row.name,
            row.baseline,
            row.candidate,
            f"{row.baseline_s:.4f}",
            f"{row.candidate_s:.4f}",
            f"{row.ratio:.2f}x",
            row.note,
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller inputs")
    parser.add_argument("--only", nargs="*", default=None, help=f"subset of {discover()}")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    names = discover()
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        print(f"error: unknown benchmark {unknown}; expected some of {names}", file=sys.stderr)
        return 2
    console = Console()
    rows: list[tuple[str, Row]] = []
    started = time.perf_counter()
    for name in args.only or names:
        console.print(f"[bold]benchmark[/] {name} ...")
        module = importlib.import_module(f"benchmarks.bench_{name}")
        rows.extend((name, row) for row in module.run(quick=args.quick))
    render(rows, console)
    console.print(f"machine: {machine()}; total {time.perf_counter() - started:.1f} s")
    if args.json:
        payload = {"machine": machine(), "rows": [{"module": m, **r.as_dict()} for m, r in rows]}
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
