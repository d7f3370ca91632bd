"""An example tacfn-robust plug-in: a fusion model, a data set and a metric of its own."""
