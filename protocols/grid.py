"""Grid expansion: train cells (model x regime x seed x fold) and test conditions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import tacfn_robust.corruptions
from tacfn.core.hashing import digest
from tacfn.core.store import (
    AXIS_FIELDS,
    AXIS_SUFFIXES,
    CLEAN,
    SUBSETS,
    condition_columns,
    condition_id,
    joint_id,
    qualified,
    qualifiers,
    subsets_sweep_id,
    sweep_id,
    sweep_target,
)
from tacfn_robust.protocols.fills import STAND_IN_MEAN, needs_mean
from tacfn_robust.protocols.schema import (
    JointSweep,
    Protocol,
    Sweep,
    declared_dump,
    grid_axes,
    sweep_parts,
)


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
        return condition_id(self.sweep, self.value)

    @property
    def seed_key(self) -> str:
        """Key of the per-sample seeds: `missing[<modality>]` for missing, so that a sample's
        absence is u(seed, sample, modality) < p and the absent sets grow with p; else the id."""
        if self.corruption == "missing":
            return f"missing[{self.modality}]"
        return self.id

    @property
    def sweep(self) -> str:
        """e.g. missing[audio].p, or missing[audio;fill=mean;stage=feature].p."""
        target = sweep_target(self.corruption, self.modality, self.params, self.fill, self.stage)
        return sweep_id(target, self.param)

    def build_params(self) -> dict[str, Any]:
        """Keyword arguments of tacfn_robust.corruptions.build for this point."""
        options = dict(self.params)
        if self.fill is not None:
            options["fill"] = self.fill
        if self.stage is not None:
            options["stage"] = self.stage
        return {**options, self.param: self.value}


@dataclass(frozen=True)
class Subset:
    """The entry of tacfn_robust.corruptions.subsets(modalities, fill, stage) that keeps
    `present`."""

    modalities: tuple[str, ...]
    present: tuple[str, ...]
    fill: str
    stage: str


@dataclass(frozen=True)
class Condition:
    """One test condition: the corruptions applied (none for clean) and its report columns.

    A condition is either a tuple of sweep axes or one modality subset. `identity` marks a
    sweep point that changes nothing (p = 0, level 0, ...): it is evaluated through the
    corruption path like any other point, so that "identity equals clean" is a real check.
    """

    id: str
    sweep: str
    axes: tuple[Axis, ...] = ()
    columns: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    subset: Subset | None = None
    identity: bool = False

    @property
    def is_clean(self) -> bool:
        return not self.axes and self.subset is None


CLEAN_CONDITION = Condition(id=CLEAN, sweep=CLEAN)


def train_cells(protocol: Protocol, num_folds: int) -> list[TrainCell]:
    """Every (model, regime, seed, fold) of the protocol, in a stable order."""
    folds = protocol.folds if protocol.folds is not None else list(range(num_folds))
    return [
        TrainCell(model, regime, seed, fold)
        for model, regime, seed, fold in itertools.product(
            protocol.model_names, protocol.train.regimes, protocol.seeds, folds
        )
    ]


def cell_key(protocol: Protocol, cell: TrainCell) -> str:
    """Content hash of a trained model: every field declared to affect training, the grid-axis
    fields by the cell's own entry (model, regime, seed, fold)."""
    content = declared_dump(protocol, {"training"}, axes=False)
    for axis in grid_axes():
        content.update(_AXIS_KEYS[axis](protocol, cell))
    return digest(content, length=24)


def _model_key(protocol: Protocol, cell: TrainCell) -> dict[str, Any]:
    """The cell's model name, plus the built model and its options for an entry whose name is
    not the plain model."""
    entry = protocol.model_entries[cell.model]
    if entry.model == cell.model and not entry.options:
        return {"model": cell.model}
    return {"model": cell.model, "builds": entry.model, "options": entry.options}


def _regime_key(protocol: Protocol, cell: TrainCell) -> dict[str, Any]:
    specs = [c.as_spec() for c in protocol.train.regimes[cell.regime]]
    return {"regime": cell.regime, "regime_specs": specs}


# What a cell's key holds of each grid axis (tacfn_robust.protocols.schema.grid_axes names the
# fields).
_AXIS_KEYS = {
    "model": _model_key,
    "regime": _regime_key,
    "seed": lambda _, cell: {"seed": cell.seed},
    "fold": lambda _, cell: {"fold": cell.fold},
}


