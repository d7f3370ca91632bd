"""Train-time corruption regimes: each spec applied with probability p per sample, severity drawn
per sample, seeded by (seed, epoch, sample id); at least one modality stays present."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import torch

from corruptions import draws
from corruptions.base import Corruption
from corruptions.missing import Missing
from corruptions.registry import corruption_class
from corruptions.seeding import derive_seeds, generator, train_seeds
from tacfn.batch import Batch
from tacfn.errors import ConfigError

SPEC_KEYS = ("corruption", "modality", "p", "levels", "values")


@dataclass(frozen=True)
class RegimeSpec:
    """One validated spec: a corruption built once per possible severity value."""

    corruption: str
    modality: str
    p: float
    variants: tuple[Corruption, ...]


def parse_spec(spec: dict[str, Any], index: int) -> RegimeSpec:
    """Validate one regime entry such as {corruption, modality, p, levels: [1, 3]}."""
    where = f"train regime spec {index}"
    if not isinstance(spec, dict) or "corruption" not in spec or "modality" not in spec:
        raise ConfigError(f"{where}: {spec!r}; expected a mapping with corruption and modality")
    cls = corruption_class(spec["corruption"])
    p = spec.get("p", 1.0)
    if isinstance(p, bool) or not isinstance(p, Real) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"{where}: p={p!r} is invalid; expected a probability in [0, 1]")
    options = {k: v for k, v in spec.items() if k not in SPEC_KEYS}
    # A spec's `p` is always the application probability (missing's own p comes via values).
    severities = [k for k in ("levels", "values", "level", cls.param) if k in spec and k != "p"]
    if len(severities) > 1:
        raise ConfigError(f"{where}: give one of levels, values, level, {cls.param}")
    if "levels" in spec:
        levels = spec["levels"]
        ok = isinstance(levels, list | tuple) and len(levels) == 2
        ok = ok and all(isinstance(v, Integral) and not isinstance(v, bool) for v in levels)
        if not ok or not 0 <= levels[0] <= levels[1] <= 5:
            raise ConfigError(
                f"{where}: levels={levels!r}; expected [lo, hi] with 0 <= lo <= hi <= 5"
            )
        params = [{"level": lv} for lv in range(levels[0], levels[1] + 1)]
    elif "values" in spec:
        values = spec["values"]
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"{where}: values={values!r}; expected a non-empty list")
        params = [{cls.param: v} for v in values]
    elif severities:
        params = [{severities[0]: spec[severities[0]]}]
        options.pop(severities[0])
    elif cls.regime_value is not None:
        params = [{cls.param: cls.regime_value}]
    else:
        raise ConfigError(f"{where}: {cls.name} needs levels: [lo, hi] or values: [...]")
    variants = tuple(cls.from_params(spec["modality"], {**options, **q}) for q in params)
    return RegimeSpec(cls.name, spec["modality"], float(p), variants)


class TrainRegime:
    """Callable (batch, epoch) -> batch applying a list of specs during training."""

    def __init__(self, specs: list[dict[str, Any]], seed: int) -> None:
        if not isinstance(specs, list | tuple):
            raise ConfigError(f"train regime: {specs!r}; expected a list of specs")
        self.specs = tuple(parse_spec(spec, i) for i, spec in enumerate(specs))
        self.seed = int(seed)

    def __call__(self, batch: Batch, epoch: int) -> Batch:
        return self.apply(batch, epoch)[0]

    def plan(self, batch: Batch, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per spec: (variant index per sample, -1 = not applied; corruption seeds (B,))."""
        base = train_seeds(self.seed, epoch, batch.ids)
        present = {m: batch.present[m].cpu().clone() for m in batch.present}
        plans = []
        for index, spec in enumerate(self.specs):
            choice = torch.full((len(batch),), -1, dtype=torch.long)
            seeds = derive_seeds(base, "spec", index)
            for row, seed in enumerate(seeds.tolist()):
                gen = generator(seed)
                if draws.uniform(gen) < spec.p:
                    choice[row] = draws.integer(gen, 0, len(spec.variants) - 1)
            corruption_seeds = derive_seeds(seeds, "corruption")
            if isinstance(spec.variants[0], Missing):
                self.keep_one_present(spec, choice, corruption_seeds, present)
            plans.append((choice, corruption_seeds))
        return plans

    @staticmethod
    def keep_one_present(
        spec: RegimeSpec,
        choice: torch.Tensor,
        seeds: torch.Tensor,
        present: dict[str, torch.Tensor],
    ) -> None:
        """Cancel a missing spec for samples it would leave with no modality; update `present`."""
        if spec.modality not in present:
            return
        for row in torch.nonzero(choice >= 0).flatten().tolist():
            variant = spec.variants[int(choice[row])]
            if not bool(variant.absent(seeds[row : row + 1])[0]):
                continue
            others = any(bool(mask[row]) for m, mask in present.items() if m != spec.modality)
            if others:
                present[spec.modality][row] = False
            else:
                choice[row] = -1

    def apply(self, batch: Batch, epoch: int) -> tuple[Batch, list[dict[str, Any]]]:
        """The corrupted batch and one record per applied (sample, spec)."""
        records: list[dict[str, Any]] = []
        for spec, (choice, seeds) in zip(self.specs, self.plan(batch, epoch), strict=True):
            for variant_index, variant in enumerate(spec.variants):
                rows = torch.nonzero(choice == variant_index).flatten()
                if rows.numel() == 0:
                    continue
                part, recs = variant.apply(batch.select(rows), seeds[rows])
                batch = merge_rows(batch, part, rows, spec.modality)
                records.extend(recs)
        return batch, records


def merge_rows(batch: Batch, part: Batch, rows: torch.Tensor, modality: str) -> Batch:
    """Write a sub-batch's `modality` input, presence and feature fill back into `batch`."""
    x = batch.inputs[modality].clone()
    x[rows.to(x.device)] = part.inputs[modality]
    mask = batch.present[modality].clone()
    mask[rows.to(mask.device)] = part.present[modality]
    merged = batch.with_inputs(**{modality: x}).with_present(**{modality: mask})
    if modality in part.feature_fill:
        merged = merged.with_feature_fill(**{modality: part.feature_fill[modality]})
    return merged
