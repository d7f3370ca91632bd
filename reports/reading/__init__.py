"""Stage 1, reading. Consumes a run directory (protocol.json, store/cells/*, through
tacfn.core.store); produces a `Run` (reading.run_dir): the protocol record, the current
grid's cells and the done cells' predictions, each file read once."""
