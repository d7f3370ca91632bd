"""Missing modalities, subsets, train regimes and feature-stream corruptions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn_robust import corruptions as C

MODS = ("audio", "video", "text")


def batch_of(n: int, seed: int = 0, present: dict[str, torch.Tensor] | None = None) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    inputs = {
        "audio": torch.randn(n, 400, generator=gen) * 0.1,
        "video": torch.rand(n, 3, 2, 8, 8, generator=gen),
        "text": torch.randn(n, 10, 4, generator=gen) + 2.0,
    }
    return Batch(
        inputs=inputs,
        present=present or {m: torch.ones(n, dtype=torch.bool) for m in MODS},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"s{seed}-{i}" for i in range(n)),
        sample_rate=16000,
    )


def test_missing_at_input_fills_zeros_and_clears_presence() -> None:
    batch = batch_of(64)
    corruption = C.build("missing", "video", p=0.5)
    out, records = corruption.apply(batch, C.test_seeds(0, "m", batch.ids))
    gone = ~out.present["video"]
    assert corruption.touches == {"video"}
    assert [r["missing"] for r in records] == gone.tolist()
    assert 16 < int(gone.sum()) < 48
    assert float(out.inputs["video"][gone].abs().sum()) == 0.0
    assert torch.equal(out.inputs["video"][~gone], batch.inputs["video"][~gone])
    assert out.feature_fill == {}
    assert all(r["stage"] == "input" and r["fill"] == "zeros" for r in records)


def test_missing_at_feature_stage_keeps_inputs_and_sets_feature_fill() -> None:
    batch = batch_of(16)
    corruption = C.build("missing", "audio", p=1.0, stage="feature", fill="learned")
    out, records = corruption.apply(batch, C.test_seeds(0, "m", batch.ids))
    assert corruption.touches == frozenset()
    assert torch.equal(out.inputs["audio"], batch.inputs["audio"])
    assert not bool(out.present["audio"].any())
    assert out.feature_fill == {"audio": "learned"}
    assert all(r["missing"] and r["stage"] == "feature" for r in records)


def test_missing_mean_and_noise_fills() -> None:
    batch = batch_of(8)
    mean = torch.linspace(0, 1, 4)  # per feature dimension, broadcast over time
    out, _ = C.build("missing", "text", p=1.0, fill="mean", mean=mean).apply(batch, torch.arange(8))
    assert torch.equal(out.inputs["text"], mean.expand(8, 10, 4))
    out, _ = C.build("missing", "text", p=1.0, fill="noise", mean=2.0, std=0.5).apply(
        batch_of(64), torch.arange(64)
    )
    filled = out.inputs["text"]
    assert float(filled.mean()) == pytest.approx(2.0, abs=0.02)
    assert float(filled.std()) == pytest.approx(0.5, abs=0.02)
    out, _ = C.build("missing", "video", p=1.0, fill="noise", mean=0.5).apply(
        batch, torch.arange(8)
    )
    assert float(out.inputs["video"].min()) == 0.0 and float(out.inputs["video"].max()) == 1.0
    with pytest.raises(ConfigError, match="missing: fill='mean' at stage='input' needs mean="):
        C.build("missing", "text", p=1.0, fill="mean")
    with pytest.raises(DataError, match=r"missing: mean has shape \(3,\); expected one sample's"):
        C.build("missing", "text", p=1.0, fill="mean", mean=torch.zeros(3)).apply(
            batch, torch.arange(8)
        )


@settings(max_examples=20, deadline=None)
@given(low=st.floats(0.0, 1.0), high=st.floats(0.0, 1.0), seed=st.integers(0, 2**60))
def test_missing_is_nested_in_p_and_keeps_prior_absence(low: float, high: float, seed: int) -> None:
    low, high = sorted((low, high))
    present = {m: torch.ones(200, dtype=torch.bool) for m in MODS}
    present["audio"] = torch.arange(200) % 5 != 0
    batch = batch_of(200, present=present)
    seeds = C.test_seeds(seed, "missing[audio]", batch.ids)
    few, _ = C.build("missing", "audio", p=low, stage="feature").apply(batch, seeds)
    many, records = C.build("missing", "audio", p=high, stage="feature").apply(batch, seeds)
    assert bool((~few.present["audio"] <= ~many.present["audio"]).all())
    assert not bool(many.present["audio"][::5].any())
    absent_now = sum(r["missing"] for r in records) / 200
    assert abs(absent_now - high) < 4 * (high * (1 - high) / 200) ** 0.5 + 0.01
    assert [r["was_present"] for r in records] == present["audio"].tolist()


def test_subsets_enumerate_every_nonempty_subset() -> None:
    conditions = C.subsets(list(MODS), stage="feature")
    assert [c.name for c in conditions] == [
        "subset[audio+video+text]",
        "subset[audio+video]",
        "subset[audio+text]",
        "subset[video+text]",
        "subset[audio]",
        "subset[video]",
        "subset[text]",
    ]
    batch = batch_of(5)
    for condition in conditions:
        out, records = condition.apply(batch, C.test_seeds(0, condition.name, batch.ids))
        kept = {m for m in MODS if bool(out.present[m].all())}
        gone = {m for m in MODS if not bool(out.present[m].any())}
        assert kept == set(condition.present) and gone == set(MODS) - kept
        assert len(records) == 5 * len(gone)
        assert condition.touches == frozenset()
    assert C.subsets(["a", "b"], stage="input")[1].touches == {"b"}
    with pytest.raises(ConfigError, match="subsets: modalities=\\['a', 'a'\\]"):
        C.subsets(["a", "a"])


DROPOUT = [{"corruption": "missing", "modality": m, "p": 0.6, "stage": "feature"} for m in MODS]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**40), epoch=st.integers(0, 100))
def test_regime_keeps_one_modality_present(seed: int, epoch: int) -> None:
    present = {m: torch.rand(40, generator=torch.Generator().manual_seed(seed)) > 0.3 for m in MODS}
    present["text"] |= ~(present["audio"] | present["video"])  # every sample starts with one
    out = C.TrainRegime(DROPOUT, seed)(batch_of(40, present=present), epoch)
    alive = torch.stack([out.present[m] for m in MODS]).sum(0)
    assert int(alive.min()) >= 1
    assert int(alive.sum()) < 40 * 3  # p = 0.6 does remove modalities


def test_regime_depends_only_on_seed_epoch_and_id() -> None:
    specs = [
        {"corruption": "gaussian_snr", "modality": "audio", "p": 0.5, "levels": [1, 3]},
        {"corruption": "occlusion", "modality": "video", "p": 0.7, "values": [0.1, 0.3]},
        {"corruption": "missing", "modality": "text", "p": 0.3},
    ]
    regime = C.TrainRegime(specs, seed=4)
    batch = batch_of(24)
    full, records = regime.apply(batch, epoch=2)
    perm = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    for rows in (perm, torch.arange(5), torch.tensor([11])):
        part = regime(batch.select(rows), epoch=2)
        for m in MODS:
            assert torch.equal(part.inputs[m], full.inputs[m][rows])
            assert torch.equal(part.present[m], full.present[m][rows])
    again = C.TrainRegime(specs, seed=4)(batch, epoch=2)
    assert torch.equal(again.inputs["audio"], full.inputs["audio"])
    other = C.TrainRegime(specs, seed=4)(batch, epoch=3)
    assert not torch.equal(other.inputs["audio"], full.inputs["audio"])
    snr = [r for r in records if r["corruption"] == "gaussian_snr"]
    assert {r["value"] for r in snr} <= {30.0, 20.0, 10.0} and 4 <= len(snr) <= 20
    assert {r["value"] for r in records if r["corruption"] == "occlusion"} <= {0.1, 0.3}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"corruption": "fog", "modality": "video"}, "unknown corruption 'fog'; expected one of"),
        ({"modality": "video"}, "train regime spec 0: {'modality': 'video'}; expected a mapping"),
        ({"corruption": "occlusion", "modality": "video"}, "spec 0: occlusion needs levels"),
        ({"corruption": "occlusion", "modality": "video", "levels": [3, 1]}, "levels=[3, 1]"),
        ({"corruption": "occlusion", "modality": "video", "p": 2, "level": 1}, "p=2 is invalid"),
        ({"corruption": "occlusion", "modality": "video", "values": [2.0]}, "fraction=2.0 out of"),
    ],
)
def test_regime_spec_errors(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        C.TrainRegime([spec], seed=0)
    assert message in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=20, deadline=None)
@given(fraction=st.floats(0.0, 1.0), seed=st.integers(0, 2**60))
def test_temporal_drop_counts_and_blocks(fraction: float, seed: int) -> None:
    batch = batch_of(3)
    expected = round(fraction * 10)
    for mode in ("random", "block"):
        corruption = C.build("temporal_drop", "text", fraction=fraction, mode=mode)
        out, records = corruption.apply(batch, torch.tensor([seed, seed + 1, seed + 2]))
        zeroed = (out.inputs["text"] == 0).all(-1)
        assert zeroed.sum(-1).tolist() == [0 if corruption.is_identity else expected] * 3
        if mode == "block" and expected:
            steps = torch.nonzero(zeroed[0]).flatten()
            assert int(steps[-1] - steps[0]) == expected - 1


def test_token_drop_uses_unknown_vector_at_the_drop_rate() -> None:
    batch = batch_of(50)
    unk = torch.tensor([9.0, -9.0, 9.0, -9.0])
    out, records = C.build("token_drop", "text", fraction=0.3, unk=unk).apply(
        batch, torch.arange(50)
    )
    replaced = (out.inputs["text"] == unk).all(-1)
    assert [r["steps"] for r in records] == replaced.sum(-1).tolist()
    assert float(replaced.float().mean()) == pytest.approx(0.3, abs=0.06)


def test_feature_noise_scales_with_the_sample_std() -> None:
    batch = batch_of(32).with_inputs(
        text=torch.randn(32, 50, 8) * torch.linspace(0.1, 3, 32)[:, None, None]
    )
    out, records = C.build("feature_noise", "text", std_multiple=0.5).apply(batch, torch.arange(32))
    noise_std = (out.inputs["text"] - batch.inputs["text"]).flatten(1).std(1)
    sample_std = batch.inputs["text"].flatten(1).std(1)
    assert torch.allclose(noise_std / sample_std, torch.full((32,), 0.5), atol=0.05)
    assert all(abs(r["snr_db_realised"] - 6.02) < 0.8 for r in records)
