"""The Corruption shell: severity table, validated options, per-sample records, and the same
corruption as a transform of a bare tensor (`c(x, seed=...)`, `c.transform(...)`).

The math lives in `tacfn_robust.corruptions.functional`; a subclass draws each sample's parameters
from a generator seeded by that sample's seed, then applies them as one batched function.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, NamedTuple

import torch

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust.corruptions.options import (
    CorruptionOptions,
    NoOptions,
    describe_options,
    validate_options,
)
from tacfn_robust.corruptions.seeding import random_seeds, row_seeds

# Tensor rank of each modality kind (batch axis included).
KIND_NDIM = {"waveform": 2, "frames": 5, "features": 3}
KIND_SHAPE = {"waveform": "(B, L)", "frames": "(B, 3, T, H, W)", "features": "(B, T, D)"}

Seeds = torch.Tensor | Sequence[int]


class Transformed(NamedTuple):
    """A corrupted tensor with what was done to it (see `TensorTransform.transform`)."""

    x: torch.Tensor  # the corrupted tensor, shaped like the input
    present: torch.Tensor  # (B,) bool (0-d for one sample): False where the modality is absent
    records: list[dict[str, Any]]  # one per sample, as `apply` returns them
    seeds: torch.Tensor  # (B,) int64 (0-d for one sample): the per-sample seeds used


def tensor_kind(name: str, own: str, kind: str | None) -> str:
    """The modality kind a tensor is read as: the corruption's own, or `kind` for "any"."""
    if own == "any":
        if kind not in KIND_NDIM:
            raise ConfigError(
                f"{name}: kind={kind!r} is invalid; a corruption of any modality needs the "
                f"tensor's kind, expected one of: {', '.join(KIND_NDIM)}"
            )
        return kind
    if kind not in (None, own):
        raise ConfigError(
            f"{name}: kind={kind!r} is invalid; expected {own!r} tensors {KIND_SHAPE[own]}"
        )
    return own


def as_batch(name: str, x: Any, kind: str) -> tuple[torch.Tensor, bool]:
    """(x with a batch axis, whether x was one sample) for a tensor of modality kind `kind`."""
    ndim = KIND_NDIM[kind]
    if not isinstance(x, torch.Tensor) or x.ndim not in (ndim, ndim - 1):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        sample = KIND_SHAPE[kind].replace("B, ", "")
        raise DataError(
            f"{name}: input {shape} is invalid; expected a {kind} tensor {KIND_SHAPE[kind]} "
            f"or one sample {sample}"
        )
    single = x.ndim == ndim - 1
    return (x.unsqueeze(0) if single else x), single


def sample_seeds(
    name: str, n: int, single: bool, seed: int | None, seeds: Seeds | None
) -> torch.Tensor:
    """Per-sample seeds (n,) int64 from `seed` or `seeds`; fresh ones from torch's RNG if neither.

    `seed` is one sample's seed; on a batch, row i gets `row_seeds(seed, n)[i]`.
    """
    if seed is not None and seeds is not None:
        raise ConfigError(f"{name}: give seed or seeds, not both")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise ConfigError(f"{name}: seed={seed!r} is invalid; expected an integer")
        return torch.tensor([int(seed)]) if single else row_seeds(int(seed), n)
    if seeds is None:
        return random_seeds(n)
    tensor = torch.as_tensor(seeds)
    if tensor.dtype == torch.bool or tensor.is_floating_point() or tensor.is_complex():
        raise ConfigError(f"{name}: seeds of dtype {tensor.dtype} are invalid; expected integers")
    if tensor.ndim > 1:
        raise ConfigError(
            f"{name}: seeds of shape {tuple(tensor.shape)} are invalid; expected one per sample"
        )
    return tensor.to("cpu", torch.int64).reshape(-1)


