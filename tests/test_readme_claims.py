"""README claims: its reading is the claims file's, and a rerun still supports every verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tacfn.core import store
from tacfn_robust.protocols import load_protocol, run_protocol
from tacfn_robust.protocols.loading import protocol_hash
from tacfn_robust.reports.rendering.claims import changed_claims, claims_from_summary, reading

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "docs" / "missing_audio_claims.json"
START, END = "<!-- claims:missing_audio -->\n", "<!-- /claims -->"


def _contrast(
    name: str, scope: str, x: float | None, verdict: str, diff: float, question: str = "q"
) -> dict:
    condition = {"clean": "clean", "curve": "nauc"}.get(scope) or f"missing[audio].p={x:g}"
    return {
        "contrast": name,
        "kind": "regime",
        "question": question,
        "scope": scope,
        "sweep": "clean" if scope == "clean" else "missing[audio].p",
        "condition": condition,
        "x": x,
        "n": 6,
        "units": 6,
        "diff": diff,
        "sd": 0.02,
        "ci_low": diff - 0.02,
        "ci_high": diff + 0.02,
        "ci_method": "t-interval over 6 fold means (df 5; covers new actors)",
        "p_holm": 0.001 if verdict in ("better", "worse") else 0.6,
        "margin": 0.03,
        "mdd": 0.04,
        "family_size": 2,
        "verdict": verdict,
    }


def _summary(contrasts: list[dict]) -> dict:
    return {
        "protocol": {"name": "p", "hash": "h", "description": "Does training help?"},
        "metric": "accuracy",
        "alpha": 0.05,
        "margin": 0.03,
        "contrasts": contrasts,
    }


def test_reading_answers_each_question_and_names_the_evidence() -> None:
    claims = claims_from_summary(
        _summary(
            [
                _contrast("d − c | m", "curve", None, "better", 0.1, "d − c training"),
                _contrast("d − c | m", "clean", None, "inconclusive", 0.004, "d − c training"),
                _contrast("d − c | m", "level", 1.0, "better", 0.2, "d − c training"),
                _contrast("m − n | c", "curve", None, "inconclusive", 0.01, "m against n"),
            ]
        )
    )
    text = reading(claims)
    assert text.startswith("The protocol asks: Does training help?")
    assert (
        "- **d − c training**:\n  - d − c | m: whole curve better by +0.100 [0.080, 0.120]" in text
    )
    assert "p = 1 better by +0.200 [0.180, 0.220]" in text
    assert "inconclusive at the other levels (MDD 0.040–0.040)" in text
    assert "n = 6 paired runs" in text and "over 6 fold means (df 5; covers new actors)" in text
    # the question without a decisive answer says what design would give one
    assert "No decisive whole-curve verdict, and the design that would give one:" in text
    assert "- **m against n**: m − n | c: inconclusive: +0.010" in text
    assert "would take about 7 fold means (this design has 6)" in text


def test_a_flipped_or_missing_verdict_is_reported() -> None:
    stated = claims_from_summary(_summary([_contrast("a", "curve", None, "worse", -0.08)]))
    assert changed_claims(stated, _summary([_contrast("a", "curve", None, "worse", -0.07)])) == []
    flipped = _summary([_contrast("a", "curve", None, "inconclusive", -0.01)])
    assert changed_claims(stated, flipped) == [
        "a / curve / missing[audio].p / nauc: stated 'worse', now 'inconclusive'"
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
    stated = json.loads(CLAIMS.read_text())
    assert changed_claims(stated, summary) == []
    # every number of the README's reading, not only the verdicts
    assert reading(claims_from_summary(summary)) == reading(stated)
