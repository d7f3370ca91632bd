"""Hostile models, data sets and corruptions at evaluation: every result either honest or a
named failure, never a silent wrong number.

Plug-ins are registered in this process for this module's tests (a tiny data set of two
feature streams, plain and split models with a `hostile` option, corruptions) and run through
the smallest protocol (one epoch, one seed, one fold) in process, or evaluated directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tacfn.core import store
from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError, DataError
from tacfn.data import DATASETS, DatasetInfo, EmotionDataset
from tacfn.data.info import Split
from tacfn.models import MODELS
from tacfn_robust.cli import main
from tacfn_robust.corruptions import CORRUPTIONS
from tacfn_robust.corruptions.base import Corruption
from tacfn_robust.protocols import run_protocol, validate
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.evaluate import evaluate
from tacfn_robust.protocols.grid import TrainCell, expand_conditions
from tacfn_robust.protocols.training import build_cell_model

CLASSES = ("calm", "happy", "sad", "angry")
SPEAKERS, PER_CLASS, STEPS, DIM = 4, 3, 4, 6
# fold 0 of 2 tests speakers 0 and 1 (samples 0..23), validates on 2 and trains on 3
FIRST_TEST, LAST_TRAIN = 0, SPEAKERS * len(CLASSES) * PER_CLASS - 1
MISSING = {"corruption": "missing", "modality": "audio", "param": "p", "values": [0.0, 1.0]}
PEEKS: list[bool] = []  # whether each forward of the peeking model was given labels


def load_hostile(hostile: str = "none") -> EmotionDataset:
    """Two feature streams (audio, text) with a class-dependent mean, folds by speaker; one
    `hostile` defect."""
    rng = np.random.default_rng(0)
    rows = [(s, c) for s in range(SPEAKERS) for c in range(len(CLASSES)) for _ in range(PER_CLASS)]
    speaker = np.array([s for s, _ in rows])
    labels = torch.tensor([c for _, c in rows])
    centres = rng.normal(0.0, 1.0, (len(CLASSES), DIM))
    inputs = {
        m: torch.from_numpy(
            (centres[labels][:, None, :] + rng.normal(0, 1, (len(rows), STEPS, DIM))).astype(
                np.float32
            )
        )
        for m in ("audio", "text")
    }
    given = None
    if hostile == "nan_test_input":
        inputs["audio"][FIRST_TEST, 1, 2] = float("nan")
    elif hostile == "inf_train_input":
        inputs["text"][LAST_TRAIN, 0, 0] = float("inf")
    elif hostile == "test_label_out_of_range":
        labels[FIRST_TEST] = len(CLASSES)
    elif hostile == "train_label_ignored":
        labels[LAST_TRAIN] = -100  # cross-entropy's ignore_index
    elif hostile == "int32_labels":
        labels = labels.int()
    elif hostile == "test_is_train":
        every = np.arange(len(rows))
        given = Split("given", every, np.array([], dtype=np.int64), every)
    elif hostile == "no_train":
        given = Split("given", np.array([], dtype=np.int64), np.arange(12), np.arange(12, 48))
    elif hostile == "val_in_test":
        given = Split("given", np.arange(24), np.arange(24, 36), np.arange(30, 48))
    info = DatasetInfo(
        "hostile_toy",
        ("audio", "text"),
        {"audio": "features", "text": "features"},
        {"audio": (STEPS, DIM), "text": (STEPS, DIM)},
        len(CLASSES),
        CLASSES,
    )
    ids = [f"toy/{i:03d}" for i in range(len(rows))]
    meta = pd.DataFrame({"speaker": speaker})
    groups = None if given is not None else speaker
    return EmotionDataset(info, inputs, labels, ids, meta, groups=groups, given_split=given)


class Plain(nn.Module):
    """The minimal contract (Batch -> logits), with one `hostile` behaviour."""

    def __init__(self, info: DatasetInfo, hostile: str = "none") -> None:
        super().__init__()
        self.modalities, self.hostile = tuple(info.modalities), hostile
        self.project = nn.ModuleDict({m: nn.Linear(DIM, 8) for m in self.modalities})
        self.classify = nn.Linear(8, info.num_classes)

    def forward(self, batch: Batch) -> Any:
        if self.hostile == "peek":
            PEEKS.append(batch.labels is not None)
            if batch.labels is not None:
                return 10.0 * F.one_hot(batch.labels, len(CLASSES)).float()
        parts = [
            torch.relu(self.project[m](batch.inputs[m].mean(1))) * batch.present[m][:, None]
            for m in self.modalities
        ]
        logits = self.classify(sum(parts))
        absent = ~batch.present["audio"]
        if self.hostile in ("nan_when_absent", "inf_when_absent") and bool(absent.any()):
            bad = float("nan") if self.hostile == "nan_when_absent" else float("inf")
            logits = torch.where(absent[:, None], torch.full_like(logits, bad), logits)
        elif self.hostile == "extra_class" or self.hostile == "extra_when_absent" and absent.any():
            logits = torch.cat([logits, logits[:, :1]], 1)
        elif self.hostile == "fewer_classes":
            logits = logits[:, :-1]
        elif self.hostile == "tuple":
            return (logits,)
        elif self.hostile == "mutate":
            for x in batch.inputs.values():
                x.add_(1.0)
            for mask in batch.present.values():
                mask.fill_(False)
        return logits


class SplitModel(nn.Module):
    """The encode/fuse split (encoder-output reuse, feature-stage fill: absent samples' features
    are zeros), with one `hostile` behaviour."""

    def __init__(self, info: DatasetInfo, hostile: str = "none") -> None:
        super().__init__()
        self.modalities, self.hostile = tuple(info.modalities), hostile
        self.project = nn.ModuleDict({m: nn.Linear(DIM, 8) for m in self.modalities})
        self.classify = nn.Linear(8, info.num_classes)

    def encode_modality(self, name: str, x: torch.Tensor) -> torch.Tensor:
        feats = torch.relu(self.project[name](x.mean(1)))
        if self.hostile == "mutate":
            x.mul_(-1.0)
        return feats

    def fuse(
        self,
        feats: dict[str, torch.Tensor],
        present: dict[str, torch.Tensor],
        feature_fill: dict[str, str],
        fill_seeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = self.classify(sum(feats[m] * present[m][:, None] for m in self.modalities))
        if self.hostile == "mutate":
            for f in feats.values():
                f.mul_(3.0)
            for mask in present.values():
                mask.fill_(False)
        return logits

    def forward(self, batch: Batch) -> torch.Tensor:
        feats = {m: self.encode_modality(m, batch.inputs[m]) for m in self.modalities}
        return self.fuse(feats, batch.present, batch.feature_fill, batch.fill_seeds)


def plain_by_function(info: DatasetInfo, hostile: str = "none") -> nn.Module:
    """A plain model built by a function: its class is known only once built."""
    return Plain(info, hostile)


class NanOut(Corruption):
    """Puts NaN into the first value of every sample (a broken plug-in corruption)."""

    name = "hostile_nan_out"
    kind = "features"
    param = "fraction"
    unit = "fraction of samples"
    levels = (0.2, 0.4, 0.6, 0.8, 1.0)
    identity = 0.0
    bounds = (0.0, 1.0)

    def corrupt(self, x, seeds, batch):
        out = x.clone()
        out[:, 0, 0] = float("nan")
        return out, [{} for _ in seeds]


class InPlace(Corruption):
    """Scales its input in place and returns it (a careless plug-in corruption)."""

    name = "hostile_in_place"
    kind = "features"
    param = "scale"
    unit = "x"
    levels = (2.0, 3.0, 4.0, 5.0, 6.0)
    identity = 1.0
    bounds = (0.0, 10.0)

    def corrupt(self, x, seeds, batch):
        return x.mul_(self.value), [{} for _ in seeds]


@pytest.fixture(scope="module", autouse=True)
def plugins() -> Iterator[None]:
    """The hostile plug-ins, registered for this module's tests only (other tests list the
    registries' names)."""
    entries = [
        (DATASETS, "hostile_toy", load_hostile),
        (MODELS, "hostile_plain", Plain),
        (MODELS, "hostile_split", SplitModel),
        (MODELS, "hostile_plain_fn", plain_by_function),
        (CORRUPTIONS, NanOut.name, NanOut),
        (CORRUPTIONS, InPlace.name, InPlace),
    ]
    with pytest.MonkeyPatch.context() as patch:
        for registry, name, obj in entries:
            patch.setitem(registry._objects, name, obj)
        yield


