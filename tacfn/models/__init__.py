"""Encoders, fusion heads (TACFN, concat, cross-attention, late average, unimodal), presets."""

from tacfn.models.base import FusionModel
from tacfn.models.presets import PRESETS, Preset, get_preset, list_presets
from tacfn.models.registry import (
    MODELS,
    build_model,
    count_parameters,
    list_models,
    model_options,
    register_model,
)

__all__ = [
    "MODELS",
    "PRESETS",
    "FusionModel",
    "Preset",
    "build_model",
    "count_parameters",
    "get_preset",
    "list_models",
    "list_presets",
    "model_options",
    "register_model",
]
