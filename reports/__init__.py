"""reports: results tables, metrics, statistics, figures, HTML, baselines and CI checks.

A pipeline of stages, one folder each (reports.build runs them in order): reading -> scoring
-> statistics -> rendering, and the gate beside rendering, both consuming statistics.
"""

from reports.build import build_report, check, save_baseline

__all__ = ["build_report", "check", "save_baseline"]