def tensor_batch(
    name: str,
    modality: str,
    x: torch.Tensor,
    present: torch.Tensor | None,
    ids: Sequence[str] | None,
    sample_rate: int | None,
) -> Batch:
    """A one-modality Batch around a tensor (B, ...): ids "0".."B-1" unless given."""
    n = x.shape[0]
    ids = tuple(str(i) for i in range(n)) if ids is None else tuple(map(str, ids))
    if len(ids) != n:
        raise DataError(f"{name}: got {len(ids)} ids for a batch of {n}; expected one per sample")
    if present is None:
        mask = torch.ones(n, dtype=torch.bool, device=x.device)
    else:
        mask = torch.as_tensor(present, dtype=torch.bool, device=x.device).reshape(-1)
        if mask.numel() != n:
            raise DataError(
                f"{name}: present has {mask.numel()} entries for a batch of {n}; "
                "expected one per sample"
            )
    labels = torch.zeros(n, dtype=torch.int64)
    return Batch({modality: x}, {modality: mask}, labels, ids, sample_rate=sample_rate)


class TensorTransform(ABC):
    """Called on a bare tensor, one sample or a batch: what a Corruption and a Compose share."""

    name: str
    kind: str  # "waveform" | "frames" | "features" | "any"

    def __call__(
        self,
        x: torch.Tensor,
        seed: int | None = None,
        *,
        seeds: Seeds | None = None,
        kind: str | None = None,
        sample_rate: int | None = None,
    ) -> torch.Tensor:
        """The corrupted tensor; see `transform` for the arguments and the records."""
        return self.transform(x, seed, seeds=seeds, kind=kind, sample_rate=sample_rate).x

    def transform(
        self,
        x: torch.Tensor,
        seed: int | None = None,
        *,
        seeds: Seeds | None = None,
        kind: str | None = None,
        sample_rate: int | None = None,
        present: torch.Tensor | None = None,
        ids: Sequence[str] | None = None,
    ) -> Transformed:
        """Corrupt one sample or a batch, as the runner's `apply` would.

        x: a batch (B, ...) of the modality kind (waveform (B, L), frames (B, 3, T, H, W),
        features (B, T, D)) or one sample without the batch axis; `kind=` names the kind for
        a corruption of any modality (missing). seed: one sample's seed (row i of a batch gets
        `row_seeds(seed, B)[i]`); seeds: one per sample; neither: fresh seeds from torch's
        global RNG (returned in `.seeds`). A sample's result for a seed is exactly what the
        runner gives that sample for that seed (`sample_seed` derives the runner's seed).
        sample_rate: Hz, for the corruptions that need it. present: (B,) bool, samples
        already absent. ids: the records' sample ids (default "0".."B-1").
        """
        kind = tensor_kind(self.name, self.kind, kind)
        batched, single = as_batch(self.name, x, kind)
        per_sample = sample_seeds(self.name, batched.shape[0], single, seed, seeds)
        out = self.transform_batch(
            batched, per_sample, sample_rate=sample_rate, present=present, ids=ids
        )
        return Transformed(out.x[0], out.present[0], out.records, per_sample[0]) if single else out

    @abstractmethod
    def transform_batch(
        self,
        x: torch.Tensor,
        seeds: torch.Tensor,
        *,
        sample_rate: int | None,
        present: torch.Tensor | None,
        ids: Sequence[str] | None,
    ) -> Transformed:
        """`transform` of a batch x (B, ...) with its seeds (B,) int64."""


class Corruption(TensorTransform):
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
    Options: ClassVar[type[CorruptionOptions]] = NoOptions  # the options besides `param`
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
        unknown = sorted(set(params) - set(cls.Options.model_fields))
        if unknown:
            valid = ["level", cls.param, *cls.Options.model_fields]
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
        options = validate_options(cls.name, cls.Options, params)
        return cls(modality, value, dict(options))

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
            "options": describe_options(cls.Options),
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

    # ----- on a bare tensor (TensorTransform) ------------------------------------------------

    def transform_batch(
        self,
        x: torch.Tensor,
        seeds: torch.Tensor,
        *,
        sample_rate: int | None,
        present: torch.Tensor | None,
        ids: Sequence[str] | None,
    ) -> Transformed:
        """`apply` on a one-modality Batch around x."""
        batch = tensor_batch(self.name, self.modality, x, present, ids, sample_rate)
        out, records = self.apply(batch, seeds)
        return Transformed(out.inputs[self.modality], out.present[self.modality], records, seeds)

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
