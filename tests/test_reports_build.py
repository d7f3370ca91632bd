"""build_report end to end on a simulated run directory: files, figures, HTML, CLI, browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_reports_sim import simulate_run

from reports import build_report
from reports.robustness import curve_points, normalised_auc
from reports.store import load_run
from reports.table import COLUMNS, results_table
from tacfn.cli import main

NAME = "<b>sim</b>&<script>x</script>"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = simulate_run(
        tmp_path_factory.mktemp("report") / "run",
        name=NAME,
        models=["tacfn", "concat", "cross_attention", "audio_only", "video_only"],
        failed={("cross_attention", 2): "RuntimeError: <i>out of memory</i>"},
    )
    build_report(root)
    return root


def test_normalised_auc_uses_actual_grid() -> None:
    x = np.array([0.0, 0.1, 0.5, 1.0])
    y = np.array([1.0, 0.9, 0.5, 0.0])
    # trapezoids: 0.1*0.95 + 0.4*0.7 + 0.5*0.25 = 0.5, span 1
    assert normalised_auc(x, y) == pytest.approx(0.5)
    assert normalised_auc(np.array([30.0, 20, 10]), np.array([0.9, 0.8, 0.5])) == pytest.approx(
        (10 * 0.85 + 10 * 0.65) / 20
    )


def test_results_table_is_tidy(run_dir: Path) -> None:
    table = pd.read_parquet(run_dir / "results.parquet")
    assert list(table.columns) == COLUMNS
    csv = pd.read_csv(run_dir / "results.csv")
    assert len(csv) == len(table)
    # 14 done cells x 6 conditions (clean + p=0.2..1.0) x (4 metrics + 8 per-class recalls)
    assert len(table) == 14 * 6 * 12
    assert set(table["n"]) == {240}
    clean = table[(table["condition"] == "clean") & (table["metric"] == "accuracy")]
    assert abs(clean[clean["model"] == "tacfn"]["score"].mean() - 0.86) < 0.05


def test_identity_point_comes_from_clean(run_dir: Path) -> None:
    run = load_run(run_dir)
    table = results_table(run)
    points = curve_points(table, run.protocol)
    ident = points[points["identity"]]
    assert set(ident["value"]) == {0.0} and set(ident["source"]) == {"clean"}
    assert len(points) == 14 * 6


def test_summary_json(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["schema"] == "tacfn-robust/summary" and summary["version"] == 1
    acc = [p for p in summary["points"] if p["metric"] == "accuracy"]
    assert len(acc) == 5 * 6
    assert all(p["ci_method"] and p["n"] in (2, 3) for p in acc)
    failed = summary["failed_cells"]
    assert len(failed) == 1 and failed[0]["model"] == "cross_attention"
    nauc = [c for c in summary["curves"] if c["measure"] == "nauc" and c["model"] == "tacfn"]
    assert len(nauc) == 1 and 0.6 < nauc[0]["mean"] < 0.86
    floors = summary["floors"]
    assert floors[0]["models"] == ["video_only"] and abs(floors[0]["floor"] - 0.65) < 0.05
    concat_ce = [c for c in summary["curves"] if c["measure"] == "ce" and c["model"] == "concat"]
    assert concat_ce[0]["mean"] == pytest.approx(1.0)  # the reference against itself
    assert {c["model_b"] for c in summary["comparisons"]} == {"concat", "cross_attention"}


VERDICT_KEYS = {
    "focus",
    "other",
    "regime",
    "sweep",
    "condition",
    "x",
    "metric",
    "n",
    "diff",
    "ci_low",
    "ci_high",
    "p_holm",
    "verdict",
    "mdd",
    "min_p",
}


def test_summary_verdicts(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    verdicts = summary["verdicts"]
    assert len(verdicts) == len(summary["comparisons"]) > 0
    for v in verdicts:
        assert set(v) == VERDICT_KEYS and v["focus"] == "tacfn" and v["metric"] == "accuracy"
        assert v["verdict"] in ("better", "worse", "no detectable difference")
        assert v["min_p"] == 0.0 and v["mdd"] is not None and v["mdd"] >= 0
        if v["verdict"] != "no detectable difference":
            assert v["p_holm"] < summary["alpha"] and not v["ci_low"] <= 0 <= v["ci_high"]
    for c in summary["comparisons"]:
        assert c["verdict"] and "mdd" in c and c["p_method"].startswith("paired t test over")
    clean = [p for p in summary["points"] if p["condition"] == "clean"]
    assert all(p["ci_method"].startswith("t-interval over") for p in clean if p["n"] == 3)
    assert summary["friedman"]["n_blocks"] == 2  # runs complete for every model, not conditions


def test_every_png_decodes(run_dir: Path) -> None:
    names = {p.name for p in (run_dir / "report").glob("*.png")}
    assert {
        "cd_diagram.png",
        "drop_heatmap.png",
        "class_accuracy_worst.png",
        "training_curves.png",
    } <= names
    assert any(n.startswith("curve_missing") for n in names)
    for path in (run_dir / "report").glob("*.png"):
        with Image.open(path) as img:
            img.load()
            assert img.width > 300 and img.height > 150


def test_html_is_self_contained_and_escaped(run_dir: Path) -> None:
    html = (run_dir / "report" / "report.html").read_text()
    assert "&lt;b&gt;sim&lt;/b&gt;&amp;&lt;script&gt;" in html
    assert html.index('id="verdicts"') < html.index('id="provenance"')
    assert "<script>" not in html and "<i>out of memory" not in html
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    for section in (
        "Protocol and provenance",
        "Clean performance",
        "Robustness summaries",
        "Significance",
        "critical-difference",
        "Failed cells",
        "How each number",
    ):
        assert section in html


def test_cli_report_and_bad_dir(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a run directory (no protocol.json)" in err


def _to_fds_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the CDP pipe ends on fds 3 (commands in) and 4 (replies out)."""
    high_r, high_w = os.dup2(read_end, 100), os.dup2(write_end, 101)
    os.dup2(high_r, 3)
    os.dup2(high_w, 4)


