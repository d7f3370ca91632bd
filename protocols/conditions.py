"""Test conditions as corruptions: resolving sweep points and corrupting a test batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

import tacfn_robust.corruptions
from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError
from tacfn_robust.corruptions.seeding import derive_seeds
from tacfn_robust.protocols.fills import STAND_IN_MEAN, needs_mean, with_mean
from tacfn_robust.protocols.grid import Axis, Condition, Subset
from tacfn_robust.protocols.schema import Sweep


@lru_cache(maxsize=512)
def _build(name: str, modality: str, params: tuple[tuple[str, Any], ...]) -> Any:
    return tacfn_robust.corruptions.build(name, modality, **dict(params))


def build_axis(axis: Axis, means: Mapping[str, Any] | None = None) -> Any:
    """The Corruption object of one sweep point.

    `means` (e.g. tacfn_robust.protocols.fills.TrainMeans) supplies fill=mean at the input stage;
    without it the stand-in mean is used (validation and naming). Builds without a data mean are
    cached: building is pure.
    """
    params = axis.build_params()
    if means is not None and needs_mean(axis.corruption, params):
        return tacfn_robust.corruptions.build(
            axis.corruption,
            axis.modality,
            **with_mean(axis.corruption, axis.modality, params, means),
        )
    params = with_mean(axis.corruption, axis.modality, params, None)
    return _build(axis.corruption, axis.modality, tuple(sorted(params.items())))


def build_subset(subset: Subset, means: Mapping[str, Any] | None = None) -> Any:
    """The tacfn_robust.corruptions.SubsetCondition that keeps `subset.present` (fill=mean from
    `means`)."""
    if needs_mean("missing", {"fill": subset.fill, "stage": subset.stage}):
        means = {m: STAND_IN_MEAN if means is None else means[m] for m in subset.modalities}
    else:
        means = None
    built = tacfn_robust.corruptions.subsets(
        subset.modalities, subset.fill, subset.stage, means=means
    )
    return next(s for s in built if s.present == subset.present)


def resolve_point(sweep: Sweep, point: float, is_level: bool) -> tuple[Axis, bool, str]:
    """(axis with its physical value, whether the point is the identity, unit) of a sweep point.

    Levels map onto the corruption's level table (level 0 is the identity); explicit values
    are used as given and are the identity when they equal the corruption's identity value.
    """
    assert sweep.corruption is not None and sweep.modality is not None
    info = tacfn_robust.corruptions.describe(sweep.corruption)
    param = sweep.param or info["param"]
    if param != info["param"]:
        raise ConfigError(
            f"corruption {sweep.corruption!r} is swept over {info['param']!r}, "
            f"not {param!r}; expected param: {info['param']}"
        )
    if param in sweep.params:
        raise ConfigError(
            f"{param}: {sweep.params[param]!r} is fixed and swept at once; expected either "
            f"a fixed {param} or {param} in the swept values"
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
    """A corrupted batch, the modalities whose inputs changed, and per-sample records.

    `absent` has one entry per sweep axis: how many samples its missing corruption removed
    (None for other corruptions and for subset conditions).
    """

    batch: Batch
    touched: frozenset[str]
    records: list[dict[str, Any]]
    absent: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class Step:
    """One corruption of a bound condition: its seed key, name, object and shared fields."""

    key: str
    corruption: str
    apply: Any
    shared: frozenset[str]


@dataclass(frozen=True)
class Bound:
    """A condition with its corruption objects built (fill=mean bound to the data)."""

    condition: Condition
    steps: tuple[Step, ...]

    @property
    def touches(self) -> frozenset[str]:
        return frozenset().union(*(s.apply.touches for s in self.steps))


def bind(condition: Condition, means: Mapping[str, Any] | None = None) -> Bound:
    """Build a condition's corruptions once; a subset condition is one
    tacfn_robust.corruptions.subsets entry.

    Sweep axes are seeded by their own seed key (Axis.seed_key: the single-axis id, or
    `missing[<modality>]` for missing); a subset condition by its id (each removed modality
    derives its own seeds from it).
    """
    if condition.subset is not None:
        subset = build_subset(condition.subset, means)
        # one record per sample and removed modality: keep which modality it is
        step = Step(condition.id, "missing", subset, SHARED_FIELDS - {"modality"})
        return Bound(condition, (step,))
    steps = tuple(
        Step(axis.seed_key, axis.corruption, build_axis(axis, means), SHARED_FIELDS)
        for axis in condition.axes
    )
    return Bound(condition, steps)


def corrupt(batch: Batch, bound: Bound, seed: int) -> Corrupted:
    """Apply a bound condition; each step is seeded by (seed, its key, sample id).

    A feature-stage fill draws from seeds of (seed, condition id, sample id), on the reuse and
    the full forward path alike.
    """
    records: list[dict[str, Any]] = []
    absent: list[int | None] = []
    for step in bound.steps:
        seeds = tacfn_robust.corruptions.test_seeds(seed, step.key, batch.ids)
        batch, per_sample = step.apply.apply(batch, seeds)
        counted = step.corruption == "missing" and bound.condition.subset is None
        absent.append(sum(bool(r["missing"]) for r in per_sample) if counted else None)
        for sample_id, record in zip(batch.ids, per_sample, strict=True):
            for field, value in record.items():
                if field in step.shared:
                    continue
                records.append(
                    _record(bound.condition.id, step.corruption, sample_id, field, value)
                )
    if batch.feature_fill:
        fill = tacfn_robust.corruptions.test_seeds(seed, bound.condition.id, batch.ids)
        batch = batch.with_fill_seeds(derive_seeds(fill, "fill"))
    return Corrupted(batch, bound.touches, records, tuple(absent))


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
