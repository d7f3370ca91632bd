"""The run's answers in a few lines of text (the end of `tacfn-robust run`), from summary.json.

One line per contrast over each whole curve (the decisive answer; the clean condition when a
protocol has no curve), decided verdicts first: the difference with its interval and the
verdict, with the MDD when inconclusive and the margin when equivalent.
"""

from __future__ import annotations

from typing import Any

from tacfn_robust.reports.rendering.formats import fmt, fmt_signed


def answer_line(row: dict[str, Any]) -> str:
    """e.g. "tacfn − concat | clean, whole curve of missing[audio].p: +0.023 [-0.025, +0.070]
    nAUC accuracy: inconclusive (MDD 0.065)"."""
    where = "clean" if row["scope"] == "clean" else f"whole curve of {row['sweep']}"
    measure = row["metric"] if row["scope"] == "clean" else f"nAUC {row['metric']}"
    interval = f"[{fmt_signed(row['ci_low'])}, {fmt_signed(row['ci_high'])}]"
    text = f"{row['contrast']}, {where}: {fmt_signed(row['diff'])} {interval} {measure}: "
    text += row["verdict"]
    if row["verdict"] == "inconclusive":
        text += f" (MDD {fmt(row['mdd'])})"
    elif row["verdict"] == "equivalent":
        text += f" (within ±{fmt(row['margin'])})"
    return text


def headline(summary: dict[str, Any], limit: int = 4) -> list[str]:
    """At most `limit` answer lines, and how many more the report holds."""
    rows = summary.get("contrasts") or []
    answers = [r for r in rows if r["scope"] == "curve"] or [
        r for r in rows if r["scope"] == "clean"
    ]
    answers = sorted(answers, key=lambda r: r["verdict"] == "inconclusive")  # stable
    lines = [answer_line(r) for r in answers[:limit]]
    if len(answers) > limit:
        lines.append(f"... {len(answers) - limit} more answers in the report")
    return lines
