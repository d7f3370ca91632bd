"""README claims: its reading is the claims file's, and a rerun still supports every verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols import load_protocol, run_protocol
from protocols.loading import protocol_hash
from reports.rendering.claims import changed_claims, claims_from_summary, reading
from tacfn.core import store

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "docs" / "missing_audio_claims.json"
START, END = "<!-- claims:missing_audio -->\n", "<!-- /claims -->"


def _verdict(other: str, x: float | None, verdict: str, diff: float) -> dict:
    condition = "clean" if x is None else f"missing[audio].p={x:g}"
    return {
        "focus": "tacfn",
        "other": other,
        "regime": "clean",
        "sweep": "missing[audio].p",
        "condition": condition,
        "x": x,
        "metric": "accuracy",
        "n": 12,
        "diff": diff,
        "ci_low": diff - 0.02,
        "ci_high": diff + 0.02,
        "p_holm": 0.001 if verdict != "no detectable difference" else 0.6,
        "verdict": verdict,
        "mdd": 0.04,
        "min_p": 0.0,
    }


def _summary(verdicts: list[dict]) -> dict:
    return {
        "protocol": {"name": "p", "hash": "h"},
        "focus": "tacfn",
        "metric": "accuracy",
        "alpha": 0.05,
        "verdicts": verdicts,
        "comparisons": [{"p_method": "paired t test over 3 fold means (df 2; covers new actors)"}],
    }


def test_reading_groups_verdicts_and_names_the_evidence() -> None:
    claims = claims_from_summary(
        _summary(
            [
                _verdict("concat", None, "no detectable difference", 0.004),
                _verdict("concat", 1.0, "worse", -0.08),
                _verdict("cross_attention", None, "no detectable difference", -0.0),
            ]
        )
    )
    text = reading(claims)
    assert "- clean training, tacfn vs concat: worse at p = 1: -0.080 [-0.100, -0.060]" in text
    assert "no detectable difference at clean (MDD 0.040–0.040)" in text
    assert "tacfn vs cross_attention: no detectable difference at every level" in text
    assert "n = 12 paired runs" in text and "over 3 fold means (df 2; covers new actors)" in text


def test_a_flipped_or_missing_verdict_is_reported() -> None:
    stated = claims_from_summary(_summary([_verdict("concat", 1.0, "worse", -0.08)]))
    assert changed_claims(stated, _summary([_verdict("concat", 1.0, "worse", -0.07)])) == []
    flipped = _summary([_verdict("concat", 1.0, "no detectable difference", -0.01)])
    assert changed_claims(stated, flipped) == [
        "concat / clean / missing[audio].p / missing[audio].p=1: stated 'worse', "
        "now 'no detectable difference'"
    ]
    assert "now None" in changed_claims(stated, _summary([]))[0]


def test_readme_states_exactly_the_claims_file() -> None:
    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme
    block = readme.split(START, 1)[1].split(END, 1)[0]
    assert block == reading(json.loads(CLAIMS.read_text()))


def test_claims_are_of_the_shipped_default_protocol() -> None:
    claims = json.loads(CLAIMS.read_text())
    assert claims["hash"] == protocol_hash(load_protocol("missing_audio"))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 4 min quiet; far longer on a loaded machine
def test_a_rerun_of_the_default_protocol_supports_every_stated_verdict(tmp_path: Path) -> None:
    run_protocol(load_protocol("missing_audio"), out=tmp_path / "missing_audio")
    summary = json.loads((tmp_path / "missing_audio" / store.SUMMARY_FILE).read_text())
    assert changed_claims(json.loads(CLAIMS.read_text()), summary) == []
