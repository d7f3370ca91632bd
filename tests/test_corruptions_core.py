"""Properties every registered corruption must have: identity at level 0, per-sample purity,
records, monotone degradation, one-line errors; plus seeds, describe and the CLI."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError, UserError
from tacfn_robust import corruptions as C
from tacfn_robust.cli import main

RATE = 16000
MODALITY = {"waveform": "audio", "frames": "video", "features": "text", "any": "audio"}


def make_batch(n: int, seed: int = 0) -> Batch:
    """Speech-like audio (harmonics + envelope), smooth random clips, feature streams."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(4000) / RATE
    f0 = 120 + 80 * torch.rand(n, 1, generator=gen)
    harmonics = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 8))
    audio = 0.3 * harmonics * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    coarse = torch.rand(n, 3, 4, 8, 8, generator=gen)
    video = torch.nn.functional.interpolate(coarse, size=(4, 32, 32), mode="trilinear")
    text = torch.randn(n, 12, 6, generator=gen)
    ids = tuple(f"clip{i:03d}" for i in range(n))
    return Batch(
        inputs={"audio": audio.float(), "video": video, "text": text},
        present={m: torch.ones(n, dtype=torch.bool) for m in ("audio", "video", "text")},
        labels=torch.arange(n) % 8,
        ids=ids,
        sample_rate=RATE,
    )


@pytest.fixture(scope="module")
def batch32() -> Batch:
    return make_batch(32)


def build_at(name: str, level: int, noise_folder: str):
    kind = C.describe(name)["kind"]
    extra = {"folder": noise_folder} if name == "background" else {}
    return C.build(name, MODALITY[kind], level=level, **extra)


ALL = C.list_corruptions()


def test_registry_lists_every_family() -> None:
    kinds = {C.describe(n)["kind"] for n in ALL}
    assert kinds == {"waveform", "frames", "features", "any"}
    assert len(ALL) == 24
    for name in ALL:
        info = C.describe(name)
        assert len(info["levels"]) == 5 and info["unit"] and info["param"]


@pytest.mark.parametrize("name", ALL)
def test_level_zero_is_identity(name: str, batch32: Batch, noise_folder: str) -> None:
    corruption = build_at(name, 0, noise_folder)
    out, records = corruption.apply(batch32, C.test_seeds(0, "c", batch32.ids))
    assert corruption.touches == frozenset()
    for m in batch32.inputs:
        assert torch.equal(out.inputs[m], batch32.inputs[m])
        assert torch.equal(out.present[m], batch32.present[m])
    assert [r["applied"] for r in records] == [False] * 32


@pytest.mark.parametrize("name", ALL)
def test_sample_result_independent_of_batch_size_and_order(
    name: str, batch32: Batch, noise_folder: str
) -> None:
    corruption = build_at(name, 3, noise_folder)
    seeds = C.test_seeds(7, f"{name}@3", batch32.ids)
    full, records = corruption.apply(batch32, seeds)
    m = corruption.modality
    assert len(records) == 32 and [r["sample_id"] for r in records] == list(batch32.ids)
    assert all(r["corruption"] == name and r["applied"] for r in records)
    perm = torch.randperm(32, generator=torch.Generator().manual_seed(1))
    for rows in (torch.tensor([5]), torch.arange(7), perm):
        part, part_records = corruption.apply(batch32.select(rows), seeds[rows])
        assert torch.equal(part.inputs[m], full.inputs[m][rows]), rows.tolist()
        assert torch.equal(part.present[m], full.present[m][rows])
        assert part_records == [records[i] for i in rows.tolist()]


@pytest.mark.parametrize("name", ALL)
def test_degrades_monotonically_with_level(name: str, noise_folder: str) -> None:
    batch = make_batch(16, seed=3)
    seeds = C.test_seeds(0, name, batch.ids)
    damage = []
    for level in range(6):
        corruption = build_at(name, level, noise_folder)
        out, _ = corruption.apply(batch, seeds)
        m = corruption.modality
        if name == "missing":
            damage.append(float((~out.present[m]).float().mean()))
        elif name == "pitch_shift":
            damage.append(spectral_centroid_shift(batch.inputs[m], out.inputs[m]))
        elif name == "time_stretch":
            damage.append(envelope_distance(batch.inputs[m], out.inputs[m]))
        else:
            damage.append(float((out.inputs[m] - batch.inputs[m]).pow(2).mean()))
    assert all(b >= a - 1e-9 for a, b in zip(damage, damage[1:], strict=False)), damage
    assert damage[5] > damage[0] == 0.0, damage


