"""Build fusion models by name (timm/torchvision-style registry with helpful errors)."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from tacfn.core.errors import ConfigError, unknown_name
from tacfn.data.info import DatasetInfo
from tacfn.models.base import FusionModel
from tacfn.models.fusion_concat import Concat
from tacfn.models.fusion_cross_attention import CrossAttention
from tacfn.models.fusion_late_average import LateAverage
from tacfn.models.fusion_tacfn import TACFN
from tacfn.models.fusion_unimodal import Unimodal
from tacfn.models.presets import get_preset

FUSION_MODELS: dict[str, type[FusionModel]] = {
    "tacfn": TACFN,
    "concat": Concat,
    "cross_attention": CrossAttention,
    "late_average": LateAverage,
}
UNIMODAL_SUFFIX = "_only"


def list_models(info: DatasetInfo | None = None) -> list[str]:
    """Fusion models plus `<modality>_only` for info's modalities (audio, video by default)."""
    modalities = info.modalities if info is not None else ("audio", "video")
    return sorted(FUSION_MODELS) + [f"{m}{UNIMODAL_SUFFIX}" for m in modalities]


def model_class(name: str, info: DatasetInfo | None = None) -> type[FusionModel]:
    """The class that builds model `name` (Unimodal for `<modality>_only`)."""
    if name in FUSION_MODELS:
        return FUSION_MODELS[name]
    if name in list_models(info) and name.endswith(UNIMODAL_SUFFIX):
        return Unimodal
    raise unknown_name("model", name, list_models(info))


def model_options(name: str, info: DatasetInfo | None = None) -> dict[str, Any]:
    """Option name -> default of model `name`: its constructor's keywords after the preset."""
    parameters = inspect.signature(model_class(name, info)).parameters
    fixed = ("info", "preset", "modality")
    return {k: p.default for k, p in parameters.items() if k not in fixed}


def build_model(
    name: str, info: DatasetInfo, preset: str = "cpu", seed: int | None = None, **options: Any
) -> FusionModel:
    """Build model `name` for data set `info` with preset sizes; `seed` makes init reproducible."""
    spec = get_preset(preset)
    if name in FUSION_MODELS:
        cls, args = FUSION_MODELS[name], ()
    elif name.endswith(UNIMODAL_SUFFIX) and name[: -len(UNIMODAL_SUFFIX)] in info.modalities:
        cls, args = Unimodal, (name[: -len(UNIMODAL_SUFFIX)],)
    else:
        raise unknown_name("model", name, list_models(info))
    try:
        if seed is None:
            return cls(info, spec, *args, **options)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(info, spec, *args, **options)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad option ({exc})") from None


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
