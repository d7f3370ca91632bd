"""tacfn-robust's top layer: the command line and the public Python entry points."""
