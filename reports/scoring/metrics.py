"""Classification metrics from integer labels and predictions (sklearn's conventions).

A metric is a function `(labels, preds) -> float` in METRICS; its `label` and
`higher_is_better` attributes (set with `shown_as`; defaults: the name with spaces, True) are
how every table, figure, note and check names it and which way is better. The built-in ones
(CONFUSION_METRICS) are also computed from confusion matrices, vectorised over resamples;
any other registered metric (`register_metric`) is called on the labels and predictions of
each run x condition (and of each bootstrap resample), on single-label (multiclass) sets.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tacfn.core.errors import ConfigError, excerpt
from tacfn.core.registry import TRUST_CODE, Registry, untrusted


def confusion(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix: rows true class, columns predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    flat = labels * num_classes + preds
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _size(labels: np.ndarray, preds: np.ndarray) -> int:
    return int(max(np.max(labels, initial=0), np.max(preds, initial=0))) + 1


def confusions(labels: np.ndarray, preds: np.ndarray, draws: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices (R, k, k) of the resamples `draws` (R, n) of sample indices."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    r = draws.shape[0]
    flat = (np.arange(r)[:, None] * k + labels[draws]) * k + preds[draws]
    return np.bincount(flat.ravel(), minlength=r * k * k).reshape(r, k, k)


def confusion_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro F1, UAR, weighted F1 and per-class recall of confusion matrices (..., k, k).

    Macro F1 averages over classes seen in labels or predictions, UAR over classes seen in
    labels; a class with no true sample has recall NaN.
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    total = support.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
        used = (support > 0) | (predicted > 0)
        seen = support > 0
        return {
            "accuracy": tp.sum(axis=-1) / total,
            "macro_f1": (f1 * used).sum(axis=-1) / used.sum(axis=-1),
            "uar": (recall * seen).sum(axis=-1) / seen.sum(axis=-1),
            "weighted_f1": (f1 * support).sum(axis=-1) / total,
            "recall": np.where(seen, recall, np.nan),
        }


Metric = Callable[[np.ndarray, np.ndarray], float]
METRICS: Registry[Metric] = Registry("metric", "tacfn_robust.metrics")
register_metric = METRICS.register
CONFUSION_METRICS = ("accuracy", "macro_f1", "uar", "weighted_f1")


DEFAULT_METRIC = "accuracy"
F = TypeVar("F", bound=Callable)


def shown_as(label: str, higher_is_better: bool = True) -> Callable[[F], F]:
    """Decorator: how reports name a metric function and whether higher scores are better."""

    def mark(metric: F) -> F:
        metric.label = label  # type: ignore[attr-defined]
        metric.higher_is_better = higher_is_better  # type: ignore[attr-defined]
        return metric

    return mark


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric as reports show it."""

    name: str
    label: str
    higher_is_better: bool
    description: str  # the first line of the function's docstring


def metric_info(name: str) -> MetricInfo:
    """Label, direction and description of the metric registered under `name`."""
    metric = get_metric(name)
    label = getattr(metric, "label", None)
    doc = (getattr(metric, "__doc__", None) or "").strip().splitlines()
    return MetricInfo(
        name=name,
        label=label if isinstance(label, str) and label else name.replace("_", " "),
        higher_is_better=bool(getattr(metric, "higher_is_better", True)),
        description=doc[0].rstrip(".") if doc else "",
    )


def metric_label(name: str) -> str:
    """How reports name metric `name` (its registered label)."""
    return metric_info(name).label


def _score(name: str, labels: np.ndarray, preds: np.ndarray) -> float:
    return float(confusion_scores(confusion(labels, preds, _size(labels, preds)))[name])


@register_metric
@shown_as("accuracy")
def accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    """Fraction of samples predicted correctly."""
    return float(np.mean(np.asarray(labels) == np.asarray(preds)))


@register_metric
@shown_as("macro F1")
def macro_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    """Unweighted mean F1 over classes present in labels or predictions."""
    return _score("macro_f1", labels, preds)


@register_metric
@shown_as("UAR")
def uar(labels: np.ndarray, preds: np.ndarray) -> float:
    """Unweighted average recall over classes present in labels (balanced accuracy)."""
    return _score("uar", labels, preds)


@register_metric
@shown_as("weighted F1")
def weighted_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    """F1 per class averaged with weights proportional to class support."""
    return _score("weighted_f1", labels, preds)


