"""Train-time corruption regimes: each spec applied with probability p per sample, severity drawn
per sample, seeded by (seed, epoch, sample id).

Missing specs are drawn jointly: the set of absent modalities of a sample comes from one
distribution over subsets whose marginals are the specs' rates (see `joint_absence`), so each
modality is absent at its own rate whatever the order of the specs and no sample loses every
modality.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real
from typing import Any

import torch

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError
from tacfn_robust.corruptions import draws
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.corruptions.missing import Missing
from tacfn_robust.corruptions.registry import corruption_class
from tacfn_robust.corruptions.seeding import derive_seeds, generator, train_seeds

SPEC_KEYS = ("corruption", "modality", "p", "levels", "values")


@dataclass(frozen=True)
class RegimeSpec:
    """One validated spec: a corruption built once per possible severity value."""

    corruption: str
    modality: str
    p: float
    variants: tuple[Corruption, ...]

    @property
    def is_missing(self) -> bool:
        return isinstance(self.variants[0], Missing)

    @property
    def rate(self) -> float:
        """A missing spec's absence rate: p times the mean of its variants' own p."""
        return self.p * sum(v.value for v in self.variants) / len(self.variants)


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


def joint_absence(
    rates: Mapping[str, float], modalities: Sequence[str]
) -> tuple[tuple[frozenset[str], float], ...]:
    """(absent set, probability) over subsets of `modalities`: P(m absent) = rates[m] (0 when
    not given) and never every modality absent.

    Independent absences at rates r_m conditioned on at least one modality kept (the
    maximum-entropy such distribution), with r_m = q_m + P·(1 − q_m) and P = Π r_m, the
    smallest root in [0, 1). When the rates sum to M − 1 exactly one modality is kept (m with
    probability 1 − q_m); above M − 1 no such distribution exists (ConfigError).
    """
    q = [float(rates.get(m, 0.0)) for m in modalities]
    bound = len(q) - 1
    total = math.fsum(q)
    if total > bound + 1e-9:
        given = ", ".join(f"{m}: {rates[m]:g}" for m in modalities if m in rates)
        raise ConfigError(
            f"train regime: missing rates {{{given}}} sum to {total:g} over modalities "
            f"{list(modalities)}; expected a sum of at most {bound} (modalities minus one), "
            "so that every sample keeps one modality"
        )
    everything = frozenset(modalities)
    if total >= bound - 1e-9:
        pairs = zip(modalities, q, strict=True)
        return tuple((everything - {m}, 1.0 - qm) for m, qm in pairs if qm < 1.0)
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.prod(qm + mid * (1.0 - qm) for qm in q) > mid:
            lo = mid
        else:
            hi = mid
    r = [qm + lo * (1.0 - qm) for qm in q]
    table = []
    for absent in itertools.product((False, True), repeat=len(q)):
        if all(absent):
            continue
        weight = math.prod(ri if a else 1.0 - ri for ri, a in zip(r, absent, strict=True))
        if weight > 0:
            gone = frozenset(m for m, a in zip(modalities, absent, strict=True) if a)
            table.append((gone, weight))
    norm = math.fsum(w for _, w in table)
    return tuple((gone, w / norm) for gone, w in table)


@lru_cache(maxsize=64)
def _cumulative(
    rates: tuple[tuple[str, float], ...], modalities: tuple[str, ...]
) -> tuple[tuple[frozenset[str], ...], tuple[float, ...]]:
    table = joint_absence(dict(rates), modalities)
    return tuple(g for g, _ in table), tuple(itertools.accumulate(w for _, w in table))


class TrainRegime:
    """Callable (batch, epoch) -> batch applying a list of specs during training.

    Specs other than missing are drawn one by one (each applied with its p). Missing specs
    are drawn jointly per sample from `joint_absence` over the batch's modalities, with each
    spec's rate = p × its missing p (1 unless given): modality m is absent at its own rate
    whatever the order of the specs, and no sample loses every modality. A sample that
    arrives with modalities already absent keeps its last present one (that draw is
    cancelled). At most one missing spec per modality. `modalities` (the data set's) checks
    the rates at construction; without it they are checked on the first batch.
    """

    def __init__(
        self, specs: list[dict[str, Any]], seed: int, modalities: Sequence[str] | None = None
    ) -> None:
        if not isinstance(specs, list | tuple):
            raise ConfigError(f"train regime: {specs!r}; expected a list of specs")
        self.specs = tuple(parse_spec(spec, i) for i, spec in enumerate(specs))
        self.seed = int(seed)
        seen: set[str] = set()
        for spec in self.specs:
            if spec.is_missing and spec.modality in seen:
                raise ConfigError(
                    f"train regime: two missing specs for modality {spec.modality!r}; "
                    "expected at most one per modality"
                )
            if spec.is_missing:
                seen.add(spec.modality)
        self.rates = tuple((s.modality, s.rate) for s in self.specs if s.is_missing)
        self.forced = {
            s.modality: s.variants[0].__class__.from_params(
                s.modality, {**s.variants[0].config, s.variants[0].param: 1.0}
            )
            for s in self.specs
            if s.is_missing
        }
        if modalities is not None and self.rates:
            _cumulative(self.rates, tuple(modalities))

    def __call__(self, batch: Batch, epoch: int) -> Batch:
        return self.apply(batch, epoch)[0]

    def plan(self, batch: Batch, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per spec: (variant index per sample, -1 = not applied; corruption seeds (B,)).

        A missing spec's index is 0 where the joint draw removes its modality.
        """
        base = train_seeds(self.seed, epoch, batch.ids)
        absent = self.absent_sets(batch, base)
        plans = []
        for index, spec in enumerate(self.specs):
            choice = torch.full((len(batch),), -1, dtype=torch.long)
            seeds = derive_seeds(base, "spec", index)
            if spec.is_missing:
                for row, gone in enumerate(absent):
                    if spec.modality in gone:
                        choice[row] = 0
            else:
                for row, seed in enumerate(seeds.tolist()):
                    gen = generator(seed)
                    if draws.uniform(gen) < spec.p:
                        choice[row] = draws.integer(gen, 0, len(spec.variants) - 1)
            plans.append((choice, derive_seeds(seeds, "corruption")))
        return plans

    def absent_sets(self, batch: Batch, base: torch.Tensor) -> list[frozenset[str]]:
        """Per sample, the modalities the missing specs remove (one joint draw per sample)."""
        if not self.rates:
            return [frozenset()] * len(batch)
        modalities = tuple(batch.present)
        unknown = [m for m, _ in self.rates if m not in modalities]
        if unknown:
            raise ConfigError(
                f"train regime: missing spec for {unknown[0]!r}, which the batch lacks; "
                f"expected one of: {', '.join(modalities)}"
            )
        sets, cumulative = _cumulative(self.rates, modalities)
        present = {m: batch.present[m].cpu() for m in modalities}
        out = []
        for row, seed in enumerate(derive_seeds(base, "absent").tolist()):
            u = draws.uniform(generator(seed)) * cumulative[-1]
            gone = sets[min(bisect_right(cumulative, u), len(sets) - 1)]
            if not any(bool(present[m][row]) for m in modalities if m not in gone):
                gone = frozenset()
            out.append(gone)
        return out

    def apply(self, batch: Batch, epoch: int) -> tuple[Batch, list[dict[str, Any]]]:
        """The corrupted batch and one record per applied (sample, spec)."""
        records: list[dict[str, Any]] = []
        for spec, (choice, seeds) in zip(self.specs, self.plan(batch, epoch), strict=True):
            variants = (self.forced[spec.modality],) if spec.is_missing else spec.variants
            for variant_index, variant in enumerate(variants):
                rows = torch.nonzero(choice == variant_index).flatten()
                if rows.numel() == 0:
                    continue
                part, recs = variant.apply(batch.select(rows), seeds[rows])
                batch = merge_rows(batch, part, rows, spec.modality)
                records.extend(recs)
        if batch.feature_fill:
            fill = derive_seeds(train_seeds(self.seed, epoch, batch.ids), "fill")
            batch = batch.with_fill_seeds(fill)
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