def protocol(
    hostile_model: str = "none",
    model: str = "hostile_plain",
    sweeps: list[dict[str, Any]] | None = None,
    data: str = "none",
    regime: list[dict[str, Any]] | None = None,
) -> Any:
    """The smallest protocol: one model entry, one epoch, one seed, fold 0."""
    dataset: dict[str, Any] = {"name": "hostile_toy", "options": {"hostile": data}}
    if data not in ("test_is_train", "no_train", "val_in_test"):
        dataset["folds"] = 2
    return validate(
        {
            "name": "hostile",
            "dataset": dataset,
            "models": [{"name": "m", "model": model, "options": {"hostile": hostile_model}}],
            "train": {
                "epochs": 1,
                "batch_size": 8,
                "lr": 0.01,
                "select": "last",
                "regimes": {"clean": regime or []},
            },
            "test": {"batch_size": 8, "sweeps": [MISSING] if sweeps is None else sweeps},
            "seeds": [0],
            "folds": [0],
            "executor": {"threads": 1},
        }
    )


def run_cell(p: Any, out: Path) -> dict[str, Any]:
    """Run the protocol's one cell in process; its cell.json."""
    (cell,) = run_protocol(p, out, workers=1, executor="local", report=False).cells
    return cell


def evaluated(p: Any, model: nn.Module) -> dict[str, torch.Tensor]:
    """Condition id -> logits of fold 0's test samples (untrained model)."""
    dataset = load_dataset(p.dataset)
    split = fold_split(dataset, p.dataset, 0)
    conditions = expand_conditions(p, dataset.info.modalities, resolve_point)
    outputs = evaluate(model, dataset, split.test, conditions, seed=0, batch_size=8)
    return {c: o.stacked()[0] for c, o in outputs.items()}


