"""Fusion behaviour: per-sample independence, α normalisation, options, feature fill, MFCC."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError
from tacfn.data.info import DatasetInfo
from tacfn.models import build_model, list_models
from tacfn.models.mfcc import MFCC

INFO = DatasetInfo(
    "tiny",
    ("audio", "video"),
    {"audio": "waveform", "video": "frames"},
    {"audio": (4000,), "video": (3, 16, 64, 64)},
    8,
    tuple("abcdefgh"),
    sample_rate=8000,
)
MODELS = list_models(INFO)  # every registered model and each modality's unimodal reference


def _batch(n: int = 4, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    inputs = {
        "audio": torch.randn(n, 4000, generator=gen) * 0.1,
        "video": torch.rand(n, 3, 16, 64, 64, generator=gen),
    }
    present = {m: torch.ones(n, dtype=torch.bool) for m in inputs}
    return Batch(inputs, present, torch.zeros(n, dtype=torch.long), tuple(map(str, range(n))))


def _changed_sample_one(batch: Batch) -> Batch:
    audio, video = batch.inputs["audio"].clone(), batch.inputs["video"].clone()
    audio[1] = audio[1] * 5 + 0.3
    video[1] = 1 - video[1]
    return batch.with_inputs(audio=audio, video=video)


@pytest.mark.parametrize("name", MODELS)
def test_eval_output_of_sample_zero_ignores_the_rest_of_the_batch(name: str) -> None:
    model = build_model(name, INFO, "cpu", seed=0).eval()
    batch = _batch()
    with torch.inference_mode():
        before, after = model(batch), model(_changed_sample_one(batch))
        alone = model(batch.select([0]))
    assert not torch.allclose(before[1], after[1])
    torch.testing.assert_close(before[0], after[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(before[0], alone[0], rtol=1e-4, atol=1e-4)


def test_legacy_batch_sum_makes_sample_zero_depend_on_sample_one() -> None:
    model = build_model("tacfn", INFO, "cpu", seed=0, legacy_batch_sum=True).eval()
    batch = _batch()
    with torch.inference_mode():
        before, after = model(batch), model(_changed_sample_one(batch))
        _, (alpha,) = model.apply_blocks(model.encode(batch.inputs))
        _, (changed,) = model.apply_blocks(model.encode(_changed_sample_one(batch).inputs))
    assert (before[0] - after[0]).abs().max() > 1e-5
    assert (alpha[0] - changed[0]).abs().max() > 1e-3
    torch.testing.assert_close(alpha.sum(-1), torch.full((4, 2), 4.0))  # the map scales with B


@pytest.mark.parametrize(
    ("axis", "shape"), [("spatial", (4, 2, 16)), ("spatiotemporal", (4, 1, 32))]
)
def test_alpha_sums_to_one_over_each_softmax_group(axis: str, shape: tuple[int, ...]) -> None:
    model = build_model("tacfn", INFO, "cpu", seed=0, softmax_axis=axis).eval()
    feats = model.encode(_batch().inputs)
    assert feats["video"].shape == (4, 64, 2, 4, 4)
    with torch.inference_mode():
        _, (alpha,) = model.apply_blocks(feats)
    assert alpha.shape == shape and (alpha >= 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(shape[:2]))


def test_channel_softmax_and_gain_and_residual_reshape_the_reinforcement() -> None:
    feats = build_model("tacfn", INFO, "cpu", seed=0).eval().encode(_batch().inputs)
    x = feats["video"]
    for options in ({}, {"gain": "size"}, {"gain": 3.0}, {"residual": False}, {"causal": True}):
        model = build_model("tacfn", INFO, "cpu", seed=0, **options).eval()
        with torch.inference_mode():
            fused, (alpha,) = model.apply_blocks(feats)
        gain = {"size": 16.0, 3.0: 3.0}.get(options.get("gain"), 1.0)
        weight = gain * alpha.view(4, 2, 4, 4)[:, None] + (
            0 if options == {"residual": False} else 1
        )
        torch.testing.assert_close(fused["video"], x * weight)
    channels = build_model("tacfn", INFO, "cpu", seed=0, softmax_axis="channels").eval()
    with torch.inference_mode():
        _, (alpha,) = channels.apply_blocks(feats)
    assert alpha.shape == (4, 1, 32, 64)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(4, 1, 32))


def test_mean_selection_and_zero_init_cross_attention() -> None:
    batch = _batch()
    cross = build_model("cross_attention", INFO, "cpu", seed=0, zero_init=True).eval()
    concat = build_model("concat", INFO, "cpu", seed=0).eval()
    concat.load_state_dict(cross.state_dict(), strict=False)
    with torch.inference_mode():
        torch.testing.assert_close(cross(batch), concat(batch))
    last = build_model("tacfn", INFO, "cpu", seed=0).eval()
    mean = build_model("tacfn", INFO, "cpu", seed=0, select="mean").eval()
    with torch.inference_mode():
        assert not torch.allclose(last(batch), mean(batch))


def _absent(batch: Batch, modality: str, rows: list[int]) -> Batch:
    mask = torch.ones(len(batch), dtype=torch.bool)
    mask[rows] = False
    return batch.with_present(**{modality: mask})


@pytest.mark.parametrize("mode", ["zeros", "mean", "noise", "learned"])
def test_feature_fill_replaces_only_absent_samples(mode: str) -> None:
    model = build_model("tacfn", INFO, "cpu", seed=0, learned_fill=True)
    model.train()
    model(_batch(8, seed=1))  # one train step updates the running statistics
    model.eval()
    batch = _absent(_batch(), "audio", [1, 3])
    with torch.no_grad():
        feats = model.encode(batch.inputs)
    seeds = torch.arange(len(batch), dtype=torch.int64) * 7919
    filled = model.fill(feats, batch.present, {"audio": mode}, seeds)["audio"]
    torch.testing.assert_close(filled[[0, 2]], feats["audio"][[0, 2]])
    stats, shape = model.fill.stats["audio"], (2, *model.feature_shapes["audio"])
    assert shape == (2, 3, 32)
    expected = {
        "zeros": torch.zeros(shape),
        "mean": stats.mean.expand(shape),
        "learned": model.fill.tokens["audio"].detach().expand(shape),
    }
    if mode == "noise":  # Gaussian around the running mean, drawn from each sample's seed
        z = (filled[[1, 3]] - stats.mean) / stats.var.sqrt()
        assert abs(float(z.mean())) < 0.3 and 0.7 < float(z.std()) < 1.3
        again = model.fill(feats, batch.present, {"audio": mode}, seeds)["audio"]
        assert torch.equal(again, filled)
        one = model.fill(
            {"audio": feats["audio"][[3]]},
            {"audio": batch.present["audio"][[3]]},
            {"audio": mode},
            seeds[[3]],
        )["audio"]
        assert torch.equal(one[0], filled[3])  # a row's noise depends on its own seed only
        other = model.fill(feats, batch.present, {"audio": mode}, seeds + 1)["audio"]
        assert not torch.equal(other[[1, 3]], filled[[1, 3]])
        with pytest.raises(ConfigError, match="needs per-sample fill seeds"):
            model.fill(feats, batch.present, {"audio": mode})
    else:
        torch.testing.assert_close(filled[[1, 3]], expected[mode])
    assert stats.mean.abs().sum() > 0  # the train-mode pass moved the running mean


def test_feature_fill_is_used_by_forward_and_checks_modes() -> None:
    model = build_model("concat", INFO, "cpu", seed=0).eval()
    batch = _absent(_batch(), "video", [0])
    with torch.inference_mode():
        given = model(batch)
        zeros = model(batch.with_feature_fill(video="zeros"))
    assert not torch.allclose(given[0], zeros[0])
    torch.testing.assert_close(given[1:], zeros[1:])
    with pytest.raises(ConfigError, match="learned_fill=True"):
        model(batch.with_feature_fill(video="learned"))
    with pytest.raises(ConfigError, match="mode 'ones'; expected one of: zeros, mean"):
        model(batch.with_feature_fill(video="ones"))


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(1e-4, 100.0), other=st.floats(1e-4, 100.0))
def test_mfcc_floor_is_per_sample(scale: float, other: float) -> None:
    mfcc = MFCC(8000, 4000, n_fft=256, hop_length=128, n_mels=32)
    gen = torch.Generator().manual_seed(0)
    clip = torch.randn(1, 4000, generator=gen) * scale
    clip[:, 2000:] = 0  # silence: the dB floor decides these frames
    loud = torch.randn(1, 4000, generator=gen) * other
    alone = mfcc(clip)
    together = mfcc(torch.cat([clip, loud]))[:1]
    assert alone.shape == (1, 13, 32)
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-3)
