"""reports: results tables, metrics, statistics, figures, HTML, baselines and CI checks."""

from reports.baseline import check, save_baseline
from reports.build import build_report

__all__ = ["build_report", "check", "save_baseline"]