def conditions_hash(protocol: Protocol) -> str:
    """Hash of what determines a trained model's predictions: every field declared to affect
    predictions.

    A sweep value that 6 significant digits do not hold exactly (0.5000001) adds a mark:
    its condition id was once rounded (p=0.5), so predictions stored under that id are
    evaluated again rather than left out of the report.
    """
    content = declared_dump(protocol, {"predictions"})
    values = [v for _, s in sweep_parts(protocol.test.sweeps) for v in s.values or ()]
    if any(float(f"{v:g}") != v for v in values):
        content["condition_ids"] = "exact"
    return digest(content)


def _points(sweep: Sweep, resolve: Any) -> list[tuple[Axis, bool]]:
    """(axis, whether it is the identity) of every point of one corruption sweep."""
    points = sweep.values if sweep.values is not None else sweep.levels
    return [resolve(sweep, point, sweep.levels is not None) for point in points]


def _columns(axes: tuple[Axis, ...], units: dict[str, str]) -> dict[str, Any]:
    """The condition columns of predictions.parquet (tacfn.core.store) for sweep axes."""
    cols: dict[str, Any] = {}
    for axis, suffix in zip(axes, AXIS_SUFFIXES, strict=False):
        values = (axis.corruption, axis.modality, axis.param, float(axis.value), units.get(axis.id))
        cols.update({f"{name}{suffix}": v for name, v in zip(AXIS_FIELDS, values, strict=True)})
    missing = next((a for a in axes if a.corruption == "missing"), None)
    cols["stage"] = missing.stage if missing else None
    cols["fill"] = missing.fill if missing else None
    return condition_columns(cols)


def subset_conditions(sweep: Sweep, modalities: tuple[str, ...]) -> list[Condition]:
    """Every non-empty proper subset of modalities present (the full set is clean).

    The subsets and their names come from tacfn_robust.corruptions.subsets; ids add the non-default
    fill and stage, e.g. subset[audio], subset[audio;stage=feature]; the sweep id is `subsets` (or
    `subsets[stage=feature]`).
    """
    fill, stage = sweep.fill or "zeros", sweep.stage or "input"
    naming_only = needs_mean("missing", {"fill": fill, "stage": stage})
    means = dict.fromkeys(modalities, STAND_IN_MEAN) if naming_only else None
    options = qualifiers((), fill, stage)
    subsets_id = subsets_sweep_id(fill, stage)
    conditions = []
    for subset in tacfn_robust.corruptions.subsets(modalities, fill, stage, means=means):
        if len(subset.present) == len(modalities):
            continue  # nothing removed: the clean condition
        columns = _columns((), {})
        columns.update(
            corruption=SUBSETS,
            modality="+".join(subset.present),
            param="present",
            value=float(len(subset.present)),
            unit="modalities",
            stage=stage,
            fill=fill,
        )
        recipe = Subset(tuple(modalities), subset.present, fill, stage)
        conditions.append(
            Condition(qualified(subset.name, options), subsets_id, (), columns, recipe)
        )
    return conditions


def expand_conditions(
    protocol: Protocol, modalities: tuple[str, ...], resolve: Any
) -> list[Condition]:
    """Clean, then every sweep point, without duplicates.

    Identity points of one-dimensional sweeps are conditions of their own (`identity` True);
    joint grids hold their non-identity points only.

    `resolve(sweep, point, is_level) -> (Axis, is_identity, unit)` turns a sweep point into
    an axis with its physical value (see tacfn_robust.protocols.conditions.resolve_point).
    """
    units: dict[str, str] = {}

    def resolved(sweep: Sweep, point: Any, is_level: bool) -> tuple[Axis, bool]:
        axis, identity, unit = resolve(sweep, point, is_level)
        units[axis.id] = unit
        return axis, identity

    conditions = [CLEAN_CONDITION]
    for sweep in protocol.test.sweeps:
        if isinstance(sweep, JointSweep):
            first, second = (
                [axis for axis, identity in _points(s, resolved) if not identity]
                for s in sweep.joint
            )
            joint = joint_id(first[0].sweep, second[0].sweep) if first and second else ""
            for a, b in itertools.product(first, second):
                conditions.append(
                    Condition(joint_id(a.id, b.id), joint, (a, b), _columns((a, b), units))
                )
        elif sweep.kind == SUBSETS:
            conditions.extend(subset_conditions(sweep, modalities))
        else:
            for axis, identity in _points(sweep, resolved):
                columns = _columns((axis,), units)
                conditions.append(
                    Condition(axis.id, axis.sweep, (axis,), columns, identity=identity)
                )
    unique: dict[str, Condition] = {}
    for condition in conditions:
        unique.setdefault(condition.id, condition)
    return list(unique.values())
