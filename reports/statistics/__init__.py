"""Stage 3, statistics. Consumes `Scores`; produces an `Analysis` (statistics.analysis.analyse):
condition means with intervals, curve summaries, paired comparisons, verdicts and Friedman,
computed once per run."""
