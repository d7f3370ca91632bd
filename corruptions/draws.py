"""Per-sample parameter draws from one sample's torch.Generator (a corruption's "draw" half)."""

from __future__ import annotations

import math

import torch


def uniform(gen: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    """One float uniform in [lo, hi)."""
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def integer(gen: torch.Generator, lo: int, hi: int) -> int:
    """One integer uniform in [lo, hi] (inclusive)."""
    return int(torch.randint(lo, hi + 1, (), generator=gen))


def subset(gen: torch.Generator, population: int, count: int, offset: int = 0) -> list[int]:
    """`count` distinct sorted indices from offset .. offset + population - 1."""
    return sorted((torch.randperm(population, generator=gen)[:count] + offset).tolist())


def segments(gen: torch.Generator, length: int, total: int, count: int) -> list[tuple[int, int]]:
    """`count` non-overlapping (start, length) segments covering exactly `total` of `length`."""
    count = max(1, min(count, total))
    if total == 0:
        return []
    cuts = subset(gen, total - 1, count - 1, offset=1) if count > 1 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    gaps = sorted(integer(gen, 0, length - total) for _ in range(count))
    starts, used = [], 0
    for gap, size in zip(gaps, sizes, strict=True):
        starts.append(gap + used)
        used += size
    return list(zip(starts, sizes, strict=True))


def rectangle(
    gen: torch.Generator, height: int, width: int, area: float
) -> tuple[int, int, int, int]:
    """A (top, left, bottom, right) rectangle of about `area` pixels placed uniformly in the frame.

    The width is drawn log-uniformly from the widths whose matching height still fits.
    """
    area = min(max(area, 0.0), float(height * width))
    if area < 1.0:
        return (0, 0, 0, 0)
    w_lo, w_hi = max(1.0, area / height), float(width)
    w = round(math.exp(uniform(gen, math.log(w_lo), math.log(w_hi)))) if w_hi > w_lo else width
    w = min(max(w, 1), width)
    h = min(max(round(area / w), 1), height)
    top = integer(gen, 0, height - h)
    left = integer(gen, 0, width - w)
    return (top, left, top + h, left + w)
