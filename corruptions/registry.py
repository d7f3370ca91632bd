"""Corruptions by name: the CORRUPTIONS registry; build one from a protocol's name and params."""

from __future__ import annotations

from typing import Any

from tacfn.core.registry import Registry
from tacfn_robust.corruptions.base import Corruption

CORRUPTIONS: Registry[type[Corruption]] = Registry("corruption", "tacfn_robust.corruptions")
register = CORRUPTIONS.register  # class decorator: `@register` registers a class by its `name`


def corruption_class(name: str) -> type[Corruption]:
    """The registered class of `name`; unknown names list the valid ones."""
    return CORRUPTIONS.get(name)


def build(name: str, modality: str, **params: Any) -> Corruption:
    """Build corruption `name` on `modality` from `level=` or its parameter, plus options."""
    return corruption_class(name).from_params(modality, params)


def list_corruptions() -> list[str]:
    """Registered corruption names, sorted."""
    return CORRUPTIONS.names()


def describe(name: str) -> dict[str, Any]:
    """Unit, levels, modality kind, valid range, backend and options of one corruption."""
    return corruption_class(name).info()
