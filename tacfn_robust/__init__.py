"""tacfn-robust's top layer: the command line and the public Python entry points.

    from tacfn_robust import register_model, validate_protocol, run_protocol

Names are imported on first use, so that `import tacfn_robust` (and the CLI) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> "module:attr" it re-exports
_EXPORTS = {
    "register_model": "tacfn.models.registry:register_model",
    "register_dataset": "tacfn.data:register_dataset",
    "register_corruption": "corruptions.registry:register",
    "register_metric": "reports.scoring.metrics:register_metric",
    "validate_protocol": "protocols.loading:validate",
    "load_protocol": "protocols.loading:load_protocol",
    "run_protocol": "protocols.runner:run_protocol",
    "evaluate_checkpoints": "protocols.runner:evaluate_checkpoints",
    "build_corruption": "corruptions.registry:build",
    "Compose": "corruptions.transforms:Compose",
    "CorruptionModule": "corruptions.transforms:CorruptionModule",
    "sample_seed": "corruptions.seeding:sample_seed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tacfn_robust' has no attribute {name!r}")
    module, attr = _EXPORTS[name].split(":")
    return getattr(import_module(module), attr)
