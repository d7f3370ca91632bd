"""The Corruption shell: severity table, validated configuration, per-sample records.

The math lives in `corruptions.functional`; a subclass draws each sample's parameters from a
generator seeded by that sample's seed, then applies them as one batched function.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import torch

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError

# Tensor rank of each modality kind (batch axis included).
KIND_NDIM = {"waveform": 2, "frames": 5, "features": 3}
KIND_SHAPE = {"waveform": "(B, L)", "frames": "(B, 3, T, H, W)", "features": "(B, T, D)"}

Check = Callable[[str, str, Any], Any]


@dataclass(frozen=True)
class Option:
    """A configuration option of a corruption besides its severity parameter."""

    default: Any
    check: Check
    help: str


def _fail(corruption: str, option: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{corruption}: {option}={value!r} is invalid; expected {expected}")


def choice(*names: str) -> Check:
    """Validator: one of `names`."""

    def check(corruption: str, option: str, value: Any) -> str:
        if value not in names:
            raise _fail(corruption, option, value, f"one of: {', '.join(names)}")
        return str(value)

    return check


def number(lo: float, hi: float, integer: bool = False) -> Check:
    """Validator: a real number (an integer if `integer`) in [lo, hi]."""

    def check(corruption: str, option: str, value: Any) -> float | int:
        kind = Integral if integer else Real
        if isinstance(value, bool) or not isinstance(value, kind) or not lo <= value <= hi:
            what = "an integer" if integer else "a number"
            raise _fail(corruption, option, value, f"{what} in [{lo:g}, {hi:g}]")
        return int(value) if integer else float(value)

    return check


def flag(corruption: str, option: str, value: Any) -> bool:
    """Validator: a bool."""
    if not isinstance(value, bool):
        raise _fail(corruption, option, value, "true or false")
    return value


def tensor_or_number(corruption: str, option: str, value: Any) -> torch.Tensor | float | None:
    """Validator: None, a number, or a tensor broadcastable to one sample."""
    if value is None or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    raise _fail(corruption, option, value, "a number or a tensor shaped like one sample")


def box(corruption: str, option: str, value: Any) -> tuple[float, float, float, float]:
    """Validator: (top, left, bottom, right) as fractions of the frame."""
    try:
        top, left, bottom, right = (float(v) for v in value)
    except (TypeError, ValueError):
        raise _fail(corruption, option, value, "(top, left, bottom, right) fractions") from None
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise _fail(corruption, option, value, "0 <= top < bottom <= 1 and 0 <= left < right <= 1")
    return top, left, bottom, right


def directory(corruption: str, option: str, value: Any) -> Path:
    """Validator: an existing directory."""
    if not isinstance(value, str | Path):
        raise _fail(corruption, option, value, "a folder path")
    path = Path(value)
    if not path.is_dir():
        raise _fail(corruption, option, str(value), "an existing folder of .wav files")
    return path


class Corruption(ABC):
    """A named, parameterised transform of one modality with a 5-level severity table."""

    name: ClassVar[str]
    kind: ClassVar[str]  # "waveform" | "frames" | "features" | "any"
    param: ClassVar[str]
    unit: ClassVar[str]
    levels: ClassVar[tuple[float, ...]]  # parameter values of levels 1..5
    identity: ClassVar[float]  # parameter value of level 0 (no change)
    bounds: ClassVar[tuple[float, float]]  # valid explicit values, inclusive
    integer: ClassVar[bool] = False
    backend: ClassVar[str] = "torch"
    options: ClassVar[dict[str, Option]] = {}
    regime_value: ClassVar[float | None] = None  # value used by a regime spec without severity

    def __init__(self, modality: str, value: float, config: dict[str, Any]) -> None:
        self.modality = modality
        self.value = value
        self.config = config

    # ----- construction and validation -----------------------------------------------------

    @classmethod
    def from_params(cls, modality: str, params: dict[str, Any]) -> Corruption:
        """Build from `level=` or an explicit `<param>=` value plus options; one-line errors."""
        if not isinstance(modality, str) or not modality:
            raise ConfigError(f"{cls.name}: modality={modality!r} is invalid; expected a name")
        params = dict(params)
        level = params.pop("level", None)
        value = params.pop(cls.param, None)
        unknown = sorted(set(params) - set(cls.options))
        if unknown:
            valid = ["level", cls.param, *cls.options]
            raise ConfigError(
                f"{cls.name}: unknown parameter {unknown[0]!r}; expected one of: {', '.join(valid)}"
            )
        if level is not None and value is not None:
            raise ConfigError(f"{cls.name}: give level or {cls.param}, not both")
        if level is not None:
            value = cls.value_at(level)
        elif value is None:
            raise ConfigError(f"{cls.name}: needs level=0..5 or {cls.param}=<{cls.unit}>")
        else:
            value = cls.check_value(value)
        config = {
            key: opt.check(cls.name, key, params[key]) if key in params else opt.default
            for key, opt in cls.options.items()
        }
        return cls(modality, value, cls.check_config(config))

    @classmethod
    def check_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Cross-option checks; subclasses override when options constrain each other."""
        return config

    @classmethod
    def value_at(cls, level: Any) -> float:
        """The parameter value of severity `level` (0 = identity)."""
        if isinstance(level, bool) or not isinstance(level, Integral) or not 0 <= level <= 5:
            raise ConfigError(f"{cls.name}: level={level!r} is invalid; expected an integer 0..5")
        return cls.identity if level == 0 else cls.levels[level - 1]

    @classmethod
    def check_value(cls, value: Any) -> float:
        """Validate an explicit parameter value against the valid range."""
        lo, hi = cls.bounds
        ok = isinstance(value, Real) and not isinstance(value, bool)
        if ok and value == cls.identity:
            return cls.identity
        if cls.integer:
            ok = ok and float(value).is_integer()
        if not ok or math.isnan(value) or not lo <= value <= hi:
            what = "an integer" if cls.integer else "a number"
            ident = f" or {cls.identity:g} (identity)" if not lo <= cls.identity <= hi else ""
            raise ConfigError(
                f"{cls.name}: {cls.param}={value!r} out of range; expected {what} "
                f"{lo:g} <= {cls.param} <= {hi:g}{ident} ({cls.unit})"
            )
        return int(value) if cls.integer else float(value)

    @classmethod
    def info(cls) -> dict[str, Any]:
        """What `describe(name)` returns: unit, levels, kind, range, backend, options."""
        doc = (cls.__doc__ or "").strip().splitlines()
        return {
            "name": cls.name,
            "kind": cls.kind,
            "param": cls.param,
            "unit": cls.unit,
            "identity": cls.identity,
            "levels": tuple(cls.levels),
            "range": tuple(cls.bounds),
            "backend": cls.backend,
            "options": {k: {"default": o.default, "help": o.help} for k, o in cls.options.items()},
            "description": doc[0] if doc else "",
        }

    # ----- application -----------------------------------------------------------------------

    @property
    def is_identity(self) -> bool:
        return self.value == self.identity

    @property
    def touches(self) -> frozenset[str]:
        """Modalities whose inputs this corruption changes."""
        return frozenset() if self.is_identity else frozenset({self.modality})

    def __repr__(self) -> str:
        return f"{self.name}[{self.modality}].{self.param}={self.value:g}"

    def apply(self, batch: Batch, seeds: torch.Tensor) -> tuple[Batch, list[dict[str, Any]]]:
        """Corrupt `batch`; sample i's result depends only on seeds[i] and its own data."""
        seeds = self.check_seeds(batch, seeds)
        records = [self.record(sample_id) for sample_id in batch.ids]
        if self.is_identity:
            for rec in records:
                rec["applied"] = False
            return batch, records
        x = self.input_of(batch)
        out, details = self.corrupt(x, seeds.tolist(), batch)
        for rec, detail in zip(records, details, strict=True):
            rec.update(applied=True, **detail)
        return batch.with_inputs(**{self.modality: out}), records

    @abstractmethod
    def corrupt(
        self, x: torch.Tensor, seeds: list[int], batch: Batch
    ) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        """Draw per-sample parameters from `seeds`, apply them batched; return details."""

    def record(self, sample_id: str) -> dict[str, Any]:
        """The common part of a sample's record."""
        return {
            "sample_id": sample_id,
            "corruption": self.name,
            "modality": self.modality,
            "param": self.param,
            "value": self.value,
            "unit": self.unit,
        }

    def check_seeds(self, batch: Batch, seeds: torch.Tensor) -> torch.Tensor:
        seeds = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1).cpu()
        if seeds.numel() != len(batch):
            raise DataError(
                f"{self.name}: got {seeds.numel()} seeds for a batch of {len(batch)}; "
                "expected one seed per sample"
            )
        return seeds

    def input_of(self, batch: Batch) -> torch.Tensor:
        """The modality's tensor, checked against this corruption's kind."""
        if self.modality not in batch.inputs:
            raise DataError(
                f"{self.name}: batch has no modality {self.modality!r}; "
                f"it has: {', '.join(batch.inputs) or 'none'}"
            )
        x = batch.inputs[self.modality]
        ndim = KIND_NDIM.get(self.kind)
        if ndim is not None and x.ndim != ndim:
            raise DataError(
                f"{self.name}: modality {self.modality!r} has shape {tuple(x.shape)}; "
                f"expected a {self.kind} tensor {KIND_SHAPE[self.kind]}"
            )
        return x
