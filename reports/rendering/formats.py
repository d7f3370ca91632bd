"""Number formatting shared by the HTML text and the figures: one rule for p-values and zeros."""

from __future__ import annotations

import math

P_FLOOR = 0.001


def fmt(value: object, digits: int = 3) -> str:
    """A number for a table cell or annotation; an em dash for missing values, never "-0.000"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        text = f"{value:.{digits}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    return str(value)


def fmt_p(p: object) -> str:
    """A p-value: "< 0.001" below the floor, else three decimals; an em dash when missing."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return f"< {P_FLOOR:g}" if float(p) < P_FLOOR else fmt(float(p))


def fmt_signed(value: object, digits: int = 3) -> str:
    """A difference with its sign ("+0.052", "-0.010", "0.000")."""
    text = fmt(value, digits)
    return text if text.startswith(("-", "—")) or float(text) == 0 else "+" + text


def p_equals(p: object) -> str:
    """A p-value after its name: "p < 0.001" or "p = 0.012"."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def verdict_text(row: dict) -> str:
    """A contrast row's verdict with its evidence: "better by +0.204 [0.103, 0.305]",
    "equivalent within ±0.030: +0.004 [-0.010, 0.018]", "inconclusive: +0.01 [...], MDD 0.08"."""
    ci = f"{fmt_signed(row['diff'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    if row["verdict"] in ("better", "worse"):
        return f"{row['verdict']} by {ci}"
    if row["verdict"] == "equivalent":
        return f"equivalent within ±{fmt(row['margin'])}: {ci}"
    return f"inconclusive: {ci}, MDD {fmt(row['mdd'])}"
