"""Data sets by name: `build_dataset(name, **params)` and `list_datasets()`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib import import_module

import pydantic

from tacfn.core.errors import ConfigError, excerpt, unknown_name
from tacfn.data.base import EmotionDataset
from tacfn.data.info import DatasetInfo, Split

__all__ = ["DatasetInfo", "EmotionDataset", "Split", "build_dataset", "list_datasets"]

_REGISTRY: dict[str, tuple[str, str]] = {
    "synthetic": ("tacfn.data.synthetic", "load_synthetic"),
    "ravdess": ("tacfn.data.ravdess", "load_ravdess"),
    "mult_pickle": ("tacfn.data.mult", "load_mult_pickle"),
    "npz": ("tacfn.data.npz", "load_npz"),
}


# The modalities of the data sets whose modalities do not depend on their files (npz's do).
_MODALITIES: dict[str, tuple[str, ...]] = {
    "synthetic": ("audio", "video"),
    "ravdess": ("audio", "video"),
    "mult_pickle": ("text", "audio", "vision"),
}


def list_datasets() -> list[str]:
    return sorted(_REGISTRY)


def dataset_modalities(name: str) -> tuple[str, ...] | None:
    """The modalities of data set `name` known without reading its files, else None."""
    return _MODALITIES.get(name)


def dataset_loader(name: str) -> Callable[..., EmotionDataset]:
    """The loader function registered under `name`."""
    if name not in _REGISTRY:
        raise unknown_name("data set", name, list(_REGISTRY))
    module, function = _REGISTRY[name]
    return getattr(import_module(module), function)


def build_dataset(name: str, /, **params: object) -> EmotionDataset:
    """Load data set `name`; parameters are checked by name and type before loading."""
    loader = dataset_loader(name)
    valid = list(inspect.signature(loader).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"data set {name!r}: unknown parameter {unknown[0]!r}; expected one of: "
            f"{', '.join(valid)}"
        )
    try:
        return pydantic.validate_call(loader)(**params)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise ConfigError(
            f"data set {name!r}: parameter {field}={excerpt(err.get('input'))}: {err['msg']}"
        ) from None
