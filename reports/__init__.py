"""reports package of tacfn-robust."""
