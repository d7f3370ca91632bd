"""The comparison page of two runs: comparison.png (B − A per level with its interval) and
comparison.html (what differs, the whole-curve and clean answers, every level)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from matplotlib.figure import Figure

from tacfn.core.io import write_bytes, write_text
from tacfn_robust.reports.rendering.formats import fmt, fmt_p, fmt_signed

PAGE = "comparison.html"
FIGURE = "comparison.png"

TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>B − A: {{ c.b }} vs {{ c.a }}</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}
.better{background:#d8f0d8}.worse{background:#f6d6d6}.equivalent{background:#dde6f6}
img{max-width:100%}</style></head><body>
<h1>B − A, {{ c.metric }}</h1>
<p>A: <code>{{ c.a }}</code><br>B: <code>{{ c.b }}</code><br>
{{ c.differences.cells_compared }} cells matched by model, regime, seed and fold; paired
differences B − A with {{ "%.0f" % (100 * c.ci_level) }} % intervals, Holm within each
family (alpha {{ c.alpha }}), equivalence within ±{{ c.margin }} (TOST), MDD at 80 % power.</p>
<h2>What differs</h2>
{% if differences %}<ul>{% for line in differences %}<li>{{ line }}</li>{% endfor %}</ul>
{% else %}<p>Nothing: same protocol, same cells and conditions.</p>{% endif %}
{% macro table(rows) %}<table><tr><th>model</th><th>regime</th><th>where</th><th>B − A</th>
<th>interval</th><th>p (Holm)</th><th>verdict</th><th>MDD</th><th>n</th></tr>
{% for verdict, cells in rows %}<tr class="{{ verdict }}">{% for v in cells %}<td>{{ v }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endmacro %}
<h2>Answers</h2>
{{ table(answers) }}
<img src="{{ figure }}" alt="B − A per level with its interval">
<h2>By level</h2>
{{ table(levels) }}
</body></html>
"""
)


def table_rows(rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(verdict, cells) of contrast rows: model, regime, where, diff, CI, p (Holm), verdict,
    MDD, n."""
    out = []
    for r in rows:
        where = {"clean": "clean", "curve": f"whole curve of {r['sweep']} (nAUC)"}.get(
            r["scope"], r["condition"]
        )
        interval = f"[{fmt_signed(r['ci_low'])}, {fmt_signed(r['ci_high'])}]"
        cells = [r["model"], r["within"], where, fmt_signed(r["diff"]), interval]
        cells += [fmt_p(r["p_holm"]), r["verdict"], fmt(r["mdd"]), str(r["n"])]
        out.append((r["verdict"], cells))
    return out


def difference_lines(c: dict[str, Any]) -> list[str]:
    """What differs between the runs, one line each."""
    d = c["differences"]
    lines = [f"protocol {p['field']}: {p['a']!r} → {p['b']!r}" for p in d["protocol"]]
    for key, label in (
        ("cells_only_in_a", "cells only in A"),
        ("cells_only_in_b", "cells only in B"),
        ("conditions_only_in_a", "conditions only in A"),
        ("conditions_only_in_b", "conditions only in B"),
    ):
        if d[key]:
            lines.append(f"{label} ({len(d[key])}): {', '.join(d[key])}")
    return lines


def difference_figure(c: dict[str, Any], path: Path) -> Path:
    """B − A against the level of each sweep, one panel per sweep, a line per model and
    regime with its interval as error bars; the clean difference at the sweep's left."""
    rows = pd.DataFrame(c["contrasts"])
    levels = rows[rows["scope"] == "level"] if not rows.empty else rows
    sweeps = sorted(levels["sweep"].unique()) if not levels.empty else []
    fig = Figure(figsize=(6.0 * max(1, len(sweeps)), 3.6))
    for i, sweep in enumerate(sweeps or [None]):
        ax = fig.add_subplot(1, max(1, len(sweeps)), i + 1)
        ax.axhline(0.0, color="black", linewidth=1)
        for (model, regime), g in levels[levels["sweep"] == sweep].groupby(["model", "within"]):
            g = g.sort_values("x")
            yerr = [g["diff"] - g["ci_low"], g["ci_high"] - g["diff"]]
            ax.errorbar(g["x"], g["diff"], yerr=yerr, marker="o", capsize=3, label=f"{model}")
            ax.set_title(f"{sweep} ({regime})" if regime else str(sweep), fontsize=10)
        ax.set_xlabel("level")
        ax.set_ylabel(f"B − A, {c['metric']}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return Path(write_bytes(path, buffer.getvalue()))


def write_page(c: dict[str, Any], directory: Path) -> Path:
    """comparison.png and comparison.html in `directory`; the page's path."""
    difference_figure(c, directory / FIGURE)
    rows = c["contrasts"]
    answers = [r for r in rows if r["scope"] in ("clean", "curve")]
    levels = [r for r in rows if r["scope"] == "level"]
    html = TEMPLATE.render(
        c=c,
        differences=difference_lines(c),
        answers=table_rows(answers),
        levels=table_rows(levels),
        figure=FIGURE,
    )
    return Path(write_text(directory / PAGE, html))
