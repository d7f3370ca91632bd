"""Missing modalities: per-sample absence with a fill, and subset conditions.

stage="input" fills the raw input of absent samples (zeros | dataset mean | noise) and sets
present=False. stage="feature" leaves the inputs alone, sets present=False and
batch.feature_fill[modality] = fill, so the model fills the encoder output (zeros | mean |
noise | learned).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust.corruptions import draws
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.corruptions.options import CorruptionOptions, TensorOrNumber, invalid
from tacfn_robust.corruptions.registry import register
from tacfn_robust.corruptions.seeding import child_seed, derive_seeds, generator, noise_fields


@register
class Missing(Corruption):
    """The whole modality is absent for a sample with probability p."""

    name = "missing"
    kind = "any"
    param = "p"
    unit = "probability absent"
    levels = (0.2, 0.4, 0.6, 0.8, 1.0)
    identity = 0.0
    bounds = (0.0, 1.0)
    regime_value = 1.0

    class Options(CorruptionOptions):
        fill: Literal["zeros", "mean", "noise", "learned"] = Field(
            "zeros", description="what absent samples carry"
        )
        stage: Literal["input", "feature"] = Field(
            "input", description="where the fill goes: the raw input or the encoder output"
        )
        mean: TensorOrNumber = Field(
            None, description="dataset mean shaped like one sample (fill=mean)"
        )
        std: TensorOrNumber = Field(1.0, description="std of fill=noise at the input stage")

        @model_validator(mode="after")
        def _fill_fits_stage(self) -> Missing.Options:
            if self.stage == "input" and self.fill == "learned":
                raise invalid("fill='learned' needs stage='feature'")
            if self.stage == "input" and self.fill == "mean" and self.mean is None:
                raise invalid(
                    "fill='mean' at stage='input' needs mean=<dataset mean of one sample>"
                )
            return self

    @property
    def touches(self) -> frozenset[str]:
        if self.is_identity or self.config["stage"] == "feature":
            return frozenset()
        return frozenset({self.modality})

    def absent(self, seeds: torch.Tensor) -> torch.Tensor:
        """(B,) bool: which samples lose the modality (a pure function of each seed and p)."""
        return torch.tensor([draws.uniform(generator(s)) < self.value for s in seeds.tolist()])

    def apply(self, batch: Batch, seeds: torch.Tensor) -> tuple[Batch, list[dict[str, Any]]]:
        seeds = self.check_seeds(batch, seeds)
        x = self.input_of(batch)
        absent = self.absent(seeds)
        if not self.is_identity and self.config["stage"] == "input":
            out, _ = self.corrupt(x, seeds.tolist(), batch)
            batch = batch.with_inputs(**{self.modality: out})
        elif not self.is_identity:
            batch = batch.with_feature_fill(**{self.modality: self.config["fill"]})
        was = batch.present[self.modality]
        batch = batch.with_present(**{self.modality: was & ~absent.to(was.device)})
        records = []
        for sample_id, gone, before in zip(batch.ids, absent.tolist(), was.tolist(), strict=True):
            rec = self.record(sample_id)
            rec.update(
                applied=not self.is_identity,
                missing=gone,
                was_present=before,
                fill=self.config["fill"],
                stage=self.config["stage"],
            )
            records.append(rec)
        return batch, records

    def corrupt(self, x, seeds, batch):
        """Input stage: absent samples' inputs replaced by the fill."""
        absent = self.absent(torch.tensor(seeds, dtype=torch.int64)).to(x.device)
        filled = self.fill_values(x, seeds)
        rows = absent.view(-1, *([1] * (x.ndim - 1)))
        return torch.where(rows, filled, x), [{"missing": bool(a)} for a in absent.tolist()]

    def fill_values(self, x: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """What absent samples carry at the input: zeros, the given mean, or noise around it."""
        fill = self.config["fill"]
        if fill == "zeros":
            return torch.zeros_like(x)
        mean = self.broadcast("mean", x)
        if fill == "mean":
            return mean.expand_as(x)
        gens = [generator(s) for s in seeds]
        for gen in gens:
            draws.uniform(gen)  # the absence draw comes first in each sample's stream
        noise = noise_fields([child_seed(g) for g in gens], x.shape[1:], x.device)
        out = mean + noise * self.broadcast("std", x)
        return out.clamp(0.0, 1.0) if x.ndim == 5 else out

    def broadcast(self, option: str, x: torch.Tensor) -> torch.Tensor:
        """Option `mean`/`std` as a tensor broadcastable to one sample of x."""
        value = self.config[option]
        tensor = torch.as_tensor(0.0 if value is None else value, dtype=x.dtype, device=x.device)
        try:
            torch.broadcast_shapes(tensor.shape, x.shape[1:])
        except RuntimeError:
            raise DataError(
                f"missing: {option} has shape {tuple(tensor.shape)}; expected one sample's "
                f"shape {tuple(x.shape[1:])} of modality {self.modality!r}"
            ) from None
        return tensor


@dataclass(frozen=True)
class SubsetCondition:
    """A test condition in which only `present` modalities remain (the others missing, p = 1)."""

    name: str
    present: tuple[str, ...]
    corruptions: tuple[Missing, ...]

    @property
    def touches(self) -> frozenset[str]:
        return frozenset().union(*(c.touches for c in self.corruptions))

    def apply(self, batch: Batch, seeds: torch.Tensor) -> tuple[Batch, list[dict[str, Any]]]:
        """Remove every other modality; one record per sample and removed modality."""
        records: list[dict[str, Any]] = []
        for corruption in self.corruptions:
            batch, recs = corruption.apply(batch, derive_seeds(seeds, corruption.modality))
            records.extend(recs)
        return batch, records


def subsets(
    modalities: list[str] | tuple[str, ...],
    fill: str = "zeros",
    stage: str = "input",
    means: Mapping[str, Any] | None = None,
    **options,
) -> list[SubsetCondition]:
    """The 2^M − 1 non-empty subsets of present modalities as conditions, largest first.

    `means` (modality -> mean of one sample) gives each removed modality its own `mean`
    option, as fill='mean' at the input stage needs.
    """
    names = tuple(modalities)
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"subsets: modalities={list(names)!r}; expected distinct names")
    conditions = []
    for size in range(len(names), 0, -1):
        for kept in combinations(names, size):
            gone = [m for m in names if m not in kept]
            built = tuple(
                Missing.from_params(
                    m,
                    {
                        "p": 1.0,
                        "fill": fill,
                        "stage": stage,
                        **options,
                        **({"mean": means[m]} if means is not None else {}),
                    },
                )
                for m in gone
            )
            conditions.append(SubsetCondition(f"subset[{'+'.join(kept)}]", kept, built))
    return conditions
