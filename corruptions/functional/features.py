"""Pure batched functions on feature streams (B, T, D)."""

from __future__ import annotations

import torch


def sample_std(x: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each sample over all its time steps and dimensions, shape (B, 1, 1)."""
    return x.flatten(1).std(dim=1, unbiased=False)[:, None, None]


def add_scaled_noise(
    x: torch.Tensor, noise: torch.Tensor, multiple: float, reference_std: torch.Tensor
) -> torch.Tensor:
    """x + noise * multiple * reference_std (reference broadcast to (B, T, D))."""
    return x + noise * (multiple * reference_std.to(x))


def replace_steps(x: torch.Tensor, steps: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Replace the time steps flagged in steps (B, T) by `vector` (broadcast to (D,))."""
    flagged = steps.to(x.device)[..., None]
    return torch.where(flagged, vector.to(x).expand(x.shape[-1]), x)
