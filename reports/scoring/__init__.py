"""Stage 2, scoring. Consumes a `Run`; produces `Scores` (scoring.table.score_run): the report
metric, the tidy score table (one row per run x condition x metric, metrics from the
scoring.metrics registry) and each model x regime's chance level."""