def spectral_centroid_shift(clean: torch.Tensor, other: torch.Tensor) -> float:
    """Mean |log ratio| of the spectral centroids: grows with the pitch shift in semitones."""

    def centroid(x: torch.Tensor) -> torch.Tensor:
        power = torch.fft.rfft(x).abs().pow(2)
        return (power * torch.fft.rfftfreq(x.shape[-1])).sum(-1) / power.sum(-1)

    return float((centroid(other) / centroid(clean)).log().abs().mean())


def envelope_distance(clean: torch.Tensor, other: torch.Tensor) -> float:
    """Mean squared difference of the 256-sample frame RMS envelopes (tempo changes move it)."""

    def envelope(x: torch.Tensor) -> torch.Tensor:
        return x.unfold(-1, 256, 256).pow(2).mean(-1).sqrt()

    return float((envelope(clean) - envelope(other)).pow(2).mean())


def test_seeds_are_stable_63_bit_and_keyed_on_all_parts() -> None:
    ids = ["a", "b", "c"]
    seeds = C.test_seeds(0, "gaussian_snr[audio].snr_db=10", ids)
    assert seeds.dtype == torch.int64 and seeds.shape == (3,)
    assert bool((seeds >= 0).all())
    assert torch.equal(seeds, C.test_seeds(0, "gaussian_snr[audio].snr_db=10", ids))
    assert torch.equal(seeds[1:], C.test_seeds(0, "gaussian_snr[audio].snr_db=10", ids[1:]))
    assert not torch.equal(seeds, C.test_seeds(1, "gaussian_snr[audio].snr_db=10", ids))
    assert not torch.equal(seeds, C.test_seeds(0, "clean", ids))
    assert not torch.equal(C.train_seeds(0, 1, ids), C.train_seeds(0, 2, ids))
    assert len(set(C.train_seeds(0, 1, ids).tolist())) == 3
    # Fixed value: the key is blake2b of the tuple, not Python's per-process hash().
    assert int(C.test_seeds(0, "clean", ["x"])[0]) == int(C.test_seeds(0, "clean", ["x"])[0])


@settings(max_examples=25, deadline=None)
@given(level=st.integers(min_value=6, max_value=100) | st.integers(max_value=-1))
def test_bad_level_is_one_line_error(level: int) -> None:
    with pytest.raises(ConfigError, match=r"^gaussian_snr: level=-?\d+ is invalid; expected an"):
        C.build("gaussian_snr", "audio", level=level)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "clipping",
            {"fraction": 1.5},
            "clipping: fraction=1.5 out of range; expected a number "
            "0.001 <= fraction <= 1 (fraction of peak)",
        ),
        ("jpeg", {"quality": 0}, "jpeg: quality=0 out of range; expected an integer 1 <= quality"),
        ("gaussian_snr", {"snr_db": "loud"}, "gaussian_snr: snr_db='loud' out of range"),
        (
            "occlusion",
            {"fraction": 0.2, "rects": 0},
            "occlusion: rects=0 is invalid; expected an integer in [1, 16]",
        ),
        (
            "colored_noise",
            {"level": 1, "color": "green"},
            "colored_noise: color='green' is invalid; expected one of: pink, brown",
        ),
        (
            "lowpass",
            {"level": 1, "cutoff": 100},
            "lowpass: unknown parameter 'cutoff'; expected one of: level, cutoff_hz, taps",
        ),
        ("lowpass", {"level": 1, "cutoff_hz": 100}, "lowpass: give level or cutoff_hz, not both"),
        ("reverb", {}, "reverb: needs level=0..5 or rt60_s=<s RT60>"),
        ("missing", {"p": 0.5, "fill": "learned"}, "missing: fill='learned' needs stage='feature'"),
        ("background", {"level": 2}, "background: folder is required"),
    ],
)
def test_invalid_parameters_give_one_line_errors(name: str, params: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        C.build(name, "audio", **params)
    text = str(info.value)
    assert "\n" not in text and text.startswith(message)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UserError) as info:
        C.build("snow", "video", level=1)
    assert str(info.value).startswith("unknown corruption 'snow'; expected one of: background,")
    assert "token_drop" in str(info.value)
    with pytest.raises(UserError, match="unknown corruption 'fog'"):
        C.describe("fog")


