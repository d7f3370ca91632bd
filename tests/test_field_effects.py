"""Every protocol field declares what it affects, and the three hashes follow the declarations.

The walk changes each field of the protocol model (sections recursively, and the fields of the
models inside lists and mappings: model entries, regime corruptions, sweeps) to another valid value
and asserts that exactly the hashes its declaration names change. A field without a declaration
fails (tacfn_robust.protocols.schema.declared raises); a new bool, number or Literal field gets
another value by itself, any other needs an entry in CHANGES.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel

from tacfn_robust.protocols.grid import TrainCell, cell_key, conditions_hash, train_cells
from tacfn_robust.protocols.loading import protocol_hash, validate
from tacfn_robust.protocols.schema import (
    Affects,
    JointSweep,
    ModelEntry,
    Protocol,
    Sweep,
    TrainCorruption,
    declared,
    grid_axes,
)

BASE: dict[str, Any] = {
    "name": "walk",
    "description": "every field changed once",
    "dataset": {
        "name": "synthetic",
        "path": "/data/a",
        "folds": 2,
        "actors": 8,
        "seed": 0,
        "frames": 4,
        "size": 16,
        "duration": 0.5,
        "sample_rate": 4000,
        "options": {"use_cache": True},
    },
    "preset": "cpu",
    "models": ["tacfn", "concat", {"name": "late", "model": "late_average", "options": {}}],
    "train": {
        "epochs": 2,
        "batch_size": 8,
        "lr": 0.001,
        "optimizer": "adam",
        "weight_decay": 0.0,
        "schedule": "none",
        "plateau_patience": 5,
        "grad_clip": 1.0,
        "select": "val_loss",
        "pretrain_epochs": 0,
        "amp": False,
        "legacy_test_eval": False,
        "regimes": {
            "clean": [],
            "drop": [{"corruption": "missing", "modality": "audio", "p": 0.3}],
        },
    },
    "test": {
        "batch_size": 16,
        "seed": 0,
        "sweeps": [
            {
                "kind": "corruption",
                "corruption": "missing",
                "modality": "audio",
                "param": "p",
                "values": [0.0, 0.5],
                "fill": "zeros",
                "stage": "input",
            },
            {
                "joint": [
                    {"corruption": "missing", "modality": "audio", "values": [0.5]},
                    {"corruption": "missing", "modality": "video", "values": [0.5]},
                ]
            },
            {"kind": "subsets"},
        ],
    },
    "seeds": [0, 1],
    "folds": [0, 1],
    "report": {"metric": "accuracy", "reference": "concat", "focus": "tacfn", "ci": 0.95},
    "output": "runs/walk",
    "executor": {"kind": "local", "workers": "auto", "address": None, "threads": 1},
    "device": "cpu",
    "trust_code": False,
}

# Where BASE holds an instance of each model that lives inside a list or mapping field.
ELEMENTS: dict[type[BaseModel], str] = {
    ModelEntry: "models[2]",
    TrainCorruption: "train.regimes.drop[0]",
    Sweep: "test.sweeps[0]",
    JointSweep: "test.sweeps[1]",
}


def _sweep(**fields: Any) -> Callable[[dict[str, Any]], None]:
    """A change of test.sweeps[0] that replaces several of its fields together."""
    return lambda data: data["test"]["sweeps"][0].update(fields)


def _code_loader(data: dict[str, Any]) -> None:
    """The synthetic loader named as "module:attr", which needs trust_code (it changes none)."""
    data["dataset"]["name"] = "tacfn.data.synthetic:load_synthetic"
    data["trust_code"] = True


# Changes of the fields that have no automatic other value (see `other`).
CHANGES: dict[str, Any] = {
    "name": "walk2",
    "description": "another text",
    "dataset.name": _code_loader,
    "dataset.path": "/data/b",
    "dataset.size": 18,
    "dataset.duration": 0.6,
    "dataset.options": {"use_cache": False},
    "preset": "iemocap",
    "report.margin": 0.05,
    "models": ["tacfn", "concat", "audio_only"],
    "models[2].name": "late2",
    "models[2].model": "cross_attention",
    "models[2].options": {"learned_fill": True},
    "train.optimizer": "adamw",
    "train.schedule": "cosine",
    "train.select": "last",
    "train.regimes": {"clean": [], "drop": [], "more": []},
    "train.regimes.drop[0].corruption": lambda data: data["train"]["regimes"]["drop"][0].update(
        corruption="gaussian_snr", levels=[1, 2]
    ),
    "train.regimes.drop[0].modality": "video",
    "test.sweeps": [{"kind": "subsets"}],
    "test.sweeps[0].kind": _sweep(
        kind="subsets", corruption=None, modality=None, param=None, values=None
    ),
    "test.sweeps[0].corruption": _sweep(
        corruption="gaussian_snr", param=None, fill=None, stage=None
    ),
    "test.sweeps[0].modality": "video",
    "test.sweeps[0].param": _sweep(param=None),
    "test.sweeps[0].values": [0.0, 0.6],
    "test.sweeps[0].levels": _sweep(values=None, levels=[0, 1]),
    "test.sweeps[0].fill": "mean",
    "test.sweeps[1].joint": [
        {"corruption": "missing", "modality": "audio", "values": [0.6]},
        {"corruption": "missing", "modality": "video", "values": [0.5]},
    ],
    "seeds": [0, 2],
    "folds": [0],
    "report.metric": "macro_f1",
    "report.reference": "late",
    "report.focus": "late",
    "output": "runs/walk2",
    "executor.kind": "dask",
    "executor.workers": 2,
    "executor.address": "tcp://scheduler:8786",
    "device": "auto",
}

# The hashes a change of a field with each effect changes (tacfn_robust.protocols.schema.Affects).
CHANGED = {
    "training": {"cell keys", "protocol hash"},
    "predictions": {"conditions hash", "protocol hash"},
    "protocol": {"protocol hash"},
    "report": set(),
    "nothing": set(),
}


def _elements(annotation: Any) -> list[type[BaseModel]]:
    """The models held inside a list or mapping annotation (e.g. list[Sweep | JointSweep])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _elements(arg)]


