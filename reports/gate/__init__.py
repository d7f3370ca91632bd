"""Stage 4, the CI gate, beside rendering. Consumes an `Analysis`; produces a baseline file of
its robustness curves, or a `CheckResult` against one (with its table and JUnit XML)."""
