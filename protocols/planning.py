"""Planning a run: the expanded grid of a protocol and which of its cells are already stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tacfn.core import store
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust.protocols.cell_task import is_stored
from tacfn_robust.protocols.checks import (
    CheckFailed,
    check_protocol,
    check_trust,
    static_description,
)
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.datasets import load_dataset
from tacfn_robust.protocols.grid import (
    Condition,
    TrainCell,
    cell_key,
    conditions_hash,
    expand_conditions,
    train_cells,
)
from tacfn_robust.protocols.rerun_policy import read_cell
from tacfn_robust.protocols.schema import DATASETS_NEEDING_PATH, PICKLED_DATASETS, Protocol


@dataclass
class Plan:
    """The expanded grid of a protocol and which of its cells are already stored."""

    protocol: Protocol
    run_dir: Path
    cells: list[TrainCell]
    keys: dict[TrainCell, str]
    conditions: list[Condition]
    done: set[TrainCell]

    @property
    def pending(self) -> list[TrainCell]:
        return [c for c in self.cells if c not in self.done]


def default_run_dir(protocol: Protocol) -> Path:
    return Path(protocol.output or Path("runs") / protocol.name)


def _check_data_path(protocol: Protocol) -> None:
    spec = protocol.dataset
    if spec.name in DATASETS_NEEDING_PATH and not Path(str(spec.path)).exists():
        raise DataError(
            f"dataset.path: {spec.path} does not exist; expected the {spec.name} data "
            "(set it with --set dataset.path=...)"
        )


def plan(protocol: Protocol, run_dir: Path | None = None, unpickle: bool = True) -> Plan:
    """Check the protocol against the data set, expand the grid (train cells and test
    conditions) and find the stored cells; nothing is written. A run directory `run` may not
    write (tacfn.core.store.check_run_dir) is a PathError before any data is loaded.

    unpickle=False plans a pickled data set (one given split, fixed modalities) from its
    description without loading it, as --dry-run does: unpickling runs code.
    """
    run_dir = store.check_run_dir(run_dir if run_dir is not None else default_run_dir(protocol))
    _check_data_path(protocol)
    dataset = None
    try:
        check_trust(protocol)  # before the loader, which the protocol may name
        if not unpickle and protocol.dataset.name in PICKLED_DATASETS:
            data = static_description(protocol)
        else:
            dataset = load_dataset(protocol.dataset)
            data = dataset.description
        assert data is not None
        check_protocol(protocol, data)
    except CheckFailed as exc:
        raise ConfigError(f"protocol {protocol.name!r}: {exc}") from None
    if dataset is not None:
        dataset.splits(protocol.dataset.folds)  # each split checked (tacfn.data.base.check_split)
    folds = data.fold_count(protocol.dataset.folds)
    assert folds is not None
    cells = train_cells(protocol, folds)
    conditions = expand_conditions(protocol, data.modalities, resolve_point)
    keys = {c: cell_key(protocol, c) for c in cells}
    p = Plan(protocol, run_dir, cells, keys, conditions, set())
    p.done = stored_cells(p)
    return p


def stored_cells(p: Plan) -> set[TrainCell]:
    """The cells of a plan whose results are stored intact for its test conditions."""
    tests = conditions_hash(p.protocol)
    return {
        c
        for c, key in p.keys.items()
        if is_stored(read_cell(p.run_dir, key), tests, store.cell_dir(p.run_dir, key))
    }
