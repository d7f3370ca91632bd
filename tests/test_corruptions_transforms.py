"""Corruptions as transforms of bare tensors: the same tensors and records as the runner's test
path for the same seed, Compose, the nn.Module wrapper, per-sample seeds and missing."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust import corruptions as C
from tacfn_robust.corruptions.seeding import derive_seeds
from tacfn_robust.protocols import load_protocol
from tacfn_robust.protocols.conditions import bind, corrupt, resolve_point
from tacfn_robust.protocols.grid import Condition, expand_conditions

RATE = 16000
SEED = 11  # the protocol's test.seed
LEVELS = [1, 3, 5]
MODALITY = {"waveform": "audio", "frames": "video", "features": "text", "any": "video"}
KIND_OF = {"audio": "waveform", "video": "frames", "text": "features"}
ROOT = Path(__file__).resolve().parents[1]


def tiny_batch(n: int = 3) -> Batch:
    """Speech-like audio at 16 kHz, smooth clips in [0, 1] and feature streams."""
    gen = torch.Generator().manual_seed(5)
    t = torch.arange(4000) / RATE
    f0 = 110 + 90 * torch.rand(n, 1, generator=gen)
    audio = 0.3 * sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    coarse = torch.rand(n, 3, 4, 8, 8, generator=gen)
    video = torch.nn.functional.interpolate(coarse, size=(4, 24, 24), mode="trilinear")
    text = torch.randn(n, 10, 6, generator=gen)
    modalities = ("audio", "video", "text")
    return Batch(
        inputs={"audio": audio.float(), "video": video, "text": text},
        present={m: torch.ones(n, dtype=torch.bool) for m in modalities},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"actor01/clip{i}" for i in range(n)),
        sample_rate=RATE,
    )


def options_of(name: str, noise_folder: str) -> dict[str, str]:
    return {"folder": noise_folder} if name == "background" else {}


@pytest.fixture(scope="module")
def runner_conditions(noise_folder: str) -> dict[str, list[Condition]]:
    """Every registered corruption swept over LEVELS, expanded by the runner's grid code."""
    sweeps = [
        {
            "corruption": name,
            "modality": MODALITY[C.describe(name)["kind"]],
            "levels": LEVELS,
            **options_of(name, noise_folder),
        }
        for name in C.list_corruptions()
    ]
    text = yaml.safe_dump(sweeps, default_flow_style=True, width=10_000).strip()
    protocol = load_protocol(
        "smoke", ["dataset={name: npz, path: data.npz}", f"test.sweeps={text}"]
    )
    conditions = expand_conditions(protocol, ("audio", "video", "text"), resolve_point)
    by_name: dict[str, list[Condition]] = {}
    for condition in conditions[1:]:
        by_name.setdefault(condition.axes[0].corruption, []).append(condition)
    return by_name


def runner_records(rows: list[dict], sample_id: str) -> dict[str, object]:
    """One sample's long-format records as {field: number or text}."""
    return {
        r["field"]: r["value"] if r["value"] is not None else r["text"]
        for r in rows
        if r["sample_id"] == sample_id
    }


