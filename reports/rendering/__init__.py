"""Stage 4, rendering. Consumes an `Analysis`; produces summary.json, the PNG figures,
report.html and the README claims (which read summary.json back)."""
