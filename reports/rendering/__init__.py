"""Stage 4, rendering: summary.json, PNG figures, report.html and the README claims."""
