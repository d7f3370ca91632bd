"""tacfn-robust's top layer: the command line and the public Python entry points.

The entry points load on first use, so that `tacfn-robust --help` stays quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "evaluate_checkpoints": "protocols",
    "load_protocol": "protocols",
    "run_protocol": "protocols",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tacfn_robust' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
