"""Protocols: the validated schema, grid expansion, result store, executors and runner.

Names are imported on first use, so that `import protocols.schema` loads the schema alone.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> "module:attr" it re-exports
_EXPORTS = {
    "Protocol": "protocols.schema:Protocol",
    "RunEvents": "protocols.runner:RunEvents",
    "RunResult": "protocols.runner:RunResult",
    "evaluate_checkpoints": "protocols.runner:evaluate_checkpoints",
    "load_protocol": "protocols.loading:load_protocol",
    "plan": "protocols.planning:plan",
    "protocol_hash": "protocols.loading:protocol_hash",
    "run_protocol": "protocols.runner:run_protocol",
    "shipped_protocols": "protocols.loading:shipped_protocols",
    "validate": "protocols.loading:validate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'protocols' has no attribute {name!r}")
    module, attr = _EXPORTS[name].split(":")
    return getattr(import_module(module), attr)
