"""reports: results tables, metrics, statistics, figures, HTML, baselines and CI checks."""

from reports.build import build_report
from reports.gate.baseline import save_baseline
from reports.gate.regression import check

__all__ = ["build_report", "check", "save_baseline"]
