"""Frame corruptions on (B, 3, T, H, W) clips in [0, 1].

Parameters are the same for every frame of a clip unless `per_frame=True` is offered and set.
Sizes in pixels (blur sigma, motion-blur kernel) are given at 224 px and scaled to the frame.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from importlib import import_module
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from tacfn_robust.corruptions import draws
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.corruptions.functional import video as F
from tacfn_robust.corruptions.options import Box, CorruptionOptions, Flag, Integer, Number
from tacfn_robust.corruptions.registry import register
from tacfn_robust.corruptions.seeding import child_seed, generator, noise_fields

if TYPE_CHECKING:
    from albumentations import BasicTransform


REFERENCE_PX = 224
FACE_REGIONS = {  # (top, left, bottom, right) fractions of a frame holding a centred face
    "eyes": (0.28, 0.18, 0.48, 0.82),
    "mouth": (0.62, 0.30, 0.84, 0.70),
}
PerFrame = Annotated[Flag, Field(description="draw parameters per frame instead of per clip")]
Fill = Annotated[Number, Field(ge=0.0, le=1.0, description="pixel value of occluded areas")]


def albumentations() -> Any:
    """The albumentations module, imported on first use with its update check switched off."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    return import_module("albumentations")


def resolution_scale(x: torch.Tensor) -> float:
    """Frame size relative to the 224 px reference of the severity tables."""
    return min(x.shape[-2], x.shape[-1]) / REFERENCE_PX


class _Frames(Corruption):
    kind = "frames"


@register
class GaussianNoise(_Frames):
    """Additive Gaussian pixel noise, clamped to [0, 1] (ImageNet-C table)."""

    name = "gaussian_noise"
    param = "std"
    unit = "std on [0,1] pixels"
    levels = (0.08, 0.12, 0.18, 0.26, 0.38)
    identity = 0.0
    bounds = (0.0, 2.0)

    def corrupt(self, x, seeds, batch):
        noise = noise_fields([child_seed(generator(s)) for s in seeds], x.shape[1:], x.device)
        out = (x + noise * self.value).clamp(0.0, 1.0)
        change = (out - x).flatten(1).pow(2).mean(1).sqrt()
        return out, [{"std": self.value, "rms_change": float(c)} for c in change.tolist()]


@register
class GaussianBlur(_Frames):
    """Gaussian blur; sigma is given at 224 px and scaled to the frame size."""

    name = "gaussian_blur"
    param = "sigma_px"
    unit = "px sigma at 224 px"
    levels = (1.0, 2.0, 3.0, 4.0, 6.0)
    identity = 0.0
    bounds = (0.0, 50.0)

    def corrupt(self, x, seeds, batch):
        sigma = self.value * resolution_scale(x)
        size = F.blur_kernel_size(sigma, x.shape[-2], x.shape[-1])
        detail = {"sigma_px_effective": sigma, "kernel_px": size}
        return F.gaussian_blur(x, sigma), [dict(detail) for _ in seeds]


@register
class Brightness(_Frames):
    """ImageNet-C brightness: shift of the HSV value channel."""

    name = "brightness"
    param = "delta"
    unit = "HSV value shift"
    levels = (0.1, 0.2, 0.3, 0.4, 0.5)
    identity = 0.0
    bounds = (-1.0, 1.0)

    def corrupt(self, x, seeds, batch):
        return F.brightness_hsv(x, self.value), [{"delta": self.value} for _ in seeds]


@register
class Contrast(_Frames):
    """ImageNet-C contrast: pixels pulled towards each frame's mean by a factor."""

    name = "contrast"
    param = "factor"
    unit = "contrast factor"
    levels = (0.4, 0.3, 0.2, 0.1, 0.05)
    identity = 1.0
    bounds = (0.0, 1.0)

    def corrupt(self, x, seeds, batch):
        return F.contrast(x, self.value), [{"factor": self.value} for _ in seeds]


