"""What a cell's checkpoint.pt records about its model, and which train cell a checkpoint is.

fit stores `metadata` (the cell key among it) beside the weights; `cell_checkpoint_problem`
says when a cell's stored checkpoint is another cell's; `match_checkpoints` maps checkpoint
files onto the train cells of a protocol, refusing (one line naming the checkpoint and the
field) any that was built differently, trained on another data set or is not a cell of the
protocol.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tacfn import __version__
from tacfn.core.errors import ConfigError
from tacfn_robust.protocols.grid import TrainCell, cell_key
from tacfn_robust.protocols.schema import Protocol

METADATA_FIELDS = (
    "model",
    "builds",
    "preset",
    "options",
    "dataset",
    "dataset_spec",
    "regime",
    "seed",
    "fold",
)


def dataset_record(info: Any) -> dict[str, Any]:
    """The data set facts a trained model depends on, as plain JSON-like values."""
    return {
        "name": info.name,
        "modalities": list(info.modalities),
        "num_classes": int(info.num_classes),
        "class_names": list(info.class_names),
        "shapes": {m: list(s) for m, s in info.shapes.items()},
    }


def dataset_spec(protocol: Protocol) -> dict[str, Any]:
    """How the protocol builds its data set, less the path (data may move between machines)."""
    return protocol.dataset.model_dump(mode="json", exclude={"path"})


def checkpoint_metadata(protocol: Protocol, cell: TrainCell, info: Any) -> dict[str, Any]:
    """What checkpoint.pt records about the model of a cell (its key, model, build, data,
    regime, ...)."""
    entry = protocol.model_entries[cell.model]
    return {
        "key": cell_key(protocol, cell),
        "model": cell.model,
        "builds": entry.model,
        "preset": protocol.preset,
        "options": dict(entry.options),
        "dataset": dataset_record(info),
        "dataset_spec": dataset_spec(protocol),
        "regime": cell.regime,
        "regime_specs": [c.as_spec() for c in protocol.train.regimes[cell.regime]],
        "seed": cell.seed,
        "fold": cell.fold,
        "version": __version__,
    }


def _unpickle(path: Path, trust_pickle: bool) -> Any:
    """A checkpoint file's object, weights only (tensors and plain values); a saved module
    (torch.save(model)) is unpickled in full, which runs code named in the file, only with
    `trust_pickle` (`evaluate --trust-pickle`)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"checkpoint {path}: no such file") from None
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # not a pickle torch can read at all
            raise _unreadable(path, _weights_reason(exc)) from None
        if not trust_pickle:
            raise ConfigError(
                f"checkpoint {path}: holds objects beyond tensors and plain values (a saved "
                "module?), and unpickling them runs code the file names; expected a state_dict "
                "or a checkpoint.pt, or --trust-pickle for a file you trust"
            ) from None
    except Exception as exc:
        raise _unreadable(path, exc) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise _unreadable(path, exc) from None


def _weights_reason(exc: Exception) -> Exception:
    """torch's weights-only failure, its own reason (after "WeightsUnpickler error:") kept."""
    reason = str(exc).partition("WeightsUnpickler error:")[2].strip().split("\n\n")[0]
    return pickle.UnpicklingError(reason) if reason else exc


def _unreadable(path: Path, exc: Exception) -> ConfigError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(f"checkpoint {path}: not a readable checkpoint ({reason})")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file's weights, with the runner's metadata when the runner wrote it."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] | None = None
    best_epoch: int | None = None


def read_checkpoint(path: Path, trust_pickle: bool = False) -> Checkpoint:
    """A checkpoint.pt of the runner, a dict holding `state_dict`, a plain state_dict or (with
    `trust_pickle`) a saved nn.Module; anything else is a one-line ConfigError."""
    payload = _unpickle(path, trust_pickle)
    if isinstance(payload, torch.nn.Module):
        return Checkpoint(path, payload.state_dict())
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        metadata = payload.get("metadata")
        complete = isinstance(metadata, dict) and all(f in metadata for f in METADATA_FIELDS)
        best = payload.get("best_epoch")
        return Checkpoint(
            path,
            payload["state_dict"],
            metadata if complete else None,
            int(best) if isinstance(best, int) else None,
        )
    if (
        isinstance(payload, dict)
        and payload
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items())
    ):
        return Checkpoint(path, payload)
    raise ConfigError(
        f"checkpoint {path}: holds a {type(payload).__name__}; expected a state_dict, a saved "
        "nn.Module or a checkpoint.pt"
    )


