"""Stage 3, statistics: intervals, tests, comparisons, curve summaries, computed once per run."""
