"""README claims from a run's verdicts, and the check that a rerun still supports them.

`python -m reports.rendering.claims RUN_DIR CLAIMS_JSON` writes every verdict of the focus
model (from the run's summary.json) into the claims file and prints their reading in Markdown.
The README's reading of the default protocol is that text between `<!-- claims:NAME -->`
markers; a test keeps the two equal, and a slow test reruns the protocol and compares every
stated verdict.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from reports.rendering.formats import fmt, fmt_p, fmt_signed
from tacfn.core.errors import DataError
from tacfn.core.store import CLEAN, SUMMARY_FILE, Summary, read_record, write_json

CLAIM_KEYS = ("other", "regime", "sweep", "condition", "x", "verdict")
EVIDENCE_KEYS = ("n", "diff", "ci_low", "ci_high", "p_holm", "mdd")


def claims_from_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The claims file content: protocol identity, test settings and every focus verdict."""
    verdicts = summary.get("verdicts") or []
    if not verdicts:
        raise DataError(f"{SUMMARY_FILE} has no verdicts; expected a run with paired comparisons")
    return {
        "protocol": summary["protocol"]["name"],
        "hash": summary["protocol"]["hash"],
        "focus": summary["focus"],
        "metric": summary["metric"],
        "alpha": summary["alpha"],
        "method": "; ".join(sorted({c["p_method"] for c in summary.get("comparisons") or []})),
        "claims": [{k: v[k] for k in (*CLAIM_KEYS, *EVIDENCE_KEYS)} for v in verdicts],
    }


def _level(claim: dict[str, Any]) -> str:
    if claim["x"] is None:
        return CLEAN
    return f"{claim['sweep'].rsplit('.', 1)[-1]} = {claim['x']:g}"


def _evidence(claim: dict[str, Any]) -> str:
    return (
        f"{_level(claim)}: {fmt_signed(claim['diff'])} "
        f"[{fmt(claim['ci_low'])}, {fmt(claim['ci_high'])}], Holm p {fmt_p(claim['p_holm'])}"
    )


def reading(claims: dict[str, Any]) -> str:
    """Markdown bullets: per regime and other model, where the focus is better, worse or neither."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for claim in claims["claims"]:
        groups[(claim["regime"], claim["other"])].append(claim)
    n = sorted({c["n"] for c in claims["claims"]})
    lines = [
        f"Verdicts of `{claims['focus']}` against each fusion model ({claims['metric']}; "
        f"n = {', '.join(map(str, n))} paired runs (same seed and fold) per comparison, "
        f"{claims['method']}, Holm across the levels of the sweep, α = {claims['alpha']:g}; "
        f"difference {claims['focus']} − other with its 95 % t-interval; MDD: the minimum "
        "detectable difference at 80 % power):",
        "",
    ]
    for (regime, other), group in groups.items():
        by_verdict: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for claim in group:
            by_verdict[claim["verdict"]].append(claim)
        parts = [
            f"{verdict} at {'; '.join(_evidence(c) for c in by_verdict[verdict])}"
            for verdict in ("better", "worse")
            if by_verdict[verdict]
        ]
        none = by_verdict["no detectable difference"]
        if none:
            mdds = [c["mdd"] for c in none if c["mdd"] is not None]
            where = "every level" if len(none) == len(group) else ", ".join(map(_level, none))
            span = f"MDD {fmt(min(mdds))}–{fmt(max(mdds))}" if mdds else "MDD not computed"
            parts.append(f"no detectable difference at {where} ({span})")
        lines.append(f"- {regime} training, {claims['focus']} vs {other}: {'; '.join(parts)}.")
    return "\n".join(lines) + "\n"


def changed_claims(claims: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """Stated verdicts that the run's summary.json no longer supports (one line each)."""
    found = {
        tuple(v[k] for k in CLAIM_KEYS[:4]): v["verdict"] for v in summary.get("verdicts") or []
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
        print("usage: python -m reports.rendering.claims RUN_DIR CLAIMS_JSON", file=sys.stderr)
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
