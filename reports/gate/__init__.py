"""Stage 5, the CI gate: baselines of robustness curves and the regression check."""
