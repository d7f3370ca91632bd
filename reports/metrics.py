"""Classification metrics from integer labels and predictions (sklearn's conventions)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tacfn.errors import unknown_name


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix: rows true class, columns predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    flat = labels * num_classes + preds
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _size(labels: np.ndarray, preds: np.ndarray) -> int:
    return int(max(np.max(labels, initial=0), np.max(preds, initial=0))) + 1


def _per_class(labels: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-class (f1, recall, support, used) over classes seen in labels or preds."""
    cm = confusion(labels, preds, _size(labels, preds))
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    used = (support > 0) | (predicted > 0)
    return f1, recall, support, used


def accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    """Fraction of samples predicted correctly."""
    return float(np.mean(np.asarray(labels) == np.asarray(preds)))


def macro_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    """Unweighted mean F1 over classes present in labels or predictions."""
    f1, _, _, used = _per_class(labels, preds)
    return float(f1[used].mean())


def uar(labels: np.ndarray, preds: np.ndarray) -> float:
    """Unweighted average recall over classes present in labels (balanced accuracy)."""
    _, recall, support, _ = _per_class(labels, preds)
    return float(recall[support > 0].mean())


def weighted_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    """F1 per class averaged with weights proportional to class support."""
    f1, _, support, _ = _per_class(labels, preds)
    return float((f1 * support).sum() / support.sum())


def class_recall(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy within each true class (NaN for a class with no samples)."""
    cm = confusion(labels, preds, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "uar": uar,
    "weighted_f1": weighted_f1,
}

METRIC_LABELS = {
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "uar": "unweighted average recall",
    "weighted_f1": "weighted F1",
}


def get_metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The metric function registered under `name`."""
    if name not in METRICS:
        raise unknown_name("metric", name, list(METRICS))
    return METRICS[name]


def multiclass_scores(
    labels: np.ndarray, preds: np.ndarray, class_names: list[str]
) -> dict[str, float]:
    """Every registered metric plus per-class recall as `recall[<class>]`."""
    scores = {name: fn(labels, preds) for name, fn in METRICS.items()}
    recalls = class_recall(labels, preds, len(class_names))
    scores.update({f"recall[{c}]": float(r) for c, r in zip(class_names, recalls, strict=True)})
    return scores


def multilabel_scores(
    targets: np.ndarray, labels: np.ndarray, preds: np.ndarray, class_names: list[str]
) -> dict[str, float]:
    """IEMOCAP style: per-emotion binary accuracy and weighted F1, and their means.

    Rows are (sample, target) pairs; `labels`/`preds` are 0/1 for emotion `targets`.
    """
    scores: dict[str, float] = {}
    for k, name in enumerate(class_names):
        mask = np.asarray(targets) == k
        if mask.any():
            scores[f"accuracy[{name}]"] = accuracy(labels[mask], preds[mask])
            scores[f"weighted_f1[{name}]"] = weighted_f1(labels[mask], preds[mask])
    for metric in ("accuracy", "weighted_f1"):
        parts = [v for k, v in scores.items() if k.startswith(f"{metric}[")]
        scores[metric] = float(np.mean(parts))
    return scores