@pytest.mark.parametrize("name", C.list_corruptions())
def test_transform_equals_runner_test_path(
    name: str, runner_conditions: dict[str, list[Condition]], noise_folder: str
) -> None:
    batch = tiny_batch()
    conditions = runner_conditions[name]
    assert len(conditions) == len(LEVELS)
    for level, condition in zip(LEVELS, conditions, strict=True):
        (axis,) = condition.axes
        corrupted = corrupt(batch, bind(condition), SEED)
        m = axis.modality
        kind = KIND_OF[m]
        mine = C.build(name, m, level=level, **options_of(name, noise_folder))
        seeds = [C.sample_seed(SEED, axis.seed_key, i) for i in batch.ids]
        assert torch.equal(torch.tensor(seeds), C.test_seeds(SEED, axis.seed_key, batch.ids))
        whole = mine.transform(
            batch.inputs[m], seeds=seeds, ids=batch.ids, kind=kind, sample_rate=RATE
        )
        assert torch.equal(whole.x, corrupted.batch.inputs[m]), condition.id
        assert torch.equal(whole.present, corrupted.batch.present[m]), condition.id
        for row, sample_id in enumerate(batch.ids):
            one = mine.transform(batch.inputs[m][row], seed=seeds[row], kind=kind, sample_rate=RATE)
            assert one.x.shape == batch.inputs[m].shape[1:]
            assert torch.equal(one.x, corrupted.batch.inputs[m][row]), (condition.id, row)
            assert bool(one.present) == bool(corrupted.batch.present[m][row])
            assert int(one.seeds) == seeds[row]
            expected = runner_records(corrupted.records, sample_id)
            record = whole.records[row]
            assert record["sample_id"] == sample_id and record["value"] == axis.value
            extra = {k: v for k, v in record.items() if k not in expected}
            assert set(extra) == {"sample_id", "corruption", "modality", "param", "value", "unit"}
            for field, value in expected.items():
                if isinstance(value, float):
                    got = float(record[field])
                    assert value == got or (math.isnan(value) and math.isnan(got)), field
                else:
                    assert value == str(record[field]), field


def test_a_joint_condition_is_its_axes_in_order() -> None:
    sweeps = [
        {
            "joint": [
                {"corruption": "clipping", "modality": "audio", "levels": [4]},
                {"corruption": "gaussian_snr", "modality": "audio", "levels": [3]},
            ]
        }
    ]
    text = yaml.safe_dump(sweeps, default_flow_style=True, width=10_000).strip()
    protocol = load_protocol("smoke", [f"test.sweeps={text}"])
    (condition,) = expand_conditions(protocol, ("audio", "video"), resolve_point)[1:]
    batch = tiny_batch()
    runner = corrupt(batch, bind(condition), SEED).batch.inputs["audio"]
    first, second = condition.axes
    clip, snr = C.build("clipping", "audio", level=4), C.build("gaussian_snr", "audio", level=3)
    for row, sample_id in enumerate(batch.ids):
        x = clip(batch.inputs["audio"][row], seed=C.sample_seed(SEED, first.seed_key, sample_id))
        x = snr(x, seed=C.sample_seed(SEED, second.seed_key, sample_id))
        assert torch.equal(x, runner[row])


def test_seed_on_a_batch_gives_each_row_its_own_seed() -> None:
    x = tiny_batch(4).inputs["video"]
    noise = C.build("gaussian_noise", "video", level=2)
    out = noise.transform(x, seed=9)
    assert torch.equal(out.seeds, C.row_seeds(9, 4))
    assert len(set(out.seeds.tolist())) == 4
    assert torch.equal(out.x, noise(x, seeds=C.row_seeds(9, 4)))
    for row in range(4):
        assert torch.equal(out.x[row], noise(x[row], seed=int(out.seeds[row])))
    assert not torch.equal(out.x[0] - x[0], out.x[1] - x[1])  # rows draw different noise


def test_batch_size_independence_with_per_sample_seeds() -> None:
    x = tiny_batch(6).inputs["audio"]
    seeds = torch.arange(100, 106)
    for name in ("gaussian_snr", "time_mask", "reverb", "colored_noise"):
        c = C.build(name, "audio", level=3)
        whole = c(x, seeds=seeds, sample_rate=RATE)
        for rows in (slice(0, 1), slice(2, 5), slice(5, 6)):
            part = c(x[rows], seeds=seeds[rows], sample_rate=RATE)
            assert torch.equal(part, whole[rows]), (name, rows)


def test_no_seed_draws_fresh_seeds_from_torch_rng() -> None:
    x = tiny_batch(3).inputs["text"]
    c = C.build("feature_noise", "text", level=2)
    torch.manual_seed(3)
    first = c.transform(x)
    torch.manual_seed(3)
    again = c.transform(x)
    assert torch.equal(first.seeds, again.seeds) and torch.equal(first.x, again.x)
    assert torch.equal(first.x, c(x, seeds=first.seeds))
    assert not torch.equal(c.transform(x).x, first.x)


