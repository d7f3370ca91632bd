"""Rendering of a check result: a rich table for the terminal and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from tacfn.core.io import write_bytes
from tacfn.core.store import check_output
from tacfn_robust.reports.gate.regression import CheckResult
from tacfn_robust.reports.scoring.metrics import metric_label


def _num(v: float | None, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render_table(result: CheckResult) -> Table:
    """A rich table of every checked row: baseline, new, diff, margin, Holm p, verdict."""
    table = Table(
        title=f"tacfn-robust check of {metric_label(result.metric)} "
        f"(abs_tol {result.abs_tol}, alpha {result.alpha})"
    )
    for column in ("kind", "what", "baseline", "new", "diff", "margin", "Holm p", "verdict"):
        table.add_column(column, justify="left" if column in ("kind", "what") else "right")
    for r in result.rows:
        verdict = "[green]pass[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        table.add_row(
            r.kind,
            escape(r.name),
            _num(r.baseline),
            _num(r.new),
            _num(r.diff),
            _num(r.margin),
            _num(r.p_holm, 3),
            verdict,
        )
    return table


def write_junit(result: CheckResult, path: str | Path) -> Path:
    """JUnit XML: one testcase per point, nAUC and invariant; a failure element when it fails.
    Never written over a run's own files (tacfn.core.store.check_output)."""
    path = check_output(path)
    suite = ET.Element(
        "testsuite",
        name=f"tacfn-robust check of {metric_label(result.metric)}",
        tests=str(len(result.rows)),
        failures=str(len(result.failures)),
        errors="0",
    )
    for r in result.rows:
        case = ET.SubElement(suite, "testcase", classname=f"tacfn_robust.{r.kind}", name=r.name)
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=r.message, type="regression")
            failure.text = (
                f"baseline {_num(r.baseline)}, new {_num(r.new)}, margin "
                f"{_num(r.margin)}, Holm p {_num(r.p_holm, 3)}: {r.message}"
            )
    if result.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(result.notes)
    root = ET.Element("testsuites")
    root.append(suite)
    return write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))
