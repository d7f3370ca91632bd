"""Corruptions by name: register a class once, build it from a protocol's name and params."""

from __future__ import annotations

from typing import Any, TypeVar

from corruptions.base import Corruption
from tacfn.core.errors import unknown_name

_REGISTRY: dict[str, type[Corruption]] = {}

C = TypeVar("C", bound=type[Corruption])


def register(cls: C) -> C:
    """Class decorator: make a corruption buildable by its `name`."""
    if cls.name in _REGISTRY:
        raise ValueError(f"corruption {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def corruption_class(name: str) -> type[Corruption]:
    """The registered class of `name`; unknown names list the valid ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise unknown_name("corruption", name, list(_REGISTRY)) from None


def build(name: str, modality: str, **params: Any) -> Corruption:
    """Build corruption `name` on `modality` from `level=` or its parameter, plus options."""
    return corruption_class(name).from_params(modality, params)


def list_corruptions() -> list[str]:
    """Registered corruption names, sorted."""
    return sorted(_REGISTRY)


def describe(name: str) -> dict[str, Any]:
    """Unit, levels, modality kind, valid range, backend and options of one corruption."""
    return corruption_class(name).info()
