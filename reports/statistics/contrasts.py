"""Contrasts: the questions a report answers, each a weighted sum of (model, regime) cells.

A contrast is paired within each run unit (seed, fold): its value on a unit is the weighted
sum of the scores of its terms on that unit, so every term must be present on the unit.
Weights sum to zero. Kinds:

- `model`: model a − model b within one training regime;
- `regime`: regime a − regime b within one model;
- `interaction`: (a − b under regime r) − (a − b under regime s), a difference of differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

ContrastKind = Literal["model", "regime", "interaction"]
UNIT_KEYS = ["seed", "fold"]


@dataclass(frozen=True)
class Contrast:
    """One question: a name, its kind, its multiplicity family and its weighted terms."""

    kind: ContrastKind
    name: str
    family: str
    terms: tuple[tuple[str, str, float], ...]  # (model, regime, weight)

    def __post_init__(self) -> None:
        if abs(sum(w for _, _, w in self.terms)) > 1e-12:
            raise ValueError(f"contrast {self.name!r}: weights must sum to 0")

    @classmethod
    def models(cls, a: str, b: str, regime: str, family: str) -> Contrast:
        return cls("model", f"{a} − {b} | {regime}", family, ((a, regime, 1.0), (b, regime, -1.0)))

    @classmethod
    def regimes(cls, model: str, a: str, b: str, family: str) -> Contrast:
        return cls("regime", f"{a} − {b} | {model}", family, ((model, a, 1.0), (model, b, -1.0)))

    @classmethod
    def interaction(cls, a: str, b: str, r: str, s: str, family: str) -> Contrast:
        terms = ((a, r, 1.0), (b, r, -1.0), (a, s, -1.0), (b, s, 1.0))
        return cls("interaction", f"({a} − {b}) × ({r} − {s})", family, terms)


def unit_values(scores: pd.DataFrame, contrast: Contrast) -> pd.DataFrame:
    """The contrast's value per (seed, fold, condition) unit where every term is present.

    `scores`: one row per (model, regime, seed, fold, condition) with a `score` column (one
    metric) and the test size `n`. Returns columns seed, fold, condition, value, n.
    """
    parts = []
    for model, regime, weight in contrast.terms:
        rows = scores[(scores["model"] == model) & (scores["regime"] == regime)]
        part = rows.set_index([*UNIT_KEYS, "condition"])[["score", "n"]]
        parts.append(part.assign(score=part["score"] * weight))
    joined = pd.concat(parts, axis=1, join="inner", keys=range(len(parts)))
    out = pd.DataFrame(
        {
            "value": joined.xs("score", axis=1, level=1).sum(axis=1),
            "n": joined.xs("n", axis=1, level=1).iloc[:, 0] if len(joined) else [],
        }
    )
    return out.reset_index()
