"""build_report end to end on a simulated run directory: files, figures, HTML, CLI, browser."""

from __future__ import annotations

import base64
import io
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

from tacfn.core import store
from tacfn_robust.cli import main
from tacfn_robust.reports import build_report
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.rendering.formats import fmt, fmt_p, fmt_signed, p_equals
from tacfn_robust.reports.rendering.palette import METADATA_KEY
from tacfn_robust.reports.rendering.plots import critical_difference, informative_columns
from tacfn_robust.reports.scoring.table import COLUMNS, results_table
from tacfn_robust.reports.statistics.contrasts import COLUMNS as CONTRAST_COLUMNS
from tacfn_robust.reports.statistics.inference import VERDICTS
from tacfn_robust.reports.statistics.robustness import curve_points, normalised_auc
from tacfn_robust.reports.statistics.variance import ONE_FOLD

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


def test_one_number_format_for_text_and_figures() -> None:
    assert fmt(-0.0001) == "0.000" and fmt(-0.04, 1) == "0.0" and fmt(-0.0006) == "-0.001"
    assert fmt(float("nan")) == fmt(None) == "—"
    assert fmt_p(3.47e-05) == "< 0.001" and fmt_p(0.25) == "0.250" and fmt_p(0.001) == "0.001"
    assert p_equals(3.47e-05) == "p < 0.001" and p_equals(0.0123) == "p = 0.012"
    assert fmt_signed(0.052) == "+0.052" and fmt_signed(-0.0001) == "0.000"


def test_training_panels_leave_out_empty_and_constant_columns() -> None:
    logs = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "seed": [0, 0, 0],
            "train_loss": [2.0, 1.0, 0.5],
            "lr": [0.002, 0.002, 0.002],
            "legacy_test_eval": [np.nan, np.nan, np.nan],
            "val_acc": [0.3, np.nan, 0.6],
        }
    )
    assert informative_columns(logs) == ["train_loss", "val_acc"]


def test_critical_difference_matches_demsar() -> None:
    # Demšar (2006), Table 5: q_0.05 = 2.728 for k = 5 models
    assert critical_difference(5, 12) == pytest.approx(2.728 * (5 * 6 / (6 * 12)) ** 0.5, abs=1e-3)


def test_results_table_is_tidy(run_dir: Path) -> None:
    table = pd.read_parquet(run_dir / store.RESULTS_PARQUET)
    assert list(table.columns) == COLUMNS
    csv = pd.read_csv(run_dir / store.RESULTS_CSV)
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
    summary = json.loads((run_dir / store.SUMMARY_FILE).read_text())
    assert summary["schema"] == "tacfn-robust/summary" and summary["version"] == 2
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
    assert {c["b"] for c in summary["contrasts"] if c["kind"] == "model"} == {
        "concat",
        "cross_attention",
    }
    assert concat_ce[0]["ci_low"] is None and "by definition" in concat_ce[0]["ci_method"]


def test_summary_contrasts(run_dir: Path) -> None:
    summary = json.loads((run_dir / store.SUMMARY_FILE).read_text())
    contrasts = summary["contrasts"]
    assert contrasts and summary["version"] == 2 and summary["margin"] == 0.03
    for c in contrasts:
        assert set(c) == set(CONTRAST_COLUMNS) and c["metric"] == "accuracy"
        assert c["verdict"] in VERDICTS and c["family_size"] >= 1
        # one fold, three seeds: seed and test sampling apart, the fold not estimable
        variance = c["variance"]
        assert set(variance["components"]) == {"seed", "test_shared", "test_own"}
        assert ONE_FOLD in variance["notes"] and variance["designs"] == []
        assert variance["seeds_per_fold"] == c["n"] and variance["clips_per_fold"] == 240
        assert c["mdd"] is not None and c["mdd"] >= 0
        if c["verdict"] in ("better", "worse"):
            assert c["p_holm"] < summary["alpha"] and not c["ci_low"] <= 0 <= c["ci_high"]
        if c["verdict"] == "equivalent":
            assert c["p_equivalence"] < summary["alpha"]
    # one model kind contrast per (other, regime) over the whole curve, in one family
    curves = [c for c in contrasts if c["kind"] == "model" and c["scope"] == "curve"]
    assert len(curves) == 2 and {c["family_size"] for c in curves} == {2}
    # the identity level p = 0 is the clean row: tested once, never in a level family
    assert not [c for c in contrasts if c["scope"] == "level" and c["x"] == 0.0]
    clean = [p for p in summary["points"] if p["condition"] == "clean"]
    assert all(p["ci_method"].startswith("t-interval over") for p in clean if p["n"] == 3)
    assert summary["friedman"]["n_blocks"] == 2  # one fold: the seeds complete for every model


def test_every_png_decodes(run_dir: Path) -> None:
    names = {p.name for p in (store.report_dir(run_dir)).glob("*.png")}
    assert {
        "cd_diagram.png",
        "drop_heatmap.png",
        "class_scores_worst_clean.png",
        "training_curves.png",
    } <= names
    assert any(n.startswith("curve_missing") for n in names)
    for path in (store.report_dir(run_dir)).glob("*.png"):
        with Image.open(path) as img:
            img.load()
            assert img.width > 300 and img.height > 150


