"""Protocols: the validated schema, grid expansion, result store, executors and runner."""

from protocols.loading import load_protocol, protocol_hash, shipped_protocols, validate
from protocols.planning import plan
from protocols.runner import RunEvents, RunResult, evaluate_checkpoints, run_protocol
from protocols.schema import Protocol

__all__ = [
    "Protocol",
    "RunEvents",
    "RunResult",
    "evaluate_checkpoints",
    "load_protocol",
    "plan",
    "protocol_hash",
    "run_protocol",
    "shipped_protocols",
    "validate",
]
