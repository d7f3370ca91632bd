"""Reports read only the current grid; readable provenance; no empty summary rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_reports_sim import missing_audio_accuracy, simulate_run

from tacfn.core import store
from tacfn_robust.reports import build_report, check, save_baseline
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.rendering.html import machine_text

MODELS = ["tacfn", "concat", "audio_only", "video_only"]


def chance_tacfn(model: str, regime: str, cond: dict) -> float:
    """An older protocol's tacfn that never learned: chance everywhere."""
    return 1 / 8 if model == "tacfn" else missing_audio_accuracy(model, regime, cond)


@pytest.fixture(scope="module")
def reused(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory first run with 4 seeds and 3 values, then with the current protocol."""
    root = tmp_path_factory.mktemp("grid") / "run"
    simulate_run(
        root, models=MODELS, seeds=[0, 1, 2, 3], values=[0.0, 0.5, 1.0], accuracy=chance_tacfn
    )
    simulate_run(
        root,
        models=MODELS,
        failed={("concat", 1): "RuntimeError: diverged"},
        not_run=frozenset({("video_only", 2)}),
    )
    build_report(root)
    return root


def test_only_current_cells_are_read(reused: Path) -> None:
    assert len(list((store.cells_root(reused)).glob("*/cell.json"))) == 16 + 11
    run = load_run(reused)
    assert len(run.cells) == 12
    assert set(run.cells["key"]) == {c["key"] for c in run.record["cells"]}
    table = pd.read_parquet(reused / store.RESULTS_PARQUET)
    assert set(table["seed"]) == {0, 1, 2}
    assert set(table["condition"]) == set(run.record["conditions"])  # no p=0.5 from the old grid
    clean = table[(table["metric"] == "accuracy") & (table["condition"] == "clean")]
    assert abs(clean[clean["model"] == "tacfn"]["score"].mean() - 0.86) < 0.05


def test_summary_and_failed_cells(reused: Path) -> None:
    summary = json.loads((reused / store.SUMMARY_FILE).read_text())
    n = {(p["model"], p["condition"]): p["n"] for p in summary["points"]}
    assert n[("tacfn", "clean")] == 3 and n[("concat", "clean")] == 2
    assert n[("video_only", "clean")] == 2
    failed = {(f["model"], f["seed"]): f["error"] for f in summary["failed_cells"]}
    assert set(failed) == {("concat", 1), ("video_only", 2)}
    assert failed[("concat", 1)] == "RuntimeError: diverged"
    assert (
        failed[("video_only", 2)].startswith("not run: no ")
        and store.CELL_FILE in failed[("video_only", 2)]
    )
    html = (store.report_dir(reused) / store.REPORT_FILE).read_text()
    assert "RuntimeError: diverged" in html and "not run: no " in html


def test_baseline_and_check_use_current_cells(reused: Path, tmp_path: Path) -> None:
    baseline = json.loads(save_baseline(reused, tmp_path / "b.json").read_text())
    tacfn = [p for p in baseline["points"] if p["model"] == "tacfn"]
    assert {p["n"] for p in tacfn} == {3} and min(p["mean"] for p in tacfn) > 0.6
    assert check(reused, tmp_path / "b.json").passed


def test_machine_is_readable() -> None:
    text = machine_text(
        {
            "platform": "Linux-6",
            "processor": "x86_64",
            "cuda": None,
            "cores": 16,
            "torch_threads": 8,
        }
    )
    assert text == "platform: Linux-6; processor: x86_64; cores: 16; torch threads: 8"
    gpu = machine_text({"cuda": "NVIDIA H100 80GB HBM3", "platform": "Linux-6"})
    assert gpu == "platform: Linux-6; CUDA device: NVIDIA H100 80GB HBM3"
    assert machine_text(None) == "not recorded"


def _section(html: str, heading: str) -> str:
    start = html.index(f">{heading}")
    return html[start : html.index("<h2", start)]


def test_provenance_and_summary_rows_in_html(reused: Path) -> None:
    html = (store.report_dir(reused) / store.REPORT_FILE).read_text()
    assert "None" not in _section(html, "Protocol and provenance")
    assert "cores: 2; torch threads: 2" in html
    section = _section(html, "Robustness summaries")
    tables = re.findall(r"<table>(.*?)</table>", section, re.S)
    assert len(tables) == 2
    per_sweep = re.findall(r"<tr><td.*?</tr>", tables[0], re.S)
    assert len(per_sweep) == 4  # one per model, sweep missing[audio].p
    for row in per_sweep:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert cells[2] == "missing[audio].p" and all(c.strip() for c in cells)
    across = re.findall(r"<tr><td.*?</tr>", tables[1], re.S)
    assert len(across) == 4
    mean_and_ci = r'<td class="num">\d\.\d{3}<br><small>\['
    assert all(len(re.findall(mean_and_ci, row)) == 2 for row in across)  # mce, rel. mCE


def test_no_reference_no_ce_columns(tmp_path: Path) -> None:
    root = simulate_run(tmp_path / "noref", models=["tacfn", "video_only"], seeds=[0, 1])
    build_report(root)
    section = _section(
        (store.report_dir(root) / store.REPORT_FILE).read_text(), "Robustness summaries"
    )
    assert section.count("<table>") == 1
    assert "<th>ce</th>" not in section and "<th>nauc</th>" in section
    assert '<td class="num"></td>' not in section