def cell_checkpoint_problem(checkpoint: Checkpoint, key: str, cell: TrainCell) -> str | None:
    """Why a cell's stored checkpoint is not the model of cell `key` (None when it is): its
    metadata names another key, or (a checkpoint written before keys were recorded) another
    model, regime, seed or fold."""
    meta = checkpoint.metadata
    if meta is None:
        return f"{checkpoint.path}: records no cell metadata; expected cell {key!r}"
    if meta.get("key", key) != key:
        return f"{checkpoint.path}: holds cell {meta['key']!r}; expected {key!r}"
    found = TrainCell(meta["model"], meta["regime"], meta["seed"], meta["fold"])
    if found != cell:
        return f"{checkpoint.path}: holds cell {_label(found)}; expected {_label(cell)}"
    return None


def fit_problem(state_dict: dict[str, torch.Tensor], model: torch.nn.Module) -> str | None:
    """Why `state_dict` does not load into `model` (missing and unexpected keys, or the first
    shape that differs), or None when it loads as it is."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        return f"missing keys {_keys(missing)}; unexpected keys {_keys(unexpected)}"
    for key, tensor in expected.items():
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            found = tuple(state_dict[key].shape)
            return f"{key} has shape {found}, the model's is {tuple(tensor.shape)}"
    return None


def _keys(keys: list[str], shown: int = 4) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _differs(path: Path, field: str, found: Any, expected: Any) -> ConfigError:
    return ConfigError(
        f"checkpoint {path}: {field} {found!r} differs from the protocol's {expected!r}"
    )


def _not_among(path: Path, field: str, found: Any, valid: Iterable[Any]) -> ConfigError:
    names = ", ".join(map(str, valid))
    return ConfigError(
        f"checkpoint {path}: {field} {found!r} is not among the protocol's {field}s ({names})"
    )


def _first_cell(protocol: Protocol, model: str) -> TrainCell:
    """The cell a checkpoint without metadata stands for: the protocol's first regime, seed
    and fold."""
    regime = next(iter(protocol.train.regimes))
    return TrainCell(model, regime, protocol.seeds[0], (protocol.folds or [0])[0])


def named_cell(checkpoint: Checkpoint, protocol: Protocol, name: str | None) -> TrainCell:
    """The train cell a checkpoint names: from its metadata (model `name` when given), else
    model `name` at the protocol's first regime, seed and fold."""
    meta = checkpoint.metadata
    if meta is None:
        if name is None:
            raise ConfigError(
                f"checkpoint {checkpoint.path}: records no model metadata; expected a "
                f"checkpoint.pt written by tacfn-robust {__version__}, or --checkpoint "
                "NAME=FILE naming the protocol's model it holds"
            )
        return _first_cell(protocol, name)
    return TrainCell(name or meta["model"], meta["regime"], int(meta["seed"]), int(meta["fold"]))