def fields(section: type[BaseModel] = Protocol, prefix: str = "") -> Iterator[tuple[str, Affects]]:
    """(path in BASE, declared effect) of every field, sections recursively; the fields of a
    model inside a list or mapping (and the extra keys BASE gives it) inherit its field's."""
    for name, mark in declared(section).items():
        if not isinstance(mark, Affects):
            yield from fields(mark, f"{prefix}{name}.")
            continue
        yield prefix + name, mark
        for model in _elements(section.model_fields[name].annotation):
            where = ELEMENTS[model]
            extra = set(_get(BASE, where)) - set(model.model_fields)
            for inner in [*model.model_fields, *sorted(extra)]:
                yield f"{where}.{inner}", mark


def _steps(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


def _get(data: Any, path: str) -> Any:
    for step in _steps(path):
        data = data[step]
    return data


def other(path: str, value: Any) -> Any:
    """Another valid value of a bool, number or Literal field, or of a list of Literals (None
    when there is none); an unset optional one gets the first such value."""
    annotation = _annotation(path)
    if value is None:
        return next((_first(a) for a in get_args(annotation) if _first(a) is not None), None)
    choices = [a for a in get_args(annotation) if get_origin(a) is Literal]
    literals = [v for c in choices for v in get_args(c)] or (
        list(get_args(annotation)) if get_origin(annotation) is Literal else []
    )
    if literals:
        return next(v for v in literals if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    return None


def _first(annotation: Any) -> Any:
    """A first value of a type: the first Literal, True, 1, 0.5, or a list of one of them."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)[0]
    if get_origin(annotation) is list:
        inner = _first(get_args(annotation)[0])
        return None if inner is None else [inner]
    return {bool: True, int: 1, float: 0.5}.get(annotation)


def _annotation(path: str) -> Any:
    model: type[BaseModel] = Protocol
    steps = [s for s in _steps(path) if isinstance(s, str)]
    for step in steps[:-1]:
        if step in model.model_fields:  # else a mapping key, e.g. a regime's name
            inner = _elements(model.model_fields[step].annotation)
            model = inner[0] if inner else model
    info = model.model_fields.get(steps[-1])
    return info.annotation if info is not None else None


def changed(path: str) -> dict[str, Any]:
    """BASE with the field at `path` changed to another valid value."""
    data = copy.deepcopy(BASE)
    try:
        current = _get(BASE, path)
    except KeyError:  # a field BASE leaves at its default, None
        current = None
    change = CHANGES[path] if path in CHANGES else other(path, current)
    assert change is not None, f"{path}: no other value; add one to CHANGES"
    if callable(change):
        change(data)
        return data
    *parents, last = _steps(path)
    node = data
    for step in parents:
        node = node[step]
    assert current != change, f"{path}: the change keeps {current!r}"
    node[last] = change
    return data


def hashes(data: dict[str, Any]) -> dict[str, Any]:
    protocol = validate(data, "walk")
    cells = train_cells(protocol, protocol.dataset.folds or 0)
    return {
        "cell keys": frozenset(cell_key(protocol, c) for c in cells),
        "conditions hash": conditions_hash(protocol),
        "protocol hash": protocol_hash(protocol),
    }


WALK = list(fields())


def test_every_changed_path_is_a_field() -> None:
    assert set(CHANGES) <= {path for path, _ in WALK}


@pytest.mark.parametrize(("path", "mark"), WALK, ids=[path for path, _ in WALK])
def test_a_field_changes_exactly_the_hashes_it_declares(path: str, mark: Affects) -> None:
    before, after = hashes(BASE), hashes(changed(path))
    moved = {name for name in before if before[name] != after[name]}
    assert moved == CHANGED[mark.effect], f"{path} declares {mark.effect}"


def test_grid_axes_are_the_fields_of_a_train_cell() -> None:
    assert set(grid_axes()) == {f.name for f in dataclasses.fields(TrainCell)}


def test_a_field_without_a_declaration_is_named() -> None:
    class Section(BaseModel):
        declared_one: int = 0

    with pytest.raises(TypeError, match=r"^Section.declared_one declares no effect"):
        declared(Section)


def test_the_field_reference_states_each_fields_declared_effect() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "protocols.md").read_text()
    reference = text.split("## Field reference", 1)[1].split("\n### ", 1)[0]
    stated = {}
    for line in reference.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`[\w.]+`", cells[0]):
            stated[cells[0].strip("`")] = cells[2]
    effects = {path: mark.effect for path, mark in WALK if "[" not in path}
    assert len(stated) >= 30
    assert stated == {path: effects.get(path) for path in stated}


def test_the_json_schema_shows_each_fields_effect() -> None:
    schema = Protocol.model_json_schema()
    assert schema["properties"]["seeds"]["affects"] == "training"
    assert schema["$defs"]["TestSpec"]["properties"]["seed"]["affects"] == "predictions"
    assert schema["$defs"]["ExecutorSpec"]["properties"]["threads"]["affects"] == "nothing"
