"""corruptions package of tacfn-robust."""
