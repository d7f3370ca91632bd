"""Frame corruptions measured: occluded area, face regions, blur scaling, colour maths, frames."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.batch import Batch
from tacfn_robust import corruptions as C
from tacfn_robust.corruptions import draws
from tacfn_robust.corruptions.functional import video as F


def clips(n: int, frames: int = 6, size: int = 48, seed: int = 0) -> Batch:
    video = torch.rand(n, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))
    return Batch(
        inputs={"video": video * 0.8 + 0.1},
        present={"video": torch.ones(n, dtype=torch.bool)},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"v{i}" for i in range(n)),
    )


@settings(max_examples=30, deadline=None)
@given(
    fraction=st.floats(min_value=0.02, max_value=1.0),
    height=st.integers(min_value=16, max_value=96),
    width=st.integers(min_value=16, max_value=96),
    seed=st.integers(min_value=0, max_value=2**60),
)
def test_occluded_area_matches_fraction(
    fraction: float, height: int, width: int, seed: int
) -> None:
    batch = clips(3, frames=2).with_inputs(video=torch.full((3, 3, 2, height, width), 0.5))
    out, records = C.build("occlusion", "video", fraction=fraction).apply(
        batch, C.test_seeds(seed, "occ", batch.ids)
    )
    occluded = (out.inputs["video"] == 0).all(dim=1).float().mean(dim=(-2, -1))  # (B, T)
    # One rectangle: the area is exact up to rounding one side to whole pixels.
    tolerance = 1.0 / min(height, width) + 1.0 / (height * width)
    assert torch.allclose(occluded, torch.full_like(occluded, fraction), atol=tolerance)
    for rec, share in zip(records, occluded[:, 0].tolist(), strict=True):
        top, left, bottom, right = rec["rects"][0]
        assert 0 <= top < bottom <= height and 0 <= left < right <= width
        assert rec["occluded_share"] == pytest.approx(share)


def test_several_rectangles_record_their_union() -> None:
    batch = clips(4)
    out, records = C.build("occlusion", "video", fraction=0.4, rects=3).apply(
        batch, torch.arange(4)
    )
    for i, rec in enumerate(records):
        assert len(rec["rects"]) == 3
        occluded = float((out.inputs["video"][i, :, 0] == 0).all(0).float().mean())
        assert rec["occluded_share"] == pytest.approx(occluded)
        assert occluded <= 0.4 + 1 / 48


def test_per_frame_occlusion_moves_and_per_clip_stays() -> None:
    batch = clips(2, frames=5)
    same, _ = C.build("occlusion", "video", fraction=0.2).apply(batch, torch.tensor([1, 2]))
    masks = (same.inputs["video"] == 0).all(dim=1)
    assert all(torch.equal(masks[:, 0], masks[:, t]) for t in range(5))
    moving, records = C.build("occlusion", "video", fraction=0.2, per_frame=True).apply(
        batch, torch.tensor([1, 2])
    )
    masks = (moving.inputs["video"] == 0).all(dim=1)
    assert not all(torch.equal(masks[:, 0], masks[:, t]) for t in range(5))
    assert len(records[0]["rects"]) == 5


@pytest.mark.parametrize("region", ["mouth", "eyes"])
def test_face_region_covers_fraction_of_its_box(region: str) -> None:
    batch = clips(3, size=64)
    corruption = C.build("face_region", "video", fraction=0.5, region=region)
    out, records = corruption.apply(batch, torch.tensor([3, 4, 5]))
    top, left, bottom, right = corruption.region_px(64, 64)
    occluded = (out.inputs["video"][:, :, 0] == 0).all(dim=1)
    inside = occluded[:, top:bottom, left:right].float().mean(dim=(-2, -1))
    outside = occluded.sum(dim=(-2, -1)) - occluded[:, top:bottom, left:right].sum(dim=(-2, -1))
    assert torch.allclose(inside, torch.full((3,), 0.5), atol=1 / (right - left))
    assert outside.tolist() == [0, 0, 0]
    assert all(
        r["region"] == region and r["region_covered"] == pytest.approx(0.5, abs=0.05)
        for r in records
    )


def test_face_region_custom_box() -> None:
    corruption = C.build("face_region", "video", level=5, box=(0.0, 0.0, 0.5, 0.25))
    out, records = corruption.apply(clips(1, size=40), torch.tensor([0]))
    occluded = (out.inputs["video"][0, :, 0] == 0).all(0)
    assert int(occluded.sum()) == 20 * 10 and bool(occluded[:20, :10].all())
    with pytest.raises(Exception, match=r"box=\(0.5, 0.0, 0.2, 1.0\) is invalid"):
        C.build("face_region", "video", level=1, box=(0.5, 0.0, 0.2, 1.0))


def test_blur_sigma_scales_with_resolution() -> None:
    for size, sigma in ((224, 4.0), (112, 2.0), (56, 1.0)):
        batch = clips(1, frames=1, size=size)
        _, records = C.build("gaussian_blur", "video", sigma_px=4).apply(batch, torch.tensor([0]))
        assert records[0]["sigma_px_effective"] == pytest.approx(sigma)
    impulse = torch.zeros(1, 3, 1, 33, 33)
    impulse[..., 16, 16] = 1.0
    blurred = F.gaussian_blur(impulse, 2.0)[0, 0, 0]
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-4)
    var = float((blurred.sum(0) * (torch.arange(33) - 16.0) ** 2).sum())
    assert var == pytest.approx(4.0, rel=0.02)


def test_brightness_shifts_hsv_value_and_keeps_hue() -> None:
    pixel = torch.tensor([0.2, 0.4, 0.5]).view(1, 3, 1, 1, 1)
    out = F.brightness_hsv(pixel, 0.3).flatten()
    assert torch.allclose(out, torch.tensor([0.32, 0.64, 0.8]))  # value 0.5 -> 0.8, ratios kept
    black = F.brightness_hsv(torch.zeros(1, 3, 1, 1, 1), 0.2).flatten()
    assert torch.allclose(black, torch.full((3,), 0.2))


def test_contrast_pulls_towards_frame_mean() -> None:
    batch = clips(2)
    out, _ = C.build("contrast", "video", factor=0.1).apply(batch, torch.tensor([0, 1]))
    x, y = batch.inputs["video"], out.inputs["video"]
    assert torch.allclose(y.mean(dim=(1, 3, 4)), x.mean(dim=(1, 3, 4)), atol=1e-5)
    assert torch.allclose(y.std(dim=(1, 3, 4)), 0.1 * x.std(dim=(1, 3, 4)), rtol=1e-3)


def test_noise_stays_in_unit_range_and_records_change() -> None:
    batch = clips(3)
    out, records = C.build("gaussian_noise", "video", level=5).apply(batch, torch.arange(3))
    y = out.inputs["video"]
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    rms = (y - batch.inputs["video"]).flatten(1).pow(2).mean(1).sqrt()
    assert [r["rms_change"] for r in records] == pytest.approx(rms.tolist())
    assert all(0.2 < r["rms_change"] < 0.38 for r in records)


@settings(max_examples=20, deadline=None)
@given(fraction=st.floats(0.0, 1.0), frames=st.integers(2, 16), seed=st.integers(0, 2**60))
def test_frame_drop_and_freeze_counts(fraction: float, frames: int, seed: int) -> None:
    batch = clips(2, frames=frames, size=8)
    drop = C.build("frame_drop", "video", fraction=fraction)
    out, records = drop.apply(batch, torch.tensor([seed, seed + 1]))
    blank = (out.inputs["video"] == 0).flatten(3).all(-1).all(1)  # (B, T)
    expected = 0 if drop.is_identity else round(fraction * frames)
    assert blank.sum(-1).tolist() == [expected, expected]
    if expected:
        assert [r["frames"] for r in records] == [expected, expected]
        assert torch.nonzero(blank[0]).flatten().tolist() == records[0]["frame_indices"]
    freeze = C.build("frame_freeze", "video", fraction=fraction)
    out, records = freeze.apply(batch, torch.tensor([seed, seed + 1]))
    if freeze.is_identity:
        return
    x, y = batch.inputs["video"][0], out.inputs["video"][0]
    frozen = records[0]["frame_indices"]
    assert len(frozen) == min(round(fraction * frames), frames - 1) and 0 not in frozen
    for t in range(frames):
        source = max(s for s in range(t + 1) if s not in frozen)
        assert torch.equal(y[:, t], x[:, source])


def test_jpeg_and_motion_blur_run_through_albumentations() -> None:
    batch = clips(2, frames=3, size=64)
    jpeg, records = C.build("jpeg", "video", quality=10).apply(batch, torch.tensor([0, 1]))
    y = jpeg.inputs["video"]
    assert y.shape == batch.inputs["video"].shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert records[0]["quality"] == 10
    hq, _ = C.build("jpeg", "video", quality=95).apply(batch, torch.tensor([0, 1]))
    err = lambda z: float((z - batch.inputs["video"]).pow(2).mean())  # noqa: E731
    assert err(hq.inputs["video"]) < err(y)
    still = batch.inputs["video"][:, :, :1].expand(-1, -1, 3, -1, -1).contiguous()
    still_batch = batch.with_inputs(video=still)
    blur, records = C.build("motion_blur", "video", level=5).apply(
        still_batch, torch.tensor([0, 1])
    )
    assert records[0]["kernel_px_effective"] == 9  # 29 px at 224 -> 8.3 -> odd 9 at 64 px
    y = blur.inputs["video"]
    assert float((y - still).abs().mean()) > 0.01
    assert all(torch.equal(y[:, :, 0], y[:, :, t]) for t in range(3))  # one kernel per clip
    moving, _ = C.build("motion_blur", "video", level=5, per_frame=True).apply(
        still_batch, torch.tensor([0, 1])
    )
    z = moving.inputs["video"]
    assert not all(torch.equal(z[:, :, 0], z[:, :, t]) for t in range(3))


def test_rectangle_draw_fits_any_area() -> None:
    gen = torch.Generator().manual_seed(0)
    for area in (0.0, 0.5, 1.0, 37.0, 100.0, 640.0, 10_000.0):
        top, left, bottom, right = draws.rectangle(gen, 20, 32, area)
        assert 0 <= top <= bottom <= 20 and 0 <= left <= right <= 32
        if area >= 1.0:
            assert abs((bottom - top) * (right - left) - min(area, 640.0)) <= max(20, 32)