def checkpoint_cell(
    checkpoint: Checkpoint,
    protocol: Protocol,
    info: Any,
    cells: list[TrainCell],
    build: Callable[[TrainCell], torch.nn.Module],
    name: str | None = None,
) -> TrainCell:
    """The train cell of `cells` a checkpoint is (as model `name`, else its recorded name), or a
    one-line ConfigError naming the checkpoint and the field that does not match.

    A checkpoint without metadata is model `name` at the protocol's first regime, seed and
    fold; its keys and shapes must fit the model `build(cell)` makes."""
    path = checkpoint.path
    cell = named_cell(checkpoint, protocol, name)
    entries = protocol.model_entries
    if cell.model not in entries:
        raise _not_among(path, "model", cell.model, entries)
    entry = entries[cell.model]
    meta = checkpoint.metadata
    if meta is None:
        problem = fit_problem(checkpoint.state_dict, build(cell))
        if problem:
            raise ConfigError(
                f"checkpoint {path}: does not fit model {cell.model!r} ({entry.model}): {problem}"
            )
        return cell
    for field, expected in (
        ("builds", entry.model),
        ("options", dict(entry.options)),
        ("preset", protocol.preset),
    ):
        if meta[field] != expected:
            raise _differs(path, field, meta[field], expected)
    for recorded, expected_values in (
        (meta["dataset"], dataset_record(info)),
        (meta["dataset_spec"], dataset_spec(protocol)),
    ):
        for field, expected in expected_values.items():
            if recorded.get(field) != expected:
                raise _differs(path, f"dataset.{field}", recorded.get(field), expected)
    regimes = protocol.train.regimes
    if meta["regime"] not in regimes:
        raise _not_among(path, "regime", meta["regime"], regimes)
    specs = [c.as_spec() for c in regimes[meta["regime"]]]
    if meta.get("regime_specs", specs) != specs:
        raise _differs(path, f"regime {meta['regime']!r}", meta.get("regime_specs"), specs)
    if meta["seed"] not in protocol.seeds:
        raise _not_among(path, "seed", meta["seed"], protocol.seeds)
    folds = sorted({c.fold for c in cells})
    if meta["fold"] not in folds:
        raise _not_among(path, "fold", meta["fold"], folds)
    return cell


def checkpoint_grid(protocol: Protocol, named: list[tuple[str | None, Checkpoint]]) -> Protocol:
    """The protocol narrowed to the models, regimes, seeds and folds its checkpoints name, so
    that one checkpoint needs no --set (the protocol itself when they name all of them, or a
    value that is not the protocol's: checkpoint_cell then says which)."""
    cells = [named_cell(checkpoint, protocol, name) for name, checkpoint in named]
    entries = protocol.model_entries
    models = [m for m in entries if m in {c.model for c in cells}]
    regimes = [r for r in protocol.train.regimes if r in {c.regime for c in cells}]
    seeds = [s for s in protocol.seeds if s in {c.seed for c in cells}]
    folds = sorted({c.fold for c in cells})
    if not (models and regimes and seeds) or len(models) < len({c.model for c in cells}):
        return protocol
    if (models, regimes, seeds, folds) == (
        list(entries),
        list(protocol.train.regimes),
        list(protocol.seeds),
        protocol.folds,
    ):
        return protocol
    data = protocol.model_dump(mode="json")
    data["models"] = [d for d, name in zip(data["models"], entries, strict=True) if name in models]
    data["train"]["regimes"] = {r: data["train"]["regimes"][r] for r in regimes}
    data["seeds"], data["folds"] = seeds, folds
    for field in ("reference", "focus"):
        if data["report"][field] not in models:
            data["report"][field] = None
    from tacfn_robust.protocols.loading import validate

    return validate(data, f"protocol {protocol.name} narrowed to its checkpoints")


def match_checkpoints(
    protocol: Protocol,
    info: Any,
    cells: list[TrainCell],
    named: list[tuple[str | None, Checkpoint]],
    build: Callable[[TrainCell], torch.nn.Module],
) -> dict[TrainCell, Checkpoint]:
    """Every train cell's checkpoint from (model name or None, checkpoint) pairs; a one-line
    ConfigError for a checkpoint that does not fit, a cell given twice or a cell without one."""
    found: dict[TrainCell, Checkpoint] = {}
    for name, checkpoint in named:
        cell = checkpoint_cell(checkpoint, protocol, info, cells, build, name)
        if cell in found:
            raise ConfigError(
                f"checkpoint {checkpoint.path}: cell {_label(cell)} is also given by "
                f"{found[cell].path}; expected one checkpoint per cell"
            )
        found[cell] = checkpoint
    missing = [c for c in cells if c not in found]
    if missing:
        raise ConfigError(
            f"no checkpoint for cell {_label(missing[0])} ({len(missing)} of {len(cells)} cells "
            "lack one); expected a run directory or --checkpoint files with every model, "
            "regime, seed and fold of the protocol"
        )
    return found


def _label(cell: TrainCell) -> str:
    return f"{cell.model}/{cell.regime}/seed={cell.seed}/fold={cell.fold}"
