"""Timing helpers shared by the benchmark modules: interleaved repeats, median times, ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Row:
    """One benchmark result: `ratio` = baseline time / candidate time (> 1: candidate faster)."""

    name: str
    baseline: str
    candidate: str
    baseline_s: float
    candidate_s: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.candidate_s if self.candidate_s > 0 else float("inf")

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def compare(
    name: str,
    baseline: tuple[str, Callable[[], object]],
    candidate: tuple[str, Callable[[], object]],
    repeats: int = 5,
    warmup: int = 1,
    note: str = "",
) -> Row:
    """Time baseline and candidate interleaved (so machine noise hits both alike)."""
    (b_name, b_fn), (c_name, c_fn) = baseline, candidate
    for _ in range(warmup):
        b_fn()
        c_fn()
    b_times, c_times = [], []
    for _ in range(repeats):
        for fn, times in ((b_fn, b_times), (c_fn, c_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return Row(name, b_name, c_name, statistics.median(b_times), statistics.median(c_times), note)
