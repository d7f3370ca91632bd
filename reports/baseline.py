"""Baselines of robustness curves and the CI regression check (ROBUSTNESS.md §6).

A point (model x regime x condition, mean accuracy over runs) fails when

    new mean < baseline mean - max(abs_tol, t * SE)

SE = sqrt(V (1/n_b + 1/n_n)), V the run-to-run variance pooled over the points of the curve
(model x regime x sweep) and both sides; t is the one-sided Student quantile, for the
Holm-adjusted level, at V's Satterthwaite df (from a runs x points split of the sums of
squares, so points that move together with their seed do not count as independent; see
pooled_variance). One run a side: binomial SE over its N test samples. Holm runs over the
points of each curve, and alpha is split evenly (Bonferroni) over the curves and the nAUC
family so that a whole check's false-alarm rate stays at or below alpha. Each curve's nAUC
is checked with Welch's SE from its run-to-run std. Invariants: the identity condition
equals clean; full missingness (p = 1) is not below chance beyond its CI. A protocol hash
that differs from the baseline's is bad input.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table
from scipy import stats

from reports.analysis import Analysis, analyse
from reports.store import load_run
from tacfn.errors import ConfigError, DataError

SCHEMA = "tacfn-robust/baseline"
VERSION = 1
DEFAULT_ABS_TOL = 0.01
DEFAULT_ALPHA = 0.05
IDENTITY_TOL = 1e-9


def baseline_dict(analysis: Analysis) -> dict:
    """Per model x regime x condition and per curve nAUC: mean, run-to-run std, n."""
    record = analysis.run.record
    m = analysis.means[analysis.means["metric"] == "accuracy"]
    points = [
        {
            "model": r.model,
            "regime": r.regime,
            "sweep": r.sweep,
            "condition": r.condition,
            "value": None if pd.isna(r.value) else float(r.value),
            "mean": float(r.mean),
            "std": None if pd.isna(r.std) else float(r.std),
            "n": int(r.n),
            "n_samples": int(r.n_samples),
        }
        for r in m.itertuples()
    ]
    s = analysis.summary_means
    nauc = s[s["measure"] == "nauc"]
    curves = [
        {
            "model": r.model,
            "regime": r.regime,
            "sweep": r.sweep,
            "mean": float(r.mean),
            "std": None if pd.isna(r.std) else float(r.std),
            "n": int(r.n),
        }
        for r in nauc.itertuples()
    ]
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "metric": "accuracy",
        "families": curve_families(analysis.table),
        "protocol_name": record.get("name"),
        "protocol_hash": record.get("hash"),
        "protocol": record.get("protocol", {}),
        "versions": record.get("versions", {}),
        "git_commit": record.get("git_commit"),
        "points": points,
        "curves": curves,
    }


def curve_families(table: pd.DataFrame) -> list[dict]:
    """Per model x regime x sweep: runs, and the std over runs of each run's mean accuracy
    over the sweep's conditions (the run part of the pooled variance)."""
    acc = table[table["metric"] == "accuracy"]
    keys = ["model", "regime", "sweep"]
    run_means = acc.groupby([*keys, "seed", "fold"], dropna=False)["score"].mean()
    out = []
    for key, runs in run_means.groupby(level=keys, sort=True):
        std = float(runs.std(ddof=1)) if len(runs) > 1 else None
        out.append({**dict(zip(keys, key, strict=True)), "n": len(runs), "run_mean_std": std})
    return out


def save_baseline(run_dir: str | Path, file: str | Path) -> Path:
    """Write the baseline JSON of a run directory's curves to `file`."""
    analysis = analyse(load_run(run_dir), with_tests=False)
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline_dict(analysis), indent=1))
    return path


