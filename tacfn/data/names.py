"""RAVDESS naming: the eight emotions and the seven-field file name `MM-VV-EE-II-SS-RR-AA.ext`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tacfn.core.errors import DataError

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)
INTENSITIES: tuple[str, ...] = ("normal", "strong")
STATEMENTS: tuple[str, ...] = ("Kids are talking by the door", "Dogs are sitting by the door")
MODALITY_AUDIO_VIDEO = 1
MODALITY_AUDIO_ONLY = 3
CHANNEL_SPEECH = 1


@dataclass(frozen=True)
class ClipName:
    """The seven fields of a RAVDESS file name, as 1-based integers like the files use."""

    modality: int
    channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def label(self) -> int:
        """Class index 0..7 (emotion - 1)."""
        return self.emotion - 1

    def stem(self) -> str:
        """The file name without extension."""
        return "-".join(f"{v:02d}" for v in self.fields())

    def with_modality(self, modality: int) -> ClipName:
        return ClipName(modality, *self.fields()[1:])

    def fields(self) -> tuple[int, ...]:
        return (
            self.modality,
            self.channel,
            self.emotion,
            self.intensity,
            self.statement,
            self.repetition,
            self.actor,
        )


_LIMITS = {
    "modality": (1, 3),
    "channel": (1, 2),
    "emotion": (1, 8),
    "intensity": (1, 2),
    "statement": (1, 2),
    "repetition": (1, 2),
    "actor": (1, 99),
}


def parse_name(path: str | os.PathLike[str]) -> ClipName:
    """Parse a RAVDESS file name; the extension is removed with os.path.splitext."""
    stem, _ = os.path.splitext(os.path.basename(os.fspath(path)))
    parts = stem.split("-")
    if len(parts) != 7 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise DataError(
            f"{os.fspath(path)}: expected a RAVDESS name of 7 two-digit fields MM-VV-EE-II-SS-RR-AA"
        )
    values = dict(zip(_LIMITS, (int(p) for p in parts), strict=True))
    for field, (lo, hi) in _LIMITS.items():
        if not lo <= values[field] <= hi:
            raise DataError(
                f"{os.fspath(path)}: field {field}={values[field]:02d} outside {lo:02d}..{hi:02d}"
            )
    return ClipName(**values)
