"""Protocols: the validated schema, grid expansion, result store, executors and runner.

Names are imported on first use, so that `import tacfn_robust.protocols.schema` loads the schema
alone.
"""

from __future__ import annotations

from tacfn.core.exports import lazy_exports

# public name -> "module:attr" it re-exports
_EXPORTS = {
    "Protocol": "tacfn_robust.protocols.schema:Protocol",
    "RunEvents": "tacfn_robust.protocols.runner:RunEvents",
    "RunResult": "tacfn_robust.protocols.runner:RunResult",
    "evaluate_checkpoints": "tacfn_robust.protocols.runner:evaluate_checkpoints",
    "load_protocol": "tacfn_robust.protocols.loading:load_protocol",
    "plan": "tacfn_robust.protocols.planning:plan",
    "protocol_hash": "tacfn_robust.protocols.loading:protocol_hash",
    "run_protocol": "tacfn_robust.protocols.runner:run_protocol",
    "shipped_protocols": "tacfn_robust.protocols.loading:shipped_protocols",
    "validate": "tacfn_robust.protocols.loading:validate",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
