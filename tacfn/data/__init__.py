"""Data sets by name: `build_dataset(name, **params)` and `list_datasets()`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pydantic

from tacfn.core.errors import ConfigError, excerpt
from tacfn.core.registry import Registry
from tacfn.data.base import EmotionDataset
from tacfn.data.info import DatasetDescription, DatasetInfo, Split, described_by

__all__ = [
    "DATASETS",
    "DatasetDescription",
    "DatasetInfo",
    "EmotionDataset",
    "Split",
    "build_dataset",
    "described_by",
    "describe_dataset",
    "list_datasets",
    "register_dataset",
]

# A data set is a loader `(**params) -> EmotionDataset`; its keywords are its parameters.
DATASETS: Registry[Callable[..., EmotionDataset]] = Registry("data set", "tacfn_robust.datasets")
register_dataset = DATASETS.register
register_dataset("synthetic", "tacfn.data.synthetic:load_synthetic")
register_dataset("ravdess", "tacfn.data.ravdess:load_ravdess")
register_dataset("mult_pickle", "tacfn.data.mult:load_mult_pickle")
register_dataset("npz", "tacfn.data.npz:load_npz")


def list_datasets() -> list[str]:
    return DATASETS.names()


def describe_dataset(name: str, params: dict[str, object]) -> DatasetDescription | None:
    """The description of data set `name` built with `params`, when its loader gives one
    without reading files (`described_by`); else None (known once the set is loaded)."""
    describe = getattr(DATASETS.get(name), "describe", None)
    return None if describe is None else describe(**params)


def build_dataset(name: str, /, **params: object) -> EmotionDataset:
    """Load data set `name`; parameters are checked by name and type before loading."""
    loader = DATASETS.get(name)
    valid = list(inspect.signature(loader).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"data set {name!r}: unknown parameter {unknown[0]!r}; expected one of: "
            f"{', '.join(valid)}"
        )
    try:
        dataset = pydantic.validate_call(loader)(**params)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise ConfigError(
            f"data set {name!r}: parameter {field}={excerpt(err.get('input'))}: {err['msg']}"
        ) from None
    if not isinstance(dataset, EmotionDataset):
        raise ConfigError(
            f"data set {name!r} loaded a {type(dataset).__name__}; expected a "
            "tacfn.data.EmotionDataset"
        )
    return dataset
