"""tacfn-robust's top layer: the command line and the public Python entry points.

    from tacfn_robust import register_model, validate_protocol, run_protocol

Names are imported on first use, so that `import tacfn_robust` (and the CLI) stays light.
"""

from __future__ import annotations

from tacfn.core.exports import lazy_exports

# public name -> "module:attr" it re-exports
_EXPORTS = {
    "register_model": "tacfn.models.registry:register_model",
    "register_dataset": "tacfn.data:register_dataset",
    "register_corruption": "tacfn_robust.corruptions.registry:register",
    "register_metric": "tacfn_robust.reports.scoring.metrics:register_metric",
    "validate_protocol": "tacfn_robust.protocols.loading:validate",
    "load_protocol": "tacfn_robust.protocols.loading:load_protocol",
    "run_protocol": "tacfn_robust.protocols.runner:run_protocol",
    "evaluate_checkpoints": "tacfn_robust.protocols.runner:evaluate_checkpoints",
    "build_corruption": "tacfn_robust.corruptions.registry:build",
    "Compose": "tacfn_robust.corruptions.transforms:Compose",
    "CorruptionModule": "tacfn_robust.corruptions.transforms:CorruptionModule",
    "sample_seed": "tacfn_robust.corruptions.seeding:sample_seed",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
