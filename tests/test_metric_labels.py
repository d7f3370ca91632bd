"""Metric names, labels and directions come from the metric registry: a report on macro F1 says
macro F1 (never accuracy) in its figures, notes and headers, and a registered outside metric
shows its own label."""

from __future__ import annotations

import html
import re
from pathlib import Path

import matplotlib.text
import numpy as np
import pytest
from rich.console import Console
from test_reports_sim import simulate_run

import tacfn_robust.reports.rendering.plots as plots
from tacfn.core import store
from tacfn.core.errors import ConfigError
from tacfn_robust.protocols import validate
from tacfn_robust.reports import build_report, check, save_baseline
from tacfn_robust.reports.gate.check_render import render_table
from tacfn_robust.reports.scoring.metrics import (
    METRICS,
    metric_info,
    register_metric,
    report_metric,
    shown_as,
)

MODELS = ["tacfn", "concat", "audio_only"]


def share_correct(labels: np.ndarray, preds: np.ndarray) -> float:
    """Share of samples predicted correctly, as an outside plug-in would write it."""
    return float(np.mean(np.asarray(labels) == np.asarray(preds)))


@pytest.fixture
def outside_metric(monkeypatch: pytest.MonkeyPatch) -> str:
    """`share_correct` registered as a plain function; the registration ends with the test."""
    monkeypatch.setattr(METRICS, "_objects", dict(METRICS._objects))
    register_metric(share_correct)
    return "share_correct"


def _run_with_metric(root: Path, metric: str) -> Path:
    run = simulate_run(root, models=MODELS, seeds=[0, 1])
    record = store.read_json(run / store.PROTOCOL_FILE)
    record["protocol"]["report"]["metric"] = metric
    store.write_json(run / store.PROTOCOL_FILE, record)
    return run


def _report_texts(run: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str]:
    """Every string drawn into the report's figures, and the text of report.html's headings,
    table headers, notes and list items, less the glossary that defines every metric."""
    drawn: list[str] = []
    save = plots._save

    def recording(fig, path, palette=None):
        drawn.extend(t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text())
        return save(fig, path, palette)

    monkeypatch.setattr(plots, "_save", recording)
    page = build_report(run).read_text()
    page = re.sub(r'<li id="metrics">.*?</li>', "", page, flags=re.S)
    labels = re.findall(r"<(h[1-3]|th|summary|p|li)\b[^>]*>(.*?)</\1>", page, flags=re.S)
    text = "\n".join(html.unescape(re.sub(r"<[^>]+>", " ", inner)) for _, inner in labels)
    assert drawn and text
    return drawn, text


def test_a_macro_f1_report_never_says_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run_with_metric(tmp_path / "run", "macro_f1")
    drawn, text = _report_texts(run, monkeypatch)
    assert not [t for t in drawn if "accuracy" in t.lower()], drawn
    assert "accuracy" not in text.lower(), re.findall(r".{60}accuracy.{60}", text, re.I)
    assert "macro F1 (mean, CI band)" in drawn
    assert "macro F1 drop from clean (percentage points)" in drawn
    assert "Lines: mean macro F1 over runs" in text
    assert "best clean macro F1 of a unimodal model" in text

    baseline = save_baseline(run, tmp_path / "baseline.json")
    console = Console(width=200, record=True)
    console.print(render_table(check(run, baseline)))
    assert "tacfn-robust check of macro F1" in console.export_text()


def test_an_outside_metric_renders_with_its_own_label(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside_metric: str
) -> None:
    assert metric_info(outside_metric).label == "share correct"  # a plain function's default
    run = _run_with_metric(tmp_path / "run", outside_metric)
    drawn, text = _report_texts(run, monkeypatch)
    assert "share correct (mean, CI band)" in drawn
    assert "Lines: mean share correct over runs" in text
    assert "paired difference (same seed and fold) of share correct" in text
    assert "accuracy" not in text.lower()
    shown_as("hits per sample")(share_correct)
    try:
        assert metric_info(outside_metric).label == "hits per sample"
    finally:
        del share_correct.label, share_correct.higher_is_better


def test_a_lower_is_better_report_metric_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(METRICS, "_objects", dict(METRICS._objects))

    @register_metric
    @shown_as("error rate", higher_is_better=False)
    def error_rate(labels: np.ndarray, preds: np.ndarray) -> float:
        """Share of samples predicted wrongly."""
        return float(np.mean(np.asarray(labels) != np.asarray(preds)))

    assert not metric_info("error_rate").higher_is_better
    with pytest.raises(ConfigError, match="report.metric 'error_rate': registered as lower-is"):
        report_metric({"report": {"metric": "error_rate"}})
    assert report_metric({"report": {"metric": "uar"}}) == "uar"
    protocol = {
        "name": "lower",
        "dataset": {"name": "synthetic", "actors": 4, "folds": 2},
        "models": ["concat"],
        "report": {"metric": "error_rate"},
    }
    with pytest.raises(ConfigError) as info:  # before anything runs: `protocols validate`
        validate(protocol, "lower.yaml")
    assert str(info.value).startswith("lower.yaml: report.metric 'error_rate': registered as")
    assert "\n" not in str(info.value)
