"""Test conditions as corruptions: resolving sweep points and corrupting a test batch."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

import corruptions
from protocols.grid import Axis, Condition
from protocols.schema import Sweep
from tacfn.batch import Batch
from tacfn.errors import ConfigError


@lru_cache(maxsize=512)
def _build(name: str, modality: str, params: tuple[tuple[str, Any], ...]) -> Any:
    return corruptions.build(name, modality, **dict(params))


def build_axis(axis: Axis) -> Any:
    """The Corruption object of one sweep point (cached: building is pure)."""
    return _build(axis.corruption, axis.modality, tuple(sorted(axis.build_params().items())))


def resolve_point(sweep: Sweep, point: float, is_level: bool) -> tuple[Axis, bool, str]:
    """(axis with its physical value, whether the point is the identity, unit) of a sweep point.

    Levels map onto the corruption's level table (level 0 is the identity); explicit values
    are used as given and are the identity when they equal the corruption's identity value.
    """
    assert sweep.corruption is not None and sweep.modality is not None
    info = corruptions.describe(sweep.corruption)
    param = sweep.param or info["param"]
    if param != info["param"]:
        raise ConfigError(
            f"test.sweeps: corruption {sweep.corruption!r} is swept over {info['param']!r}, "
            f"not {param!r}; expected param: {info['param']}"
        )
    level = int(point)
    value = (info["identity"] if level == 0 else info["levels"][level - 1]) if is_level else point
    fixed = tuple(sorted(sweep.params.items()))
    axis = Axis(
        sweep.corruption, sweep.modality, param, float(value), sweep.fill, sweep.stage, fixed
    )
    corruption = build_axis(axis)
    return axis, bool(corruption.is_identity), str(corruption.unit)


# Record fields every sample of a condition shares (they are columns of predictions.parquet).
SHARED_FIELDS = frozenset({"sample_id", "corruption", "modality", "param", "value", "unit"})


@dataclass
class Corrupted:
    """A corrupted batch, the modalities whose inputs changed, and per-sample records."""

    batch: Batch
    touched: frozenset[str]
    records: list[dict[str, Any]]


def corrupt(batch: Batch, condition: Condition, seed: int) -> Corrupted:
    """Apply a condition's corruptions; each axis is seeded by (seed, its own id, sample id)."""
    touched: set[str] = set()
    records: list[dict[str, Any]] = []
    for axis in condition.axes:
        corruption = build_axis(axis)
        seeds = corruptions.test_seeds(seed, axis.id, batch.ids)
        batch, per_sample = corruption.apply(batch, seeds)
        touched |= set(corruption.touches)
        for sample_id, record in zip(batch.ids, per_sample, strict=True):
            for field, value in record.items():
                if field in SHARED_FIELDS:
                    continue
                records.append(_record(condition.id, axis.corruption, sample_id, field, value))
    return Corrupted(batch, frozenset(touched), records)


def _record(condition: str, corruption: str, sample_id: str, field: str, value: Any) -> dict:
    """One long-format record row: numbers in `value`, anything else as text."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    number = float(value) if isinstance(value, (int, float, bool)) else None
    text = None if number is not None else str(value)
    return {
        "condition": condition,
        "corruption": corruption,
        "sample_id": sample_id,
        "field": field,
        "value": number,
        "text": text,
    }