def built(p: Any) -> nn.Module:
    return build_cell_model(p, TrainCell("m", "clean", 0, 0), load_dataset(p.dataset).info)


# --- non-finite logits, inputs and corruption outputs -------------------------------------


@pytest.mark.parametrize(
    ("hostile", "found"),
    [
        ("nan_when_absent", "the model's logits hold 32 NaN/Inf values in 8 of 8 samples"),
        ("inf_when_absent", "the model's logits hold 32 NaN/Inf values in 8 of 8 samples"),
    ],
)
def test_non_finite_logits_fail_the_cell_naming_the_condition(sentinel, hostile, found) -> None:
    cell = run_cell(protocol(hostile), sentinel / "run")
    assert cell["status"] == "failed"
    assert cell["error"] == (
        f"DataError: condition 'missing[audio].p=1': {found}; expected finite logits"
    )


def test_nan_test_input_is_refused_when_the_data_set_loads(sentinel, capsys) -> None:
    (sentinel / "p.yaml").write_text(
        "name: hostile\n"
        "dataset: {name: hostile_toy, folds: 2, options: {hostile: nan_test_input}}\n"
        "models: [hostile_plain]\n"
        "train: {epochs: 1, batch_size: 8, select: last}\n"
        "seeds: [0]\nfolds: [0]\nexecutor: {threads: 1}\n"
    )
    assert main(["run", "p.yaml", "--out", "run", "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: data set 'hostile_toy': modality 'audio': 1 NaN/Inf values; expected finite numbers"
    )
    assert not (sentinel / "run" / "store").exists()


def test_inf_train_input_is_refused_too() -> None:
    with pytest.raises(DataError, match=r"^data set 'hostile_toy': modality 'text': 1 NaN/Inf"):
        load_hostile("inf_train_input")


def test_a_corruption_that_outputs_nan_fails_the_cell(sentinel) -> None:
    sweep = {"corruption": "hostile_nan_out", "modality": "text", "values": [0.5]}
    cell = run_cell(protocol(sweeps=[sweep]), sentinel / "run")
    assert cell["status"] == "failed"
    assert cell["error"] == (
        "DataError: condition 'hostile_nan_out[text].fraction=0.5': the corrupted text input "
        "holds 8 NaN/Inf values; expected the corruption to give finite values"
    )


# --- logits of the wrong shape ------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "error"),
    [
        (
            "extra_class",
            "training (fusion), epoch 1, step 1: the model returned logits of shape (8, 5); "
            "expected (8, 4) (8 samples, 4 classes of data set 'hostile_toy')",
        ),
        (
            "fewer_classes",
            "training (fusion), epoch 1, step 1: the model returned logits of shape (8, 3); "
            "expected (8, 4) (8 samples, 4 classes of data set 'hostile_toy')",
        ),
        (
            "extra_when_absent",
            "condition 'missing[audio].p=1': the model returned logits of shape (8, 5); "
            "expected (8, 4) (8 samples, 4 classes of data set 'hostile_toy')",
        ),
        (
            "tuple",
            "training (fusion), epoch 1, step 1: the model returned a tuple; expected a "
            "logits tensor of shape (8, 4) (4 classes of data set 'hostile_toy')",
        ),
    ],
)
def test_logits_of_the_wrong_shape_fail_the_cell(sentinel, hostile, error) -> None:
    cell = run_cell(protocol(hostile), sentinel / "run")
    assert cell["status"] == "failed"
    assert cell["error"] == f"DataError: {error}"


# --- labels -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "error"),
    [
        (
            "test_label_out_of_range",
            "1 labels outside 0..3 (first 4 of sample 'toy/000'); expected class indices of "
            "its 4 classes",
        ),
        (
            "train_label_ignored",
            "1 labels outside 0..3 (first -100 of sample 'toy/047'); expected class indices "
            "of its 4 classes",
        ),
        (
            "int32_labels",
            "labels are torch.int32 of shape (48,); expected int64 class indices of shape (48,)",
        ),
    ],
)
def test_labels_outside_the_classes_are_refused(sentinel, hostile, error) -> None:
    with pytest.raises(DataError) as caught:
        run_protocol(protocol(data=hostile), sentinel / "run", workers=1, report=False)
    assert str(caught.value) == f"data set 'hostile_toy': {error}"


