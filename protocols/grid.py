"""Grid expansion: train cells (model x regime x seed x fold) and test conditions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from protocols.loading import digest
from protocols.schema import JointSweep, Protocol, Sweep


@dataclass(frozen=True)
class TrainCell:
    """One trained model of the grid."""

    model: str
    regime: str
    seed: int
    fold: int

    @property
    def label(self) -> str:
        return f"{self.model}/{self.regime}/seed{self.seed}/fold{self.fold}"


@dataclass(frozen=True)
class Axis:
    """One corruption at one point of a sweep; `id` names it and keys its per-sample seeds."""

    corruption: str
    modality: str
    param: str
    value: float
    fill: str | None = None
    stage: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.sweep}={self.value:g}"

    @property
    def sweep(self) -> str:
        """e.g. missing[audio].p, or missing[audio;fill=mean;stage=feature].p."""
        qualifiers = [f"{k}={v}" for k, v in self.params]
        if self.fill not in (None, "zeros"):
            qualifiers.append(f"fill={self.fill}")
        if self.stage not in (None, "input"):
            qualifiers.append(f"stage={self.stage}")
        where = ";".join([self.modality, *qualifiers])
        return f"{self.corruption}[{where}].{self.param}"

    def build_params(self) -> dict[str, Any]:
        """Keyword arguments of corruptions.build for this point."""
        options = dict(self.params)
        if self.fill is not None:
            options["fill"] = self.fill
        if self.stage is not None:
            options["stage"] = self.stage
        return {**options, self.param: self.value}


@dataclass(frozen=True)
class Condition:
    """One test condition: the corruptions applied (none for clean) and its report columns."""

    id: str
    sweep: str
    axes: tuple[Axis, ...] = ()
    columns: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_clean(self) -> bool:
        return not self.axes


CLEAN = Condition(id="clean", sweep="clean")


def train_cells(protocol: Protocol, num_folds: int) -> list[TrainCell]:
    """Every (model, regime, seed, fold) of the protocol, in a stable order."""
    folds = protocol.folds if protocol.folds is not None else list(range(num_folds))
    return [
        TrainCell(model, regime, seed, fold)
        for model, regime, seed, fold in itertools.product(
            protocol.models, protocol.train.regimes, protocol.seeds, folds
        )
    ]


def cell_key(protocol: Protocol, cell: TrainCell) -> str:
    """Content hash of everything that determines a trained model (not the test conditions)."""
    train = protocol.train.model_dump(mode="json", exclude={"regimes"})
    regime = [c.as_spec() for c in protocol.train.regimes[cell.regime]]
    return digest(
        {
            "dataset": protocol.dataset.model_dump(mode="json"),
            "preset": protocol.preset,
            "train": train,
            "regime": cell.regime,
            "regime_specs": regime,
            "model": cell.model,
            "seed": cell.seed,
            "fold": cell.fold,
        },
        length=24,
    )


def conditions_hash(protocol: Protocol) -> str:
    """Hash of what determines a trained model's predictions: the test sweeps."""
    return digest([s.model_dump(mode="json") for s in protocol.test.sweeps])


def _points(sweep: Sweep, resolve: Any) -> list[Axis]:
    """The non-identity axes of one corruption sweep (identity points map onto clean)."""
    axes = []
    for point in sweep.values if sweep.values is not None else sweep.levels:
        axis, identity = resolve(sweep, point, sweep.levels is not None)
        if not identity:
            axes.append(axis)
    return axes


def _columns(axes: tuple[Axis, ...], units: dict[str, str]) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for i, suffix in enumerate(("", "2")):
        axis = axes[i] if i < len(axes) else None
        cols[f"corruption{suffix}"] = axis.corruption if axis else None
        cols[f"modality{suffix}"] = axis.modality if axis else None
        cols[f"param{suffix}"] = axis.param if axis else None
        cols[f"value{suffix}"] = float(axis.value) if axis else None
        cols[f"unit{suffix}"] = units.get(axis.id) if axis else None
    missing = next((a for a in axes if a.corruption == "missing"), None)
    cols["stage"] = missing.stage if missing else None
    cols["fill"] = missing.fill if missing else None
    return cols


def subset_conditions(sweep: Sweep, modalities: tuple[str, ...]) -> list[Condition]:
    """Every non-empty proper subset of modalities present (the full set is clean).

    Ids name the modalities kept, e.g. subsets[audio], or subsets[audio;stage=feature].
    """
    qualifiers = []
    if sweep.fill not in (None, "zeros"):
        qualifiers.append(f"fill={sweep.fill}")
    if sweep.stage not in (None, "input"):
        qualifiers.append(f"stage={sweep.stage}")
    sweep_id = f"subsets[{';'.join(qualifiers)}]" if qualifiers else "subsets"
    conditions = []
    for size in range(len(modalities) - 1, 0, -1):
        for kept in itertools.combinations(modalities, size):
            axes = tuple(
                Axis("missing", m, "p", 1.0, sweep.fill, sweep.stage)
                for m in modalities
                if m not in kept
            )
            columns = _columns((), {})
            columns.update(
                corruption="subsets",
                modality="+".join(kept),
                param="present",
                value=float(len(kept)),
                unit="modalities",
                stage=sweep.stage,
                fill=sweep.fill,
            )
            where = ";".join(["+".join(kept), *qualifiers])
            conditions.append(Condition(f"subsets[{where}]", sweep_id, axes, columns))
    return conditions


def expand_conditions(
    protocol: Protocol, modalities: tuple[str, ...], resolve: Any
) -> list[Condition]:
    """Clean, then every sweep point that is not the identity, without duplicates.

    `resolve(sweep, point, is_level) -> (Axis, is_identity, unit)` turns a sweep point into
    an axis with its physical value (see protocols.conditions.resolve_point).
    """
    units: dict[str, str] = {}

    def resolved(sweep: Sweep, point: Any, is_level: bool) -> tuple[Axis, bool]:
        axis, identity, unit = resolve(sweep, point, is_level)
        units[axis.id] = unit
        return axis, identity

    conditions = [CLEAN]
    for sweep in protocol.test.sweeps:
        if isinstance(sweep, JointSweep):
            first, second = (_points(s, resolved) for s in sweep.joint)
            sweep_id = "+".join(s.sweep for s in (first[0], second[0])) if first and second else ""
            for a, b in itertools.product(first, second):
                conditions.append(
                    Condition(f"{a.id}+{b.id}", sweep_id, (a, b), _columns((a, b), units))
                )
        elif sweep.kind == "subsets":
            conditions.extend(subset_conditions(sweep, modalities))
        else:
            for axis in _points(sweep, resolved):
                conditions.append(Condition(axis.id, axis.sweep, (axis,), _columns((axis,), units)))
    unique: dict[str, Condition] = {}
    for condition in conditions:
        unique.setdefault(condition.id, condition)
    return list(unique.values())
