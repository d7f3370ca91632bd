"""Stage 2, scoring: metrics and the tidy score table (one row per run x condition x metric)."""