def _cdp_images(html: Path) -> tuple[list, list]:
    """Open the page in headless Chromium over a CDP pipe; (images, errors)."""
    r3, w3 = os.pipe()  # our writes -> chromium fd 3
    r4, w4 = os.pipe()  # chromium fd 4 -> our reads
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            "about:blank",
        ],
        pass_fds=(3, 4),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: _to_fds_3_and_4(r3, w4),
    )
    os.close(r3)
    os.close(w4)
    buffer = b""
    events: list[dict] = []
    counter = iter(range(1, 1000))

    def send(method: str, params: dict | None = None, session: str | None = None) -> dict:
        nonlocal buffer
        msg_id = next(counter)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(w3, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in buffer:
                chunk = os.read(r4, 1 << 16)
                assert chunk, "chromium closed the pipe"
                buffer += chunk
            raw, buffer = buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == msg_id:
                return reply.get("result", {})
            events.append(reply)

    try:
        target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        send("Runtime.enable", session=session)
        send("Log.enable", session=session)
        send("Page.enable", session=session)
        send("Page.navigate", {"url": html.as_uri()}, session=session)
        for _ in range(200):
            state = send(
                "Runtime.evaluate",
                {"expression": "document.readyState", "returnByValue": True},
                session=session,
            )
            if state["result"]["value"] == "complete":
                break
        images = send(
            "Runtime.evaluate",
            {
                "expression": "Array.from(document.images).map(i => [i.complete, i.naturalWidth])",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
        send("Browser.close")
    finally:
        proc.wait(timeout=30)
        os.close(w3)
        os.close(r4)
    errors = [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    return images, errors


@pytest.mark.browser
def test_report_opens_in_headless_chromium(run_dir: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing but CI=true")
        pytest.skip(f"{CHROMIUM} not installed")
    images, errors = _cdp_images(run_dir / "report" / "report.html")
    pngs = len(list((run_dir / "report").glob("*.png")))
    assert len(images) == pngs
    assert all(complete and width > 0 for complete, width in images), images
    assert errors == []
    assert shutil.which(str(CHROMIUM))