def test_compose_applies_members_in_order_with_derived_seeds() -> None:
    x = tiny_batch(4).inputs["audio"]
    clip = C.build("clipping", "audio", level=5)
    noise = C.build("gaussian_snr", "audio", level=3)
    forward, backward = C.Compose([clip, noise]), C.Compose([noise, clip])
    seeds = torch.tensor([3, 1, 4, 1])
    out = forward.transform(x, seeds=seeds)
    by_hand = noise(
        clip(x, seeds=derive_seeds(seeds, "compose", 0)), seeds=derive_seeds(seeds, "compose", 1)
    )
    assert torch.equal(out.x, by_hand)
    assert torch.equal(out.x, forward(x, seeds=seeds))  # deterministic
    assert not torch.equal(out.x, backward(x, seeds=seeds))  # order matters
    # clipping then noise leaves peaks above the clip level; noise then clipping does not
    peak = x.abs().amax(1)
    assert bool((backward(x, seeds=seeds).abs().amax(1) <= peak).all())
    assert bool((out.x.abs().amax(1) > 0.1 * peak).all())
    assert [r["corruption"] for r in out.records] == ["clipping"] * 4 + ["gaussian_snr"] * 4
    assert torch.equal(out.seeds, seeds)
    assert not torch.equal(out.x, forward(x, seeds=seeds + 1))
    one = forward(x[2], seed=4)
    assert torch.equal(one, out.x[2])  # row 2's seed is 4: one sample gives the same


def test_compose_carries_presence_and_checks_kinds() -> None:
    video = tiny_batch(8).inputs["video"]
    missing = C.build("missing", "video", p=0.5)
    chain = C.Compose([C.build("occlusion", "video", level=2), missing])
    out = chain.transform(video, seed=2)
    alone = missing.transform(video, seeds=derive_seeds(out.seeds, "compose", 1), kind="frames")
    assert torch.equal(out.present, alone.present) and 0 < int(out.present.sum()) < 8
    assert bool((out.x[~out.present] == 0).all())
    with pytest.raises(ConfigError, match="Compose: members take frames, waveform tensors"):
        C.Compose([C.build("occlusion", "video", level=2), C.build("clipping", "audio", level=1)])
    with pytest.raises(ConfigError, match="expected a non-empty list of corruptions"):
        C.Compose([])


def test_module_in_sequential_trains_and_matches_the_callable() -> None:
    x = tiny_batch(6).inputs["video"]
    blur = C.build("gaussian_blur", "video", level=2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        C.CorruptionModule(C.Compose([blur, C.build("gaussian_noise", "video", level=1)])),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 24 * 24, 2),
    )
    assert list(model[0].parameters()) == [] and model[0].state_dict() == {}
    assert "gaussian_blur[video].sigma_px=2" in repr(model)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3)
    labels = torch.tensor([0, 1] * 3)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    module = C.CorruptionModule(blur)
    torch.manual_seed(4)
    drawn = torch.randint(0, (1 << 63) - 1, (6,))
    torch.manual_seed(4)
    assert torch.equal(module(x), blur(x, seeds=drawn))
    assert torch.equal(module(x, torch.arange(6)), blur(x, seeds=torch.arange(6)))
    lowpass = C.CorruptionModule(C.build("lowpass", "audio", level=3), sample_rate=RATE)
    audio = tiny_batch(2).inputs["audio"]
    assert torch.equal(
        lowpass(audio), C.build("lowpass", "audio", level=3)(audio, sample_rate=RATE)
    )


def test_missing_on_a_bare_tensor_fills_and_returns_presence() -> None:
    audio = tiny_batch(10).inputs["audio"]
    gone = C.build("missing", "audio", p=0.5)
    out = gone.transform(audio, seed=1, kind="waveform")
    assert out.present.dtype == torch.bool and out.present.shape == (10,)
    assert 0 < int(out.present.sum()) < 10
    assert torch.equal(out.present, ~gone.absent(out.seeds))
    assert bool((out.x[~out.present] == 0).all())
    assert torch.equal(out.x[out.present], audio[out.present])
    assert [r["missing"] for r in out.records] == (~out.present).tolist()
    mean = C.build("missing", "audio", p=1.0, fill="mean", mean=0.25)
    assert bool((mean(audio, seed=0, kind="waveform") == 0.25).all())
    feature = C.build("missing", "audio", p=1.0, stage="feature")
    at_feature = feature.transform(audio, seed=0, kind="waveform")
    assert torch.equal(at_feature.x, audio) and not bool(at_feature.present.any())
    already = gone.transform(audio, seed=1, kind="waveform", present=torch.arange(10) % 2 == 0)
    assert not bool(already.present[1::2].any())
    assert [r["was_present"] for r in already.records] == [True, False] * 5
    single = gone.transform(audio[0], seed=5, kind="waveform")
    assert single.present.shape == () and single.x.shape == audio.shape[1:]
    with pytest.raises(ConfigError, match="missing: kind=None is invalid; a corruption of any"):
        gone(audio, seed=1)


