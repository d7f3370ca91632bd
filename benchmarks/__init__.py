"""Performance harness: every row is a ratio measured side by side in one process run."""
