"""The data set of a protocol, built once per process, and its folds."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from tacfn.core.errors import ConfigError
from tacfn.core.hashing import canonical_json
from tacfn_robust.protocols.schema import DatasetSpec


@lru_cache(maxsize=4)
def _dataset(name: str, params_json: str) -> Any:
    from tacfn.data import build_dataset

    return build_dataset(name, **json.loads(params_json))


def load_dataset(spec: DatasetSpec) -> Any:
    """The data set of a protocol (built once per process)."""
    return _dataset(spec.name, canonical_json(spec.build_params()))


def fold_split(dataset: Any, spec: DatasetSpec, fold: int) -> Any:
    """Split `fold` of the data set, or a ConfigError naming the folds that exist."""
    splits = dataset.splits(spec.folds)
    if not 0 <= fold < len(splits):
        raise ConfigError(f"folds: fold {fold} does not exist; expected 0..{len(splits) - 1}")
    return splits[fold]
