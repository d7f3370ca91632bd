"""Pure batched clip functions on (B, 3, T, H, W) tensors in [0, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf


def blur_kernel_size(sigma: float, height: int, width: int) -> int:
    """Odd kernel covering ±3 sigma, no larger than the frame allows for reflect padding."""
    size = 2 * math.ceil(3.0 * sigma) + 1
    limit = 2 * min(height, width) - 1
    return max(3, min(size, limit if limit % 2 else limit - 1))


def blur_matrix(length: int, sigma: float, size: int, like: torch.Tensor) -> torch.Tensor:
    """(length, length) matrix of a 1-D Gaussian blur with reflect padding: out = M @ signal."""
    half = size // 2
    taps = torch.arange(size, device=like.device, dtype=torch.float64) - half
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    eye = torch.eye(length, device=like.device, dtype=torch.float64)[:, None, :]
    padded = nnf.pad(eye, (half, half), mode="reflect")
    columns = nnf.conv1d(padded, kernel.view(1, 1, size))[:, 0, :]  # row i: blur of e_i
    return columns.T.to(like.dtype)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every frame with an isotropic Gaussian of `sigma` pixels (reflect padding).

    Separable, as two matrix products with banded blur matrices: BLAS-fast on CPU and GPU.
    """
    height, width = x.shape[-2], x.shape[-1]
    size = blur_kernel_size(sigma, height, width)
    rows = blur_matrix(height, sigma, size, x)
    cols = blur_matrix(width, sigma, size, x)
    return torch.matmul(torch.matmul(rows, x), cols.T)


def brightness_hsv(x: torch.Tensor, delta: float) -> torch.Tensor:
    """ImageNet-C brightness: add `delta` to HSV value (max channel), keep hue and saturation."""
    value = x.amax(dim=1, keepdim=True)
    target = (value + delta).clamp(0.0, 1.0)
    scaled = x * (target / value.clamp_min(1e-12))
    return torch.where(value > 0, scaled, target.expand_as(x)).clamp(0.0, 1.0)


def contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """ImageNet-C contrast: pull every frame towards its mean intensity by `factor`."""
    mean = x.mean(dim=(1, 3, 4), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0.0, 1.0)


def rect_mask(height: int, width: int, rects: torch.Tensor) -> torch.Tensor:
    """Union of rectangles: rects (B, F, K, 4) int as (top, left, bottom, right) -> (B, F, H, W)."""
    rows = torch.arange(height, device=rects.device)
    cols = torch.arange(width, device=rects.device)
    top, left, bottom, right = (rects[..., i, None] for i in range(4))
    in_rows = (rows >= top) & (rows < bottom)  # (B, F, K, H)
    in_cols = (cols >= left) & (cols < right)  # (B, F, K, W)
    return (in_rows[..., :, None] & in_cols[..., None, :]).any(dim=2)


def fill_mask(x: torch.Tensor, mask: torch.Tensor, fill: float) -> torch.Tensor:
    """Set pixels under mask (B, F, H, W), F = 1 or T, to `fill`."""
    return x.masked_fill(mask[:, None].to(x.device), fill)


def blank_frames(x: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
    """Set the frames flagged in dropped (B, T) to black."""
    return x.masked_fill(dropped[:, None, :, None, None].to(x.device), 0.0)


def freeze_frames(x: torch.Tensor, frozen: torch.Tensor) -> torch.Tensor:
    """Replace each frame flagged in frozen (B, T) by the last unflagged frame before it."""
    steps = torch.arange(x.shape[2], device=x.device).expand(x.shape[0], -1)
    source = torch.where(frozen.to(x.device), torch.zeros_like(steps), steps).cummax(dim=1).values
    index = source[:, None, :, None, None].expand_as(x)
    return x.gather(2, index)
