"""The shared foundation every package may import: Batch, errors, registry and I/O helpers.

Nothing here imports a model, a corruption, a protocol or a report.
"""