def test_the_model_never_sees_labels(sentinel) -> None:
    PEEKS.clear()
    cell = run_cell(protocol("peek"), sentinel / "run")
    assert cell["status"] == "done"
    assert PEEKS and not any(PEEKS)  # training, validation and evaluation forwards
    preds = pd.read_parquet(store.cell_dir(sentinel / "run", cell["key"]) / store.PREDICTIONS_FILE)
    clean = preds[preds["condition"] == "clean"]
    assert len(clean) == 24 and (clean["pred"] == clean["label"]).mean() < 1.0


# --- splits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "error"),
    [
        (
            "test_is_train",
            "48 test samples are also train samples; expected a test part disjoint from "
            "train and val",
        ),
        ("no_train", "has no train samples; expected at least one"),
        (
            "val_in_test",
            "6 test samples are also val samples; expected a test part disjoint from train and val",
        ),
    ],
)
def test_a_split_that_cannot_measure_anything_is_refused(sentinel, hostile, error) -> None:
    with pytest.raises(DataError) as caught:
        run_protocol(protocol(data=hostile), sentinel / "run", workers=1, report=False)
    sep = " " if error.startswith("has") else ": "
    assert str(caught.value) == f"data set 'hostile_toy': split 'given'{sep}{error}"
    assert not (sentinel / "run").exists()


# --- stage: feature -----------------------------------------------------------------------

FEATURE = {**MISSING, "stage": "feature"}
REFUSED = (
    "stage: feature fills encoder outputs, but model 'm' has no encode/fuse split "
    "(modalities, encode_modality, fuse) to apply it, so it would ignore the fill; expected "
    "stage: input or a model with tacfn.models.FusionModel's interface"
)


@pytest.mark.parametrize(
    ("sweeps", "regime", "path"),
    [
        ([FEATURE], None, "test.sweeps[0]"),
        ([{"kind": "subsets", "stage": "feature"}], None, "test.sweeps[0]"),
        (
            [],
            [{"corruption": "missing", "modality": "audio", "p": 0.5, "stage": "feature"}],
            "train.regimes.clean[0]",
        ),
    ],
)
def test_a_plain_model_class_is_refused_for_stage_feature_at_validation(
    sweeps, regime, path
) -> None:
    with pytest.raises(ConfigError) as caught:
        protocol(sweeps=sweeps, regime=regime)
    assert str(caught.value) == f"<dict>: {path}: {REFUSED}"


def test_a_plain_model_built_by_a_function_is_refused_when_its_cell_starts(sentinel) -> None:
    cell = run_cell(protocol(model="hostile_plain_fn", sweeps=[FEATURE]), sentinel / "run")
    assert cell["status"] == "failed"
    assert cell["error"] == f"ConfigError: test.sweeps[0]: {REFUSED}"
    assert cell.get("train_seconds") is None  # refused before training


def test_a_split_model_honours_stage_feature() -> None:
    p = protocol(model="hostile_split", sweeps=[FEATURE])
    logits = evaluated(p, built(p))
    assert torch.equal(logits["missing[audio;stage=feature].p=0"], logits["clean"])
    assert not torch.equal(logits["missing[audio;stage=feature].p=1"], logits["clean"])


# --- every condition its own copy ---------------------------------------------------------


@pytest.mark.parametrize("model", ["hostile_plain", "hostile_split"])
def test_a_model_changing_its_input_in_place_changes_no_other_condition(model) -> None:
    sweeps = [{**MISSING, "values": [0.0, 0.5, 1.0]}]
    if model == "hostile_split":
        sweeps.append({**FEATURE, "values": [0.5]})  # stage: feature needs the split
    hostile, honest = protocol("mutate", model, sweeps), protocol("none", model, sweeps)
    twin = built(honest)
    twin.load_state_dict(built(hostile).state_dict())
    got, expected = evaluated(hostile, built(hostile)), evaluated(honest, twin)
    assert got.keys() == expected.keys() and len(got) == (5 if len(sweeps) == 2 else 4)
    for condition, logits in expected.items():
        assert torch.equal(got[condition], logits), condition
    assert torch.equal(got["missing[audio].p=0"], got["clean"])


def test_a_corruption_changing_its_input_in_place_changes_no_other_condition() -> None:
    scaled = {"corruption": "hostile_in_place", "modality": "text", "values": [2.0]}
    p = protocol(sweeps=[scaled, MISSING])
    logits = evaluated(p, built(p))
    assert torch.equal(logits["missing[audio].p=0"], logits["clean"])
    assert not torch.equal(logits["hostile_in_place[text].scale=2"], logits["clean"])
