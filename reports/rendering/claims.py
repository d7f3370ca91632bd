"""README claims from a run's contrasts, and the check that a rerun still supports them.

`python -m tacfn_robust.reports.rendering.claims RUN_DIR CLAIMS_JSON` writes every contrast of the
run (from its summary.json) into the claims file and prints their reading in Markdown: the answer to
each question the protocol asks (the whole-curve verdicts), the levels with a decisive verdict, and,
for a question with no decisive answer, the design that would give one. The README's reading of the
default protocol is that text between `<!-- claims:NAME -->` markers; a test keeps the two equal,
and a slow test reruns the protocol and compares every stated verdict.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tacfn.core.errors import DataError
from tacfn.core.store import SUMMARY_FILE, Summary, read_record, write_json
from tacfn_robust.reports.rendering.formats import fmt, verdict_text
from tacfn_robust.reports.scoring.metrics import metric_label
from tacfn_robust.reports.statistics.inference import units_needed

CLAIM_KEYS = ("contrast", "scope", "sweep", "condition", "verdict")
EVIDENCE_KEYS = (
    "question", "kind", "x", "n", "units", "diff", "sd", "ci_low", "ci_high", "p_holm",
    "margin", "mdd", "family_size",
)  # fmt: skip
DECISIVE = ("better", "worse", "equivalent")


def claims_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The claims file content: protocol identity and question, test settings, every contrast."""
    contrasts = summary.get("contrasts") or []
    if not contrasts:
        raise DataError(
            f"{SUMMARY_FILE} has no contrasts; expected a run with two models or regimes"
        )
    return {
        "protocol": summary["protocol"]["name"],
        "description": summary["protocol"]["description"],
        "hash": summary["protocol"]["hash"],
        "metric": summary["metric"],
        "alpha": summary["alpha"],
        "margin": summary["margin"],
        "method": "; ".join(sorted({c["ci_method"] for c in contrasts})),
        "claims": [{k: c[k] for k in (*CLAIM_KEYS, *EVIDENCE_KEYS)} for c in contrasts],
        "below_floor": summary.get("below_floor") or [],
    }


def _where(claim: dict[str, Any]) -> str:
    if claim["scope"] == "clean":
        return "clean"
    return f"{claim['sweep'].rsplit('.', 1)[-1]} = {claim['x']:g}"


def _levels(claims: list[dict[str, Any]]) -> str:
    """The decisive levels of one contrast, and the MDD span of the rest."""
    decisive = [c for c in claims if c["verdict"] in DECISIVE]
    rest = [c["mdd"] for c in claims if c["verdict"] not in DECISIVE and c["mdd"] is not None]
    parts = [f"{_where(c)} {verdict_text(c)}" for c in decisive]
    if rest:
        where = "every level" if not decisive else "the other levels"
        parts.append(f"inconclusive at {where} (MDD {fmt(min(rest))}–{fmt(max(rest))})")
    return "; ".join(parts)


def _design(claim: dict[str, Any], alpha: float, unit: str) -> str:
    """What design would turn one inconclusive whole-curve contrast into a verdict."""
    target = max(abs(claim["diff"]), claim["margin"])
    needed = units_needed(claim["sd"], alpha / claim["family_size"], target)
    more = (
        f"about {needed:.0f} {unit} (this design has {claim['units']})"
        if needed == needed
        else "more units than the power search allows"
    )
    return (
        f"{claim['contrast']}: {verdict_text(claim)} over {claim['units']} {unit}; detecting "
        f"a difference of {fmt(target)} at 80 % power would take {more}"
    )


def reading(claims: dict[str, Any]) -> str:
    """Markdown: per question, its whole-curve verdicts and decisive levels; where a fusion
    model ends below the unimodal floor; for an undecided question, the design it needs."""
    by_question: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for claim in claims["claims"]:
        by_question[claim["question"]][claim["contrast"]].append(claim)
    n = sorted({c["n"] for c in claims["claims"]})
    lines = [
        f"The protocol asks: {claims['description']} Answers of this run "
        f"({metric_label(claims['metric'])}; "
        f"n = {', '.join(map(str, n))} paired runs (same seed and fold) per contrast, "
        f"{claims['method']}; α = {claims['alpha']:g}; difference with its 95 % t-interval; "
        f"equivalence within ±{fmt(claims['margin'])} by TOST; MDD: the minimum detectable "
        "difference at 80 % power). The whole curve (normalised AUC over the sweep) is one "
        "test per contrast, Holm across the question's contrasts; levels are Holm across the "
        "sweep's levels, the clean condition standing for p = 0.",
        "",
    ]
    unit = "fold means" if "fold means" in claims["method"] else "runs"
    undecided = []
    for question, contrasts in by_question.items():
        lines.append(f"- **{question}**:")
        for name, rows in contrasts.items():
            curves = [r for r in rows if r["scope"] == "curve"]
            levels = [r for r in rows if r["scope"] != "curve"]
            whole = "; ".join(f"whole curve {verdict_text(c)}" for c in curves)
            lines.append(f"  - {name}: {'; '.join(p for p in (whole, _levels(levels)) if p)}.")
        curves = [r for rows in contrasts.values() for r in rows if r["scope"] == "curve"]
        if curves and not any(c["verdict"] in DECISIVE for c in curves):
            closest = min(curves, key=lambda c: c["mdd"] - abs(c["diff"]))
            undecided.append(f"- **{question}**: {_design(closest, claims['alpha'], unit)}.")
    floors = [
        f"{f['model']} ({f['regime']} training) from {f['sweep'].rsplit('.', 1)[-1]} = "
        f"{f['x']:g}: {fmt(f['mean'])} [{fmt(f['ci_low'])}, {fmt(f['ci_high'])}] against "
        f"{fmt(f['floor'])}{'' if f['below'] else ' (the interval reaches it)'}"
        for f in claims["below_floor"]
    ]
    if floors:
        lines += ["", f"Below the unimodal floor (mean, 95 % CI): {'; '.join(floors)}."]
    if undecided:
        lead = "No decisive whole-curve verdict, and the design that would give one:"
        lines += ["", lead, "", *undecided]
    return "\n".join(lines) + "\n"


def changed_claims(claims: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """Stated verdicts that the run's summary.json no longer supports (one line each)."""
    found = {
        tuple(c[k] for k in CLAIM_KEYS[:4]): c["verdict"] for c in summary.get("contrasts") or []
    }
    problems = []
    for claim in claims["claims"]:
        key = tuple(claim[k] for k in CLAIM_KEYS[:4])
        now = found.get(key)
        if now != claim["verdict"]:
            problems.append(
                f"{' / '.join(map(str, key))}: stated {claim['verdict']!r}, now {now!r}"
            )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m tacfn_robust.reports.rendering.claims RUN_DIR CLAIMS_JSON",
            file=sys.stderr,
        )
        return 2
    run_dir, out = Path(argv[0]), Path(argv[1])
    remedy = f"build it with 'tacfn-robust report {run_dir}'"
    summary = read_record(run_dir / SUMMARY_FILE, Summary, remedy)
    claims = claims_from_summary(summary.model_dump(mode="json", by_alias=True))
    write_json(out, claims)
    print(reading(claims), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