class _Albumentations(_Frames):
    """Shared shell: an albumentations Compose seeded per sample (per frame if asked)."""

    backend = "albumentations"

    @abstractmethod
    def library_transform(self, x: torch.Tensor) -> BasicTransform:
        """The configured transform for clips shaped like `x`."""

    def details(self, x: torch.Tensor) -> dict[str, Any]:
        return {self.param: self.value}

    def corrupt(self, x, seeds, batch):
        transform = self.library_transform(x)
        per_frame = self.config.get("per_frame", False)
        clips = x.detach().permute(0, 2, 3, 4, 1).cpu().numpy().astype(np.float32)  # B,T,H,W,3
        out = np.empty_like(clips)
        for row, seed in enumerate(seeds):
            gen = generator(seed)
            if per_frame:
                for t in range(clips.shape[1]):
                    compose = albumentations().Compose([transform], seed=child_seed(gen) % 2**32)
                    out[row, t] = compose(image=clips[row, t])["image"]
            else:
                compose = albumentations().Compose([transform], seed=child_seed(gen) % 2**32)
                out[row] = compose(images=clips[row])["images"]
        result = torch.from_numpy(out).permute(0, 4, 1, 2, 3).to(x).clamp(0.0, 1.0)
        detail = self.details(x)
        return result.contiguous(), [dict(detail) for _ in seeds]


@register
class Jpeg(_Albumentations):
    """JPEG compression at a quality (albumentations ImageCompression); 100 = uncompressed."""

    name = "jpeg"
    param = "quality"
    unit = "JPEG quality"
    levels = (25, 18, 15, 10, 7)
    identity = 100
    bounds = (1, 100)
    integer = True

    def library_transform(self, x):
        quality = int(self.value)
        return albumentations().ImageCompression(
            compression_type="jpeg", quality_range=(quality, quality), p=1.0
        )


def motion_kernel(kernel_px: float, x: torch.Tensor) -> int:
    """Odd motion-blur kernel (>= 3) for the frame size, from a size given at 224 px."""
    size = max(3, round(kernel_px * resolution_scale(x)))
    return size if size % 2 else size + 1


@register
class MotionBlur(_Albumentations):
    """Linear motion blur at a random angle (albumentations MotionBlur); kernel at 224 px."""

    name = "motion_blur"
    param = "kernel_px"
    unit = "px kernel at 224 px"
    levels = (7, 11, 15, 21, 29)
    identity = 0
    bounds = (3, 201)
    integer = True

    class Options(CorruptionOptions):
        per_frame: PerFrame = False

    def library_transform(self, x):
        size = motion_kernel(self.value, x)
        return albumentations().MotionBlur(blur_limit=(size, size), p=1.0)

    def details(self, x):
        return {self.param: self.value, "kernel_px_effective": motion_kernel(self.value, x)}


class _Rectangles(_Frames):
    """Shared shell: per-sample rectangles drawn on CPU, then one batched masked fill."""

    @abstractmethod
    def draw(self, gen: torch.Generator, height: int, width: int) -> list[tuple[int, ...]]:
        """The rectangles (top, left, bottom, right) of one frame."""

    def corrupt(self, x, seeds, batch):
        b, _, t, h, w = x.shape
        frames = t if self.config["per_frame"] else 1
        rects = []
        for seed in seeds:
            gen = generator(seed)
            rects.append([self.draw(gen, h, w) for _ in range(frames)])
        rect_tensor = torch.tensor(rects, dtype=torch.long, device=x.device)  # B, F, K, 4
        mask = F.rect_mask(h, w, rect_tensor)
        out = F.fill_mask(x, mask, self.config["fill"])
        covered = mask.float().mean(dim=(-2, -1)).mean(dim=1)
        details = []
        for i in range(b):
            detail = {"rects": rects[i] if frames > 1 else rects[i][0]}
            detail["occluded_share"] = float(covered[i])
            details.append(detail | self.realised(mask[i], h, w))
        return out, details

    def realised(self, mask: torch.Tensor, height: int, width: int) -> dict[str, float]:
        """Extra per-sample measurements of the realised mask (F, H, W)."""
        return {}