def test_tensor_errors_are_one_line() -> None:
    snr = C.build("gaussian_snr", "audio", level=2)
    audio = tiny_batch(3).inputs["audio"]
    cases = [
        (
            lambda: snr(torch.zeros(2, 3, 4)),
            DataError,
            r"gaussian_snr: input \(2, 3, 4\) is invalid; expected a waveform tensor \(B, L\)",
        ),
        (lambda: snr(audio, seed=1, seeds=[1, 2, 3]), ConfigError, "give seed or seeds, not both"),
        (lambda: snr(audio, seeds=[1, 2]), DataError, "got 2 seeds for a batch of 3"),
        (lambda: snr(audio, seeds=[1.0, 2.0, 3.0]), ConfigError, "seeds of dtype torch.float32"),
        (lambda: snr(audio, seed=1.5), ConfigError, r"seed=1.5 is invalid; expected an integer"),
        (
            lambda: snr(audio, kind="frames"),
            ConfigError,
            r"kind='frames' is invalid; expected 'waveform' tensors \(B, L\)",
        ),
        (
            lambda: C.build("lowpass", "audio", level=2)(audio, seed=0),
            DataError,
            "lowpass: batch has no sample_rate; expected the audio rate in Hz",
        ),
        (lambda: snr.transform(audio, ids=["a"]), DataError, "got 1 ids for a batch of 3"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message) as info:
            call()
        assert "\n" not in str(info.value)


@settings(max_examples=15, deadline=None)
@given(
    batch=st.integers(1, 4),
    frames=st.integers(2, 6),
    height=st.integers(4, 20),
    width=st.integers(4, 20),
    seed=st.integers(0, 2**62),
    name=st.sampled_from(["occlusion", "frame_drop", "frame_freeze", "gaussian_noise"]),
)
def test_frames_any_shape_rows_equal_single_samples(
    batch: int, frames: int, height: int, width: int, seed: int, name: str
) -> None:
    x = torch.rand(batch, 3, frames, height, width, generator=torch.Generator().manual_seed(1))
    c = C.build(name, "video", level=3)
    out = c.transform(x, seed=seed)
    assert out.x.shape == x.shape and bool(((out.x >= 0) & (out.x <= 1)).all())
    for row in range(batch):
        assert torch.equal(out.x[row], c(x[row], seed=int(out.seeds[row])))


@settings(max_examples=15, deadline=None)
@given(
    length=st.integers(2, 40),
    dim=st.integers(1, 8),
    seed=st.integers(0, 2**62),
    name=st.sampled_from(["temporal_drop", "token_drop", "feature_noise"]),
)
def test_features_any_shape_is_deterministic(length: int, dim: int, seed: int, name: str) -> None:
    x = torch.randn(3, length, dim, generator=torch.Generator().manual_seed(2))
    c = C.build(name, "text", level=4)
    assert torch.equal(c(x, seed=seed), c(x, seed=seed))
    assert torch.equal(c(x[1], seed=seed), c(x[1:2], seeds=[seed])[0])


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_docs_training_loop_example_runs() -> None:
    blocks = python_blocks(ROOT / "docs" / "corruptions.md")
    assert blocks, "docs/corruptions.md has no python example"
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for block in blocks:
        exec(compile(block, "docs/corruptions.md", "exec"), namespace)  # noqa: S102
    assert namespace["losses"][-1] < namespace["losses"][0]
