"""Cohen's kappa: agreement of predictions with labels beyond chance."""

from __future__ import annotations

import numpy as np


def cohen_kappa(labels: np.ndarray, preds: np.ndarray) -> float:
    """(p_o - p_e) / (1 - p_e); 0 when chance agreement is already perfect."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    k = int(max(labels.max(initial=0), preds.max(initial=0))) + 1
    observed = float(np.mean(labels == preds))
    expected = float(np.bincount(labels, minlength=k) @ np.bincount(preds, minlength=k))
    expected /= max(labels.size, 1) ** 2
    return 0.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)
