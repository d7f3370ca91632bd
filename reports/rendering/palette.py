"""One colour and marker per model, shared by every figure and recorded in summary.json."""

from __future__ import annotations

from collections.abc import Sequence

import seaborn as sns

COLOURS = sns.color_palette("colorblind", 10).as_hex()
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
METADATA_KEY = "tacfn-robust:palette"


def model_styles(models: Sequence[str]) -> dict[str, dict[str, str]]:
    """{model: {"color": "#rrggbb", "marker": m}} by position in `models` (the protocol's order)."""
    return {
        model: {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[i % len(MARKERS)]}
        for i, model in enumerate(dict.fromkeys(models))
    }
