"""Corruptions in a user's own training loop: Compose and an nn.Module wrapper.

A Corruption is itself callable on a tensor (`c(x, seed=...)`, `c.transform(...)` for the
presence mask and records); these compose several and put them in an nn.Sequential.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tacfn.core.errors import ConfigError
from tacfn_robust.corruptions.base import (
    Corruption,
    Seeds,
    TensorTransform,
    Transformed,
    tensor_kind,
)
from tacfn_robust.corruptions.seeding import derive_seeds


class Compose(TensorTransform):
    """Several corruptions of one tensor applied in order.

    Seeding rule: the per-sample seeds s (from `seed=`/`seeds=`, or fresh ones, exactly as for
    one corruption) give member i the seeds `derive_seeds(s, "compose", i)`, so each member
    draws from its own stream and a sample's result depends only on its seed. Presence is
    carried along (a missing member's absent samples stay absent) and the records are each
    member's, in order.
    """

    name = "Compose"

    def __init__(self, corruptions: Sequence[Corruption]) -> None:
        members = list(corruptions)
        if not members or not all(isinstance(c, Corruption) for c in members):
            raise ConfigError(f"Compose: {members!r}; expected a non-empty list of corruptions")
        kinds = {c.kind for c in members} - {"any"}
        if len(kinds) > 1:
            raise ConfigError(
                f"Compose: members take {', '.join(sorted(kinds))} tensors; "
                "expected corruptions of one modality kind"
            )
        self.corruptions = tuple(members)
        self.kind = kinds.pop() if kinds else "any"

    def __repr__(self) -> str:
        return f"Compose([{', '.join(map(repr, self.corruptions))}])"

    def transform_batch(
        self,
        x: torch.Tensor,
        seeds: torch.Tensor,
        *,
        sample_rate: int | None,
        present: torch.Tensor | None,
        ids: Sequence[str] | None,
    ) -> Transformed:
        """Every member in order; `.records` holds each member's records one after another."""
        records: list[dict[str, Any]] = []
        out, mask = x, present
        for index, corruption in enumerate(self.corruptions):
            step = corruption.transform_batch(
                out,
                derive_seeds(seeds, "compose", index),
                sample_rate=sample_rate,
                present=mask,
                ids=ids,
            )
            out, mask = step.x, step.present
            records.extend(step.records)
        return Transformed(out, mask, records, seeds)


class CorruptionModule(torch.nn.Module):
    """A corruption (or Compose) as an nn.Module: forward(x, seeds=None) -> corrupted x.

    Without seeds every call draws fresh ones from torch's global RNG (seed it with
    torch.manual_seed for a reproducible loop); with seeds (one per sample) the output is
    exactly `corruption(x, seeds=seeds)`. It corrupts in train and eval mode alike and runs
    on the tensor's device.
    """

    def __init__(
        self,
        corruption: TensorTransform,
        kind: str | None = None,
        sample_rate: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(corruption, TensorTransform):
            raise ConfigError(
                f"CorruptionModule: {corruption!r}; expected a Corruption or a Compose"
            )
        self.corruption = corruption
        self.kind = None if kind is None else tensor_kind(corruption.name, corruption.kind, kind)
        self.sample_rate = sample_rate

    def forward(self, x: torch.Tensor, seeds: Seeds | None = None) -> torch.Tensor:
        return self.corruption(x, seeds=seeds, kind=self.kind, sample_rate=self.sample_rate)

    def extra_repr(self) -> str:
        return repr(self.corruption)