@register
class Occlusion(_Rectangles):
    """Random rectangles covering a fraction of the frame."""

    name = "occlusion"
    param = "fraction"
    unit = "fraction of frame"
    levels = (0.1, 0.2, 0.3, 0.4, 0.5)
    identity = 0.0
    bounds = (0.0, 1.0)

    class Options(CorruptionOptions):
        rects: Integer = Field(1, ge=1, le=16, description="number of rectangles (may overlap)")
        fill: Fill = 0.0
        per_frame: PerFrame = False

    def draw(self, gen, height, width):
        count = self.config["rects"]
        area = self.value * height * width / count
        return [draws.rectangle(gen, height, width, area) for _ in range(count)]


@register
class FaceRegion(_Rectangles):
    """Occlude part of the mouth or eye region (a box in frame fractions; centred-face default)."""

    name = "face_region"
    param = "fraction"
    unit = "fraction of region"
    levels = (0.2, 0.4, 0.6, 0.8, 1.0)
    identity = 0.0
    bounds = (0.0, 1.0)

    class Options(CorruptionOptions):
        region: Literal[tuple(FACE_REGIONS)] = Field("mouth", description="face region")
        box: Box = Field(
            None, description="box of the region (None: the region's centred-face box)"
        )
        fill: Fill = 0.0
        per_frame: PerFrame = False

    def region_px(self, height: int, width: int) -> tuple[int, int, int, int]:
        top, left, bottom, right = self.config["box"] or FACE_REGIONS[self.config["region"]]
        rows = (round(top * height), max(round(bottom * height), round(top * height) + 1))
        cols = (round(left * width), max(round(right * width), round(left * width) + 1))
        return rows[0], cols[0], min(rows[1], height), min(cols[1], width)

    def draw(self, gen, height, width):
        top, left, bottom, right = self.region_px(height, width)
        span = right - left
        cover = round(self.value * span)
        start = left + draws.integer(gen, 0, span - cover)
        return [(top, start, bottom, start + cover)]

    def realised(self, mask, height, width):
        top, left, bottom, right = self.region_px(height, width)
        share = mask[:, top:bottom, left:right].float().mean()
        return {"region": self.config["region"], "region_covered": float(share)}


class _FrameSelection(_Frames):
    """Shared shell: a per-sample set of frame indices, then one batched frame operation."""

    @abstractmethod
    def pick(self, gen: torch.Generator, frames: int) -> list[int]:
        """Indices of the affected frames of one clip."""

    @abstractmethod
    def operate(self, x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        """Apply the frame operation given flags (B, T)."""

    def corrupt(self, x, seeds, batch):
        frames = x.shape[2]
        picks = [self.pick(generator(s), frames) for s in seeds]
        flags = torch.zeros(len(seeds), frames, dtype=torch.bool)
        for row, idx in enumerate(picks):
            flags[row, idx] = True
        details = [{"frames": len(p), "frame_indices": p} for p in picks]
        return self.operate(x, flags.to(x.device)), details


@register
class FrameDrop(_FrameSelection):
    """Blank (black) a fraction of a clip's frames chosen at random."""

    name = "frame_drop"
    param = "fraction"
    unit = "fraction of frames"
    levels = (0.1, 0.2, 0.3, 0.5, 0.7)
    identity = 0.0
    bounds = (0.0, 1.0)

    def pick(self, gen, frames):
        return draws.subset(gen, frames, round(self.value * frames))

    def operate(self, x, flags):
        return F.blank_frames(x, flags)


@register
class FrameFreeze(_FrameSelection):
    """Freeze a fraction of frames: each repeats the last unfrozen frame before it."""

    name = "frame_freeze"
    param = "fraction"
    unit = "fraction of frames"
    levels = (0.1, 0.2, 0.3, 0.5, 0.7)
    identity = 0.0
    bounds = (0.0, 1.0)

    def pick(self, gen, frames):
        return draws.subset(gen, frames - 1, min(round(self.value * frames), frames - 1), offset=1)

    def operate(self, x, flags):
        return F.freeze_frames(x, flags)