def load_baseline(file: str | Path) -> dict:
    path = Path(file)
    if not path.is_file():
        raise DataError(
            f"{path}: baseline file not found; create it with 'tacfn-robust baseline save'"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DataError(f"{path}: not a tacfn-robust baseline (expected schema {SCHEMA!r})")
    return data


def _flatten(d: object, prefix: str = "") -> dict[str, object]:
    if isinstance(d, dict):
        out: dict[str, object] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def protocol_diff(old: dict, new: dict) -> list[str]:
    """Dotted protocol fields that differ, as 'field: old -> new'."""
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


@dataclass(frozen=True)
class CheckRow:
    """One checked point, curve summary or invariant, with its verdict."""

    kind: str  # "point" | "nauc" | "invariant"
    name: str
    baseline: float | None
    new: float | None
    margin: float | None
    p_holm: float | None
    passed: bool
    message: str

    @property
    def diff(self) -> float | None:
        if self.baseline is None or self.new is None:
            return None
        return self.new - self.baseline


@dataclass
class CheckResult:
    """Every row of a check, plus notes (e.g. library version changes)."""

    rows: list[CheckRow]
    notes: list[str] = field(default_factory=list)
    abs_tol: float = DEFAULT_ABS_TOL
    alpha: float = DEFAULT_ALPHA

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def _binomial_var(entry: dict) -> float:
    """Binomial variance p(1-p)/N of one run's accuracy over its N test samples."""
    samples = int(entry.get("n_samples") or 0)
    p = min(max(entry["mean"], 0.0), 1.0)
    return p * (1 - p) / samples if samples > 0 else 0.0


def pooled_variance(
    sides: list[tuple[list[dict], dict | None]],
) -> tuple[float, float] | None:
    """Run-to-run variance of a point pooled over the points of a curve and both sides, and df.

    `sides` holds each side's point entries of the curve and its family record (std over
    runs of each run's mean over the curve's points). Per side, the points' sums of squares
    split into a run part (a seed that trains worse is worse at every point; n-1 df) and a
    residual ((n-1)(P-1) df), as in a runs x points two-way layout; the pooled variance
    sum_j (n-1) s_j^2 / sum (n-1) P gets Satterthwaite's df from those mean squares. It lies
    between the runs' n-1 (points move together) and sum (n-1) P (points independent).
    Without a family record a side counts n-1 df. None when no side has two runs.
    """
    terms: list[tuple[float, float]] = []  # (sum of squares, df)
    denominator = 0.0
    for points, family in sides:
        n = int(points[0]["n"]) if points else 0
        stds = [p.get("std") for p in points]
        if n < 2 or any(s is None or not math.isfinite(s) for s in stds):
            continue
        size = len(points)
        total = (n - 1) * sum(s**2 for s in stds)
        denominator += (n - 1) * size
        run_std = (family or {}).get("run_mean_std")
        if size >= 2 and run_std is not None and int(family["n"]) == n:
            between = size * (n - 1) * run_std**2
            terms += [(between, n - 1), (max(total - between, 0.0), (n - 1) * (size - 1))]
        else:
            terms.append((total, n - 1))
    if denominator == 0:
        return None
    variance = sum(ss for ss, _ in terms) / denominator
    spread = sum((ss / denominator) ** 2 / df for ss, df in terms)
    return variance, (variance**2 / spread if spread > 0 else math.inf)


def _pooled_se(base: dict, new: dict, pooled: tuple[float, float] | None) -> tuple[float, float]:
    """SE of the difference of two point means from the pooled variance (binomial if none)."""
    if pooled is None:
        return math.sqrt(_binomial_var(base) + _binomial_var(new)), math.inf
    variance, df = pooled
    return math.sqrt(variance * (1 / int(base["n"]) + 1 / int(new["n"]))), df


def _var_of_mean(entry: dict) -> tuple[float, float]:
    """(variance of the mean, degrees of freedom) of a curve nAUC from its run-to-run std."""
    n, std = int(entry["n"]), entry.get("std")
    if n >= 2 and std is not None and math.isfinite(std):
        return std**2 / n, float(n - 1)
    return 0.0, math.inf


def _welch(base: dict, new: dict) -> tuple[float, float]:
    """SE of the difference of means and Welch-Satterthwaite df."""
    v1, d1 = _var_of_mean(base)
    v2, d2 = _var_of_mean(new)
    se = math.sqrt(v1 + v2)
    terms = sum(v**2 / d for v, d in ((v1, d1), (v2, d2)) if math.isfinite(d) and d > 0)
    df = (v1 + v2) ** 2 / terms if terms > 0 else math.inf
    return se, df


SE = Callable[[dict, dict], tuple[float, float]]


def _one_sided(base: dict, new: dict, se_of: SE) -> tuple[float, float, float]:
    """(p that the new mean is this far below the baseline by chance, SE, df)."""
    se, df = se_of(base, new)
    diff = new["mean"] - base["mean"]
    if se == 0:
        return (0.0 if diff < 0 else 1.0), se, df
    dist = stats.norm if math.isinf(df) else stats.t(df)
    return float(dist.cdf(diff / se)), se, df


def _family(
    pairs: list[tuple[str, dict, dict | None]],
    kind: str,
    level: float,
    abs_tol: float,
    se_of: SE,
) -> list[CheckRow]:
    """Holm over one family of (name, baseline entry, new entry) at `level`."""
    rows: list[CheckRow] = []
    tested = []
    for name, base, new in pairs:
        if new is None:
            rows.append(
                CheckRow(
                    kind, name, base["mean"], None, None, None, False, "missing from the new run"
                )
            )
        else:
            tested.append((name, base, new, *_one_sided(base, new, se_of)))
    m = len(tested)
    order = np.argsort([t[3] for t in tested], kind="stable")
    running = 0.0
    for rank, i in enumerate(order):
        name, base, new, p, se, df = tested[i]
        running = max(running, min(1.0, (m - rank) * p))
        step = level / (m - rank)
        crit = float(stats.norm.isf(step) if math.isinf(df) else stats.t.isf(step, df))
        margin = max(abs_tol, crit * se)
        diff = new["mean"] - base["mean"]
        failed = running < level and diff < -abs_tol
        message = (
            f"dropped {-diff:.4f} (> margin {margin:.4f}; Holm p {running:.3g} < {level:.3g})"
            if failed
            else f"diff {diff:+.4f}, margin {margin:.4f}, n {base['n']}/{new['n']}"
        )
        rows.append(
            CheckRow(kind, name, base["mean"], new["mean"], margin, running, not failed, message)
        )
    return rows


def compare(
    base: dict, new: dict, abs_tol: float = DEFAULT_ABS_TOL, alpha: float = DEFAULT_ALPHA
) -> list[CheckRow]:
    """One-sided regression test of every baseline point and curve nAUC against `new`."""
    new_points = {(p["model"], p["regime"], p["condition"]): p for p in new["points"]}
    curves: dict[tuple[str, str, str], list] = {}
    for p in base["points"]:
        key = (p["model"], p["regime"], p["condition"])
        name = f"{p['model']} / {p['regime']} / {p['condition']}"
        curves.setdefault((p["model"], p["regime"], p["sweep"]), []).append(
            (name, p, new_points.get(key))
        )
    new_curves = {(c["model"], c["regime"], c["sweep"]): c for c in new["curves"]}
    nauc = [
        (
            f"{c['model']} / {c['regime']} / {c['sweep']} nAUC",
            c,
            new_curves.get((c["model"], c["regime"], c["sweep"])),
        )
        for c in base["curves"]
    ]
    families = len(curves) + (1 if nauc else 0)
    level = alpha / max(families, 1)
    base_fam = {(f["model"], f["regime"], f["sweep"]): f for f in base.get("families", [])}
    new_fam = {(f["model"], f["regime"], f["sweep"]): f for f in new.get("families", [])}
    rows: list[CheckRow] = []
    for key in sorted(curves):
        family = curves[key]
        pooled = pooled_variance(
            [
                ([b for _, b, _ in family], base_fam.get(key)),
                ([n for _, _, n in family if n is not None], new_fam.get(key)),
            ]
        )
        rows.extend(_family(family, "point", level, abs_tol, partial(_pooled_se, pooled=pooled)))
    rows.extend(_family(nauc, "nauc", level, abs_tol, _welch))
    return rows


def invariants(analysis: Analysis) -> list[CheckRow]:
    """Identity condition equals clean; full missingness not below chance beyond its CI."""
    rows: list[CheckRow] = []
    pts = analysis.points
    table = analysis.table
    clean = table[(table["metric"] == "accuracy") & (table["condition"] == "clean")]
    clean = clean.set_index(["model", "regime", "seed", "fold"])["score"]
    identity = pts[pts["identity"] & (pts["source"] == "stored")]
    for (model, regime, sweep), g in identity.groupby(["model", "regime", "sweep"]):
        ref = clean.reindex(pd.MultiIndex.from_frame(g[["model", "regime", "seed", "fold"]]))
        gap = float(np.nanmax(np.abs(g["score"].to_numpy() - ref.to_numpy())))
        ok = gap <= IDENTITY_TOL
        rows.append(
            CheckRow(
                "invariant",
                f"{model} / {regime} / {sweep}: identity == clean",
                float(ref.mean()),
                float(g["score"].mean()),
                IDENTITY_TOL,
                None,
                ok,
                f"largest per-run gap {gap:.4g}",
            )
        )
    chance = 0.5 if analysis.run.multilabel else 1 / max(len(analysis.run.class_names()), 1)
    m = analysis.means
    full = m[
        (m["metric"] == "accuracy")
        & (m["corruption"] == "missing")
        & (m["param"] == "p")
        & np.isclose(m["value"].fillna(-1), 1.0)
    ]
    for r in full.itertuples():
        ok = not (r.ci_high < chance)
        rows.append(
            CheckRow(
                "invariant",
                f"{r.model} / {r.regime} / {r.condition}: not below chance",
                chance,
                float(r.mean),
                None,
                None,
                ok,
                f"mean {r.mean:.4f}, CI high {r.ci_high:.4f} vs chance {chance:.4f}"
                f" ({r.ci_method})",
            )
        )
    return rows


def check(
    run_dir: str | Path,
    baseline_file: str | Path,
    abs_tol: float = DEFAULT_ABS_TOL,
    alpha: float = DEFAULT_ALPHA,
) -> CheckResult:
    """Compare a run directory with a stored baseline (ROBUSTNESS.md §6)."""
    if abs_tol < 0:
        raise ConfigError(f"--abs-tol {abs_tol}: expected a non-negative accuracy difference")
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha {alpha}: expected a level between 0 and 1")
    base = load_baseline(baseline_file)
    analysis = analyse(load_run(run_dir), with_tests=False)
    new = baseline_dict(analysis)
    if base.get("protocol_hash") != new["protocol_hash"]:
        changes = protocol_diff(base.get("protocol", {}), new["protocol"])
        raise ConfigError(
            f"{baseline_file}: protocol changed since the baseline (hash "
            f"{base.get('protocol_hash')} -> {new['protocol_hash']}; "
            f"{'; '.join(changes) or 'fields equal, hash recipe differs'}); "
            "save a new baseline with 'tacfn-robust baseline save'"
        )
    notes = [
        f"version of {k} changed: {base['versions'].get(k)} -> {new['versions'].get(k)}"
        for k in sorted(set(base.get("versions", {})) | set(new["versions"]))
        if base.get("versions", {}).get(k) != new["versions"].get(k)
    ]
    rows = compare(base, new, abs_tol, alpha) + invariants(analysis)
    return CheckResult(rows=rows, notes=notes, abs_tol=abs_tol, alpha=alpha)


def _num(v: float | None, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def render_table(result: CheckResult) -> Table:
    """A rich table of every checked row: baseline, new, diff, margin, Holm p, verdict."""
    table = Table(title=f"tacfn-robust check (abs_tol {result.abs_tol}, alpha {result.alpha})")
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
    """JUnit XML: one testcase per point, nAUC and invariant; a failure element when it fails."""
    suite = ET.Element(
        "testsuite",
        name="tacfn-robust check",
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
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return out