def test_wrong_modality_kind_and_seed_count_are_data_errors(batch32: Batch) -> None:
    seeds = C.test_seeds(0, "c", batch32.ids)
    with pytest.raises(DataError, match=r"gaussian_blur: modality 'audio' has shape \(32, 4000\)"):
        C.build("gaussian_blur", "audio", level=2).apply(batch32, seeds)
    with pytest.raises(DataError, match="batch has no modality 'depth'; it has: audio, video"):
        C.build("gaussian_snr", "depth", level=2).apply(batch32, seeds)
    with pytest.raises(DataError, match="got 3 seeds for a batch of 32"):
        C.build("gaussian_snr", "audio", level=2).apply(batch32, seeds[:3])


def test_explicit_value_equals_level(batch32: Batch) -> None:
    seeds = C.test_seeds(0, "c", batch32.ids)
    by_level, _ = C.build("gaussian_noise", "video", level=4).apply(batch32, seeds)
    by_value, _ = C.build("gaussian_noise", "video", std=0.26).apply(batch32, seeds)
    assert torch.equal(by_level.inputs["video"], by_value.inputs["video"])
    assert C.build("gaussian_noise", "video", level=4).value == 0.26


@pytest.mark.parametrize("name", ["pitch_shift", "time_stretch", "jpeg", "motion_blur"])
def test_library_paths_leave_global_rng_untouched(name: str, batch32: Batch) -> None:
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    corruption = C.build(name, "video" if name in ("jpeg", "motion_blur") else "audio", level=3)
    corruption.apply(batch32.select(torch.arange(4)), C.test_seeds(0, "c", batch32.ids[:4]))
    assert random.getstate() == before[0]
    assert np.array_equal(np.random.get_state()[1], before[1])
    assert torch.equal(torch.get_rng_state(), before[2])


def test_results_do_not_depend_on_global_rng(batch32: Batch) -> None:
    seeds = C.test_seeds(0, "c", batch32.ids[:4])
    small = batch32.select(torch.arange(4))
    outs = []
    for global_seed in (1, 2):
        random.seed(global_seed)
        np.random.seed(global_seed)
        torch.manual_seed(global_seed)
        out, _ = C.build("pitch_shift", "audio", level=2).apply(small, seeds)
        outs.append(out.inputs["audio"])
    assert torch.equal(outs[0], outs[1])


def test_cli_lists_table_and_details(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["corruptions"]) == 0
    table = capsys.readouterr().out
    for name in ALL:
        assert name in table
    assert "albumentations" in table and "audiomentations" in table
    assert main(["corruptions", "lowpass"]) == 0
    detail = capsys.readouterr().out
    assert "2833" in detail and "cutoff_hz" in detail and "taps" in detail


def test_cli_unknown_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corruptions", "snow"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown corruption 'snow'; expected one of:")
    assert len(err.splitlines()) == 1


def test_options_say_what_they_accept(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = C.describe("occlusion")["options"]
    assert list(options) == ["rects", "fill", "per_frame"]
    assert options["rects"] == {
        "default": 1,
        "required": False,
        "expected": "an integer in [1, 16]",
        "help": "number of rectangles (may overlap)",
    }
    assert C.describe("background")["options"]["folder"]["required"]
    assert C.build("lowpass", "audio", level=1, taps=512).config == {"taps": 513}
    with pytest.raises(ConfigError, match=r"^lowpass: taps=30 is invalid; expected an integer"):
        C.build("lowpass", "audio", level=1, taps=30)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["corruptions", "background"]) == 0
    assert "an existing folder of .wav files; required" in capsys.readouterr().out
    assert main(["corruptions", "colored_noise"]) == 0
    assert "noise colour; one of: pink, brown; default 'pink'" in capsys.readouterr().out
