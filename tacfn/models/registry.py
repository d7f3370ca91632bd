"""Models by name: the MODELS registry, `build_model` and the `<modality>_only` references.

A model is any callable `model(info: DatasetInfo, **options) -> nn.Module` whose forward
maps a Batch to logits; one that takes a `preset` parameter also receives the protocol's
Preset. The built-in fusion models are FusionModel classes (`info, preset, **options`), each
registered where it is defined, in a `tacfn/models/fusion_<name>.py` module that this module
imports (every such module, found by its file name).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tacfn.core.errors import ConfigError, unknown_name
from tacfn.core.registry import Registry
from tacfn.data.info import DatasetInfo
from tacfn.models.fusion_unimodal import Unimodal
from tacfn.models.presets import get_preset

MODELS: Registry[Callable[..., nn.Module]] = Registry("model", "tacfn_robust.models")
register_model = MODELS.register

UNIMODAL_SUFFIX = "_only"
FIXED_PARAMETERS = ("info", "preset", "modality")  # given by build_model, not by options


def list_models(info: DatasetInfo | None = None) -> list[str]:
    """Registered models plus `<modality>_only` for info's modalities (audio, video by default)."""
    modalities = info.modalities if info is not None else ("audio", "video")
    return MODELS.names() + [f"{m}{UNIMODAL_SUFFIX}" for m in modalities]


def _unimodal(name: str, info: DatasetInfo | None) -> str | None:
    """The modality of a `<modality>_only` name valid for `info`, else None."""
    if name in MODELS or not name.endswith(UNIMODAL_SUFFIX):
        return None
    modalities = info.modalities if info is not None else ("audio", "video")
    modality = name[: -len(UNIMODAL_SUFFIX)]
    return modality if modality in modalities else None


def model_class(name: str, info: DatasetInfo | None = None) -> Callable[..., nn.Module]:
    """What builds model `name`: a registered name, `"module:attr"` or an entry point."""
    if _unimodal(name, info) is not None:
        return Unimodal
    if name in MODELS or ":" in name:
        return MODELS.get(name)
    raise unknown_name("model", name, list_models(info))


def model_options(name: str, info: DatasetInfo | None = None) -> dict[str, Any]:
    """Option name -> default of model `name`: its keywords other than info, preset, modality.

    A model that takes `**options` accepts any name; its named keywords are listed.
    """
    parameters = inspect.signature(model_class(name, info)).parameters
    return {
        k: p.default
        for k, p in parameters.items()
        if k not in FIXED_PARAMETERS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def accepts_any_option(name: str, info: DatasetInfo | None = None) -> bool:
    """Whether model `name` takes `**options` (any option name is passed on)."""
    parameters = inspect.signature(model_class(name, info)).parameters.values()
    return any(p.kind == p.VAR_KEYWORD for p in parameters)


def build_model(
    name: str, info: DatasetInfo, preset: str = "cpu", seed: int | None = None, **options: Any
) -> nn.Module:
    """Build model `name` for data set `info` with preset sizes; `seed` makes init reproducible."""
    spec = get_preset(preset)
    factory = model_class(name, info)
    fixed: dict[str, Any] = {}
    if "preset" in inspect.signature(factory).parameters:
        fixed["preset"] = spec
    modality = _unimodal(name, info)
    if modality is not None:
        fixed["modality"] = modality
    try:
        if seed is None:
            model = factory(info, **fixed, **options)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = factory(info, **fixed, **options)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad option ({exc})") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"model {name!r} built a {type(model).__name__}; expected a torch nn.Module whose "
            "forward maps a Batch to logits"
        )
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _import_builtin_models() -> None:
    """Import every tacfn/models/fusion_*.py; each built-in model registers itself there."""
    for path in sorted(Path(__file__).parent.glob("fusion_*.py")):
        importlib.import_module(f"{__package__}.{path.stem}")


_import_builtin_models()