def test_html_is_self_contained_and_escaped(run_dir: Path) -> None:
    html = (store.report_dir(run_dir) / store.REPORT_FILE).read_text()
    assert "&lt;b&gt;sim&lt;/b&gt;&amp;&lt;script&gt;" in html
    assert html.index('id="answers"') < html.index('id="levels"') < html.index('id="provenance"')
    assert "<script>" not in html and "<i>out of memory" not in html
    assert "-0.000" not in html and "0.0000" not in html and "e-0" not in html
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    for section in (
        "Protocol and provenance",
        "Clean performance",
        "Robustness summaries",
        "By level",
        "Where the variance comes from",
        "critical-difference",
        "Failed cells",
        "How each number",
    ):
        assert section in html


def test_cli_report_and_bad_dir(run_dir: Path, tmp_path: Path, capsys) -> None:
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    assert main(["report", str(copy)]) == 0
    assert "report.html" in capsys.readouterr().out
    html = (store.report_dir(copy) / store.REPORT_FILE).read_text()
    assert 'class="verdicts"' in html and "No contrast" not in html
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a run directory (no protocol.json)" in err


def _to_fds_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the CDP pipe ends on fds 3 (commands in) and 4 (replies out)."""
    high_r, high_w = os.dup2(read_end, 100), os.dup2(write_end, 101)
    os.dup2(high_r, 3)
    os.dup2(high_w, 4)


PAGE_PROBE = """(() => {
  const box = e => e ? e.getBoundingClientRect().toJSON() : null;
  return {
    viewport: window.innerWidth,
    scrollWidth: document.scrollingElement.scrollWidth,
    images: Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]),
    verdicts: box(document.querySelector("table.verdicts")),
    verdictRows: document.querySelectorAll("table.verdicts tr").length - 1,
    firstCurve: box(document.querySelector("img[alt^=curve_]")),
  };
})()"""


def _cdp_probe(html: Path, width: int = 1400, height: int = 900) -> tuple[dict, list]:
    """Open the page in headless Chromium at width x height over a CDP pipe; (probe, errors)."""
    r3, w3 = os.pipe()  # our writes -> chromium fd 3
    r4, w4 = os.pipe()  # chromium fd 4 -> our reads
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
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
        send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        send("Page.navigate", {"url": html.as_uri()}, session=session)
        for _ in range(200):
            state = send(
                "Runtime.evaluate",
                {"expression": "document.readyState", "returnByValue": True},
                session=session,
            )
            if state["result"]["value"] == "complete":
                break
        reply = send(
            "Runtime.evaluate", {"expression": PAGE_PROBE, "returnByValue": True}, session=session
        )
        assert "exceptionDetails" not in reply, reply["exceptionDetails"]
        probe = reply["result"]["value"]
    finally:
        os.write(w3, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        try:
            proc.wait(timeout=30)
        finally:
            proc.kill()
            os.close(w3)
            os.close(r4)
    errors = [
        e
        for e in events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    return probe, errors


def _figures(html: Path) -> dict[str, Image.Image]:
    """Every <img> of the page by its alt text, decoded from its data URI."""
    found = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', html.read_text())
    return {alt: Image.open(io.BytesIO(base64.b64decode(data))) for data, alt in found}


def _hex_pixels(image: Image.Image) -> dict[str, int]:
    """Pixel count of every exact colour of an image, keyed #rrggbb."""
    colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return {"#{:02x}{:02x}{:02x}".format(*rgb): n for n, rgb in colours}


@pytest.mark.browser
def test_report_opens_in_headless_chromium(run_dir: Path) -> None:
    """At 1400 x 900: no horizontal overflow, images decode, verdicts and a curve on screen one."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing but CI=true")
        pytest.skip(f"{CHROMIUM} not installed")
    probe, errors = _cdp_probe(store.report_dir(run_dir) / store.REPORT_FILE)
    pngs = len(list((store.report_dir(run_dir)).glob("*.png")))
    assert len(probe["images"]) == pngs
    assert all(complete and width > 0 for _, complete, width in probe["images"]), probe["images"]
    assert errors == []
    assert probe["viewport"] == 1400
    assert probe["scrollWidth"] <= probe["viewport"], "the page is wider than the window"
    verdicts = probe["verdicts"]
    assert verdicts is not None and probe["verdictRows"] >= 2, "no verdict table"
    assert verdicts["bottom"] <= 900, f"the verdict table ends at {verdicts['bottom']} px"
    curve = probe["firstCurve"]
    assert curve is not None and curve["bottom"] <= 900, f"the first curve ends at {curve}"


def test_every_model_has_one_colour_in_every_figure(run_dir: Path) -> None:
    """Model figures record their palette; all agree with summary.json and draw those colours."""
    palette = json.loads((run_dir / store.SUMMARY_FILE).read_text())["palette"]
    assert set(palette) == {"tacfn", "concat", "cross_attention", "audio_only", "video_only"}
    assert len({s["color"] for s in palette.values()}) == len(palette)
    figures = _figures(store.report_dir(run_dir) / store.REPORT_FILE)
    with_models = {
        alt: image
        for alt, image in figures.items()
        if alt.startswith(("curve_", "cd_", "class_", "training"))
    }
    assert {"cd_diagram", "training_curves", "class_scores_worst_clean"} <= set(with_models)
    for alt, image in with_models.items():
        used = json.loads(image.text[METADATA_KEY])
        assert used and all(palette[m] == style for m, style in used.items()), alt
        pixels = _hex_pixels(image)
        for model, style in used.items():
            assert pixels.get(style["color"], 0) >= 10, f"{alt}: {model} not drawn in {style}"
