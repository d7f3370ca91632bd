"""Pure batched clip functions on (B, 3, T, H, W) tensors in [0, 1]."""

from __future__ import annotations

import math

import torch
import torchvision.transforms.v2.functional as TF


def frames_view(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B * T, 3, H, W)."""
    b, c, t, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def clips_view(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """(B * T, 3, H, W) -> (B, 3, T, H, W)."""
    bt, c, h, w = frames.shape
    return frames.reshape(batch, bt // batch, c, h, w).permute(0, 2, 1, 3, 4).contiguous()


def blur_kernel_size(sigma: float, height: int, width: int) -> int:
    """Odd kernel covering ±3 sigma, no larger than the frame allows for reflect padding."""
    size = 2 * math.ceil(3.0 * sigma) + 1
    limit = 2 * min(height, width) - 1
    return max(3, min(size, limit if limit % 2 else limit - 1))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every frame with an isotropic Gaussian of `sigma` pixels."""
    size = blur_kernel_size(sigma, x.shape[-2], x.shape[-1])
    frames = TF.gaussian_blur(frames_view(x), [size, size], [sigma, sigma])
    return clips_view(frames, x.shape[0])


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
