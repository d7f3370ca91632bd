"""protocols package of tacfn-robust."""
