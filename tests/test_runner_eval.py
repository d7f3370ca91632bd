"""Encoder-output reuse gives exactly the logits of the naive full forward per condition."""

from __future__ import annotations

import pytest
import torch
import yaml

from tacfn_robust.protocols import load_protocol
from tacfn_robust.protocols.conditions import bind, corrupt, resolve_point
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.evaluate import evaluate
from tacfn_robust.protocols.fills import TrainMeans
from tacfn_robust.protocols.grid import TrainCell, expand_conditions
from tacfn_robust.protocols.training import build_cell_model

SWEEPS = [
    {"corruption": "missing", "modality": "audio", "values": [0.0, 0.5]},
    {"corruption": "missing", "modality": "video", "values": [1.0], "stage": "feature"},
    {"corruption": "gaussian_snr", "modality": "audio", "levels": [2]},
    {"corruption": "occlusion", "modality": "video", "levels": [3]},
    {"corruption": "missing", "modality": "audio", "values": [1.0], "fill": "mean"},
    {"kind": "subsets", "fill": "mean", "stage": "input"},
]


@pytest.fixture(scope="module")
def setup():
    sweeps = yaml.safe_dump(SWEEPS, default_flow_style=True).strip()
    protocol = load_protocol("smoke", [f"test.sweeps={sweeps}"])
    dataset = load_dataset(protocol.dataset)
    split = fold_split(dataset, protocol.dataset, 0)
    test = split.test[::5]  # 24 clips of 2 actors
    conditions = expand_conditions(protocol, dataset.info.modalities, resolve_point)
    return protocol, dataset, test, conditions, TrainMeans(dataset, split.train)


@pytest.mark.parametrize("model_name", ["tacfn", "concat"])
def test_reuse_equals_naive_exactly(setup, model_name: str) -> None:
    protocol, dataset, test, conditions, means = setup
    model = build_cell_model(protocol, TrainCell(model_name, "clean", 0, 0), dataset.info)
    reused = evaluate(model, dataset, test, conditions, seed=3, batch_size=12, means=means)
    naive = evaluate(
        model, dataset, test, conditions, seed=3, batch_size=12, reuse=False, means=means
    )
    assert len(conditions) == 9  # the p=0 identity point is a condition of its own
    for condition in conditions:
        a, labels_a = reused[condition.id].stacked()
        b, labels_b = naive[condition.id].stacked()
        assert a.shape == (len(test), dataset.info.num_classes)
        assert torch.equal(a, b), condition.id
        assert torch.equal(labels_a, labels_b)
        assert reused[condition.id].ids == naive[condition.id].ids


def test_reuse_encodes_only_touched_modalities(setup) -> None:
    protocol, dataset, test, conditions, means = setup
    model = build_cell_model(protocol, TrainCell("concat", "clean", 0, 0), dataset.info)
    calls: list[str] = []
    encode = model.encode_modality

    def counted(name: str, x: torch.Tensor) -> torch.Tensor:
        calls.append(name)
        return encode(name, x)

    model.encode_modality = counted
    evaluate(model, dataset, test, conditions, seed=0, batch_size=len(test), means=means)
    touched = {m: 0 for m in ("audio", "video")}
    for condition in conditions:
        for m in bind(condition, means).touches:
            touched[m] += 1
    # audio: p=.5, snr, fill=mean p=1, subset[video]; video: occlusion, subset[audio]
    assert touched == {"audio": 4, "video": 2}
    assert calls.count("audio") == 1 + touched["audio"]
    assert calls.count("video") == 1 + touched["video"]
    assert len(calls) < 2 * len(conditions)


def test_predictions_do_not_depend_on_batch_size(setup) -> None:
    protocol, dataset, test, conditions, means = setup
    model = build_cell_model(protocol, TrainCell("tacfn", "clean", 1, 0), dataset.info)
    big = evaluate(model, dataset, test, conditions, seed=5, batch_size=len(test), means=means)
    small = evaluate(model, dataset, test, conditions, seed=5, batch_size=5, means=means)
    for condition in conditions:
        torch.testing.assert_close(
            big[condition.id].stacked()[0], small[condition.id].stacked()[0], rtol=1e-4, atol=1e-5
        )


def test_mean_fill_puts_the_training_mean_in_place_of_the_input(setup) -> None:
    protocol, dataset, test, conditions, means = setup
    by_id = {c.id: c for c in conditions}
    assert "missing[audio;fill=mean].p=1" in by_id and "subset[audio;fill=mean]" in by_id
    batch = dataset.batch(test[:6])
    audio = corrupt(batch, bind(by_id["missing[audio;fill=mean].p=1"], means), seed=0).batch
    assert means["audio"].shape == batch.inputs["audio"].shape[1:]
    assert torch.equal(audio.inputs["audio"], means["audio"].expand(6, -1))
    assert not audio.present["audio"].any() and torch.equal(
        audio.inputs["video"], batch.inputs["video"]
    )
    video = corrupt(batch, bind(by_id["subset[audio;fill=mean]"], means), seed=0)
    assert torch.equal(video.batch.inputs["video"], means["video"].expand_as(batch.inputs["video"]))
    assert video.touched == {"video"} and not video.batch.present["video"].any()
    assert {r["text"] for r in video.records if r["field"] == "modality"} == {"video"}
    assert {r["text"] for r in video.records if r["field"] == "fill"} == {"mean"}
    train = fold_split(dataset, protocol.dataset, 0).train
    torch.testing.assert_close(means["video"], dataset.batch(train).inputs["video"].mean(0))
