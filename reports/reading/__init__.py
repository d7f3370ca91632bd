"""Stage 1, reading: a run directory (protocol.json + store/cells/*) loaded into typed tables."""