def class_recall(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy within each true class (NaN for a class with no samples)."""
    return confusion_scores(confusion(labels, preds, num_classes))["recall"]


def get_metric(name: str) -> Metric:
    """The metric function registered under `name`."""
    return METRICS.get(name)


def check_report_metric(name: str) -> str:
    """`name` if it can be the report metric: registered, callable as `metric(labels, preds)`,
    and higher-is-better (verdicts, floors, worst conditions and the check read a higher
    score as better)."""
    try:
        inspect.signature(get_metric(name)).bind(np.zeros(1), np.zeros(1))
    except TypeError as exc:
        raise ConfigError(
            f"report.metric {excerpt(name)}: cannot be called as metric(labels, preds) ({exc}); "
            "expected a function (labels, preds) -> float"
        ) from None
    except ValueError:  # no signature to read (some built-ins): called as it is
        pass
    if not metric_info(name).higher_is_better:
        raise ConfigError(
            f"report.metric {name!r}: registered as lower-is-better; expected a metric where "
            "higher is better (register its complement, e.g. 1 - error)"
        )
    return name


def report_metric(protocol: dict) -> str:
    """The protocol's report metric (`report.metric`, default accuracy), checked; a
    `"module:attr"` metric only when the protocol sets `trust_code: true` (it names code)."""
    name = str((protocol.get("report") or {}).get("metric", DEFAULT_METRIC))
    if METRICS.is_code(name) and protocol.get(TRUST_CODE) is not True:
        raise ConfigError(f"report.metric: {untrusted(name)}")
    return check_report_metric(name)


def custom_metrics(names: Sequence[str]) -> list[str]:
    """The metrics among `names` that are not CONFUSION_METRICS (called on labels, preds)."""
    return [n for n in names if n not in CONFUSION_METRICS]


def custom_scores(
    labels: np.ndarray, preds: np.ndarray, names: Sequence[str], draws: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Registered metrics `names` of labels/preds, or of each resample in `draws` (R, n)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    rows = [np.arange(labels.size)] if draws is None else list(draws)
    out = {}
    for name in names:
        metric = get_metric(name)
        scores = np.array([float(metric(labels[r], preds[r])) for r in rows])
        out[name] = scores[0] if draws is None else scores
    return out


def multiclass_scores(
    labels: np.ndarray, preds: np.ndarray, class_names: list[str], extra: Sequence[str] = ()
) -> dict[str, float]:
    """The built-in metrics, per-class recall as `recall[<class>]` and the metrics `extra`."""
    k = max(len(class_names), _size(labels, preds))
    cm = confusion(labels, preds, k)
    scores = {**multiclass_from_confusion(cm, class_names), **custom_scores(labels, preds, extra)}
    return {name: float(v) for name, v in scores.items()}


def multiclass_from_confusion(cm: np.ndarray, class_names: list[str]) -> dict[str, np.ndarray]:
    """multiclass_scores of confusion matrices (..., k, k), one array per metric name."""
    scores = confusion_scores(cm)
    recall = scores.pop("recall")
    scores.update({f"recall[{c}]": recall[..., i] for i, c in enumerate(class_names)})
    return scores


def multilabel_scores(
    targets: np.ndarray, labels: np.ndarray, preds: np.ndarray, class_names: list[str]
) -> dict[str, float]:
    """IEMOCAP style: per-emotion binary accuracy and weighted F1, and their means.

    Rows are (sample, target) pairs; `labels`/`preds` are 0/1 for emotion `targets`.
    """
    targets = np.asarray(targets)
    cms = {
        name: confusion(labels[targets == k], preds[targets == k], 2)
        for k, name in enumerate(class_names)
        if (targets == k).any()
    }
    return {name: float(v) for name, v in multilabel_from_confusion(cms).items()}


# The metrics of a multilabel set (means over its labels); nothing else is computed for one.
MULTILABEL_METRICS = ("accuracy", "weighted_f1")


def multilabel_from_confusion(cms: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """multilabel_scores of per-emotion binary confusion matrices (..., 2, 2)."""
    scores: dict[str, np.ndarray] = {}
    for name, cm in cms.items():
        binary = confusion_scores(cm)
        scores[f"accuracy[{name}]"] = binary["accuracy"]
        scores[f"weighted_f1[{name}]"] = binary["weighted_f1"]
    for metric in MULTILABEL_METRICS:
        parts = [v for k, v in scores.items() if k.startswith(f"{metric}[")]
        scores[metric] = np.mean(parts, axis=0)
    return scores
