"""What a cell's checkpoint.pt records about its model, and which train cell a checkpoint is.

fit stores `metadata` beside the weights; `match_checkpoints` maps checkpoint files onto the
train cells of a protocol, refusing (one line naming the checkpoint and the field) any that
was built differently, trained on another data set or is not a cell of the protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tacfn_robust.protocols.grid import TrainCell
from tacfn_robust.protocols.schema import Protocol

from tacfn import __version__
from tacfn.core.errors import ConfigError

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
    """What checkpoint.pt records about the model of a cell (model, build, data, regime, ...)."""
    entry = protocol.model_entries[cell.model]
    return {
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


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The payload of a checkpoint file (weights only), or a one-line ConfigError."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"checkpoint {path}: no such file") from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"checkpoint {path}: not a readable checkpoint ({reason})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ConfigError(f"checkpoint {path}: holds no state_dict; expected a checkpoint.pt")
    return payload


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata a checkpoint records, or a one-line ConfigError for one written without."""
    metadata = load_checkpoint(path).get("metadata")
    if not isinstance(metadata, dict) or any(f not in metadata for f in METADATA_FIELDS):
        raise ConfigError(
            f"checkpoint {path}: records no model metadata (written before tacfn-robust "
            "recorded model, preset, options and data set); expected a checkpoint.pt written "
            f"by tacfn-robust {__version__}: retrain it with `tacfn-robust run`"
        )
    return metadata


def _differs(path: Path, field: str, found: Any, expected: Any) -> ConfigError:
    return ConfigError(
        f"checkpoint {path}: {field} {found!r} differs from the protocol's {expected!r}"
    )


def _not_among(path: Path, field: str, found: Any, valid: Iterable[Any]) -> ConfigError:
    names = ", ".join(map(str, valid))
    return ConfigError(
        f"checkpoint {path}: {field} {found!r} is not among the protocol's {field}s ({names})"
    )


def checkpoint_cell(
    path: Path, protocol: Protocol, info: Any, cells: list[TrainCell], name: str | None = None
) -> TrainCell:
    """The train cell of `cells` a checkpoint is (as model `name`, else its recorded name), or a
    one-line ConfigError naming the checkpoint and the field that does not match."""
    meta = read_metadata(path)
    model = name or meta["model"]
    entries = protocol.model_entries
    if model not in entries:
        raise _not_among(path, "model", model, entries)
    entry = entries[model]
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
    return TrainCell(model, meta["regime"], int(meta["seed"]), int(meta["fold"]))


def match_checkpoints(
    protocol: Protocol,
    info: Any,
    cells: list[TrainCell],
    sources: list[tuple[str | None, Path]],
) -> dict[TrainCell, Path]:
    """Every train cell's checkpoint file from (model name or None, file) pairs; a one-line
    ConfigError for a checkpoint that does not fit, a cell given twice or a cell without one."""
    found: dict[TrainCell, Path] = {}
    for name, path in sources:
        cell = checkpoint_cell(path, protocol, info, cells, name)
        if cell in found:
            raise ConfigError(
                f"checkpoint {path}: cell {_label(cell)} is also given by {found[cell]}; "
                "expected one checkpoint per cell"
            )
        found[cell] = path
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
