"""Trainer: determinism, divergence, logs and checkpoints, selection, prediction, learning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError
from tacfn.data.base import EmotionDataset
from tacfn.data.info import DatasetInfo, Split
from tacfn.models import build_model, list_models
from tacfn.train import TrainConfig, TrainingDiverged, classification_loss, fit, predict

CLASSES = 4
INFO = DatasetInfo(
    "tiny",
    ("audio", "video"),
    {"audio": "waveform", "video": "frames"},
    {"audio": (4000,), "video": (3, 8, 32, 32)},
    CLASSES,
    tuple("abcd"),
    sample_rate=8000,
)


def tiny_dataset(n: int = 96, seed: int = 0) -> EmotionDataset:
    """Class k: a tone at 300·(k+1) Hz and a bright square in image quadrant k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    t = np.arange(4000) / 8000
    audio = np.stack([0.3 * np.sin(2 * np.pi * 300 * (k + 1) * t) for k in labels])
    audio += 0.1 * rng.standard_normal(audio.shape)
    video = 0.2 * rng.random((n, 3, 8, 32, 32))
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 2)
        video[i, :, :, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16] += 0.7
    actors = np.arange(n) // (n // 8)
    return EmotionDataset(
        INFO,
        {"audio": torch.tensor(audio, dtype=torch.float32), "video": torch.tensor(video).float()},
        torch.tensor(labels),
        [f"clip{i:03d}" for i in range(n)],
        pd.DataFrame({"actor": actors}),
        groups=actors,
    )


@pytest.fixture(scope="module")
def data() -> EmotionDataset:
    return tiny_dataset()


@pytest.fixture(scope="module")
def split() -> Split:
    idx = np.arange(96)
    return Split("fold0", idx[:64], idx[64:80], idx[80:])


def test_two_identical_runs_give_identical_weights(data, split) -> None:
    config = TrainConfig(epochs=2, batch_size=16, seed=3, device="cpu", select="val_acc")
    runs = [fit(build_model("tacfn", INFO, seed=1), data, split, config) for _ in range(2)]
    first, second = (r.state_dict for r in runs)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    cols = ["train_loss", "val_loss", "val_acc"]
    pd.testing.assert_frame_equal(runs[0].log[cols], runs[1].log[cols])
    other = fit(
        build_model("tacfn", INFO, seed=1),
        data,
        split,
        config.__class__(epochs=2, batch_size=16, seed=4, device="cpu"),
    )
    assert not torch.equal(other.state_dict["classifier.weight"], first["classifier.weight"])


def test_nan_loss_raises_training_diverged_naming_epoch_and_step(data, split) -> None:
    def poison(batch: Batch, epoch: int) -> Batch:
        if epoch == 2:
            return batch.with_inputs(audio=torch.full_like(batch.inputs["audio"], math.nan))
        return batch

    config = TrainConfig(epochs=3, batch_size=16, device="cpu")
    with pytest.raises(TrainingDiverged, match="loss nan at epoch 2, step 1") as info:
        fit(build_model("concat", INFO, seed=0), data, split, config, batch_transform=poison)
    assert (info.value.epoch, info.value.step) == (2, 1)


def test_log_checkpoint_selection_and_legacy_accuracy(data, split, tmp_path) -> None:
    rows = []
    config = TrainConfig(
        epochs=3, batch_size=16, device="cpu", select="val_acc", legacy_test_eval=True
    )
    model = build_model("concat", INFO, seed=0)
    result = fit(model, data, split, config, out_dir=tmp_path, progress=rows.append)
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert list(log.columns) == [
        "stage", "epoch", "train_loss", "train_acc", "val_loss", "val_acc",
        "legacy_test_acc", "lr", "seconds",
    ]  # fmt: skip
    assert log["epoch"].tolist() == [1, 2, 3] and len(rows) == 3
    assert result.best_epoch == int(log.loc[log["val_acc"].idxmax(), "epoch"])
    assert result.legacy_max_test_acc == pytest.approx(log["legacy_test_acc"].max())
    saved = torch.load(result.checkpoint, weights_only=True)
    assert saved["best_epoch"] == result.best_epoch
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in model.state_dict().items())
    logits = predict(model, data, split.val, batch_size=5)
    val_acc = float((logits.argmax(1) == data.labels[split.val]).float().mean())
    assert val_acc == pytest.approx(log.loc[result.best_epoch - 1, "val_acc"])
    batches = predict(model, data.iter_batches(split.val, 7))
    torch.testing.assert_close(logits, batches)


def test_legacy_accuracy_is_none_by_default_and_schedules_move_lr(data, split) -> None:
    config = TrainConfig(epochs=2, batch_size=32, device="cpu", schedule="cosine", lr=0.01)
    result = fit(build_model("audio_only", INFO, seed=0), data, split, config)
    assert result.legacy_max_test_acc is None
    assert result.log["legacy_test_acc"].isna().all()
    assert result.log["lr"].tolist() == pytest.approx([0.01, 0.005])


def test_pretraining_trains_each_encoder_first(data, split) -> None:
    config = TrainConfig(epochs=1, pretrain_epochs=2, batch_size=32, device="cpu")
    result = fit(build_model("tacfn", INFO, seed=0), data, split, config)
    assert result.log["stage"].tolist() == [
        "pretrain:audio", "pretrain:audio", "pretrain:video", "pretrain:video", "fusion",
    ]  # fmt: skip


def test_multilabel_loss_is_cross_entropy_over_b_times_k() -> None:
    logits = torch.randn(3, 4, 2)
    labels = torch.randint(0, 2, (3, 4))
    expected = torch.nn.functional.cross_entropy(logits.reshape(12, 2), labels.reshape(12))
    torch.testing.assert_close(classification_loss(logits, labels), expected)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="train.optimizer='sgd'; expected one of: adam, adamw"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ConfigError, match="train.epochs=0"):
        TrainConfig(epochs=0)
    empty = Split("f", np.arange(4), np.arange(0), np.arange(4, 8))
    with pytest.raises(ConfigError, match="needs a validation split"):
        fit(build_model("audio_only", INFO), tiny_dataset(8), empty, TrainConfig(device="cpu"))


def test_tacfn_learns_the_tiny_set_well_above_chance(data, split) -> None:
    config = TrainConfig(epochs=6, batch_size=16, device="cpu", lr=3e-3)
    model = build_model("tacfn", INFO, seed=0)
    fit(model, data, split, config)
    logits = predict(model, data, split.test)
    assert float((logits.argmax(1) == data.labels[split.test]).float().mean()) >= 0.75


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_every_model_beats_chance_clearly_on_the_synthetic_set(name: str) -> None:
    from tacfn.data import build_dataset

    dataset = build_dataset("synthetic", size=32)  # as the shipped protocols render it
    split = dataset.splits(3)[0]
    model = build_model(name, dataset.info, "cpu", seed=0)
    fit(model, dataset, split, TrainConfig(epochs=10, batch_size=32, lr=2e-3, device="cpu"))
    logits = predict(model, dataset, split.test)
    accuracy = float((logits.argmax(1) == dataset.labels[split.test]).float().mean())
    assert accuracy >= 3 / dataset.info.num_classes  # chance is 1/8
