"""The experimental design means what it says: regime rates, fill seeding, nested missing sets,
identity points, the test seed and per-model options."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
import torch
import yaml

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError
from tacfn_robust import corruptions as C
from tacfn_robust.corruptions.regime import joint_absence
from tacfn_robust.protocols import cell_task, load_protocol
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.evaluate import evaluate
from tacfn_robust.protocols.fills import TrainMeans
from tacfn_robust.protocols.grid import (
    TrainCell,
    cell_key,
    conditions_hash,
    expand_conditions,
    train_cells,
)
from tacfn_robust.protocols.predictions import predictions_frame
from tacfn_robust.protocols.training import build_cell_model


def _ids_batch(n: int, modalities: tuple[str, ...] = ("audio", "video")) -> Batch:
    return Batch(
        inputs={m: torch.zeros(n, 2) for m in modalities},
        present={m: torch.ones(n, dtype=torch.bool) for m in modalities},
        labels=torch.zeros(n, dtype=torch.long),
        ids=tuple(f"clip{i}" for i in range(n)),
    )


@pytest.mark.parametrize("order", [("audio", "video"), ("video", "audio")])
def test_regime_rates_hold_whatever_the_order_of_the_specs(order) -> None:
    rates = {"audio": 0.3, "video": 0.2}
    specs = [{"corruption": "missing", "modality": m, "p": rates[m]} for m in order]
    out = C.TrainRegime(specs, seed=0)(_ids_batch(20_000), epoch=1)
    for m, p in rates.items():
        assert abs(1 - float(out.present[m].float().mean()) - p) < 0.01, m
    kept = out.present["audio"].int() + out.present["video"].int()
    assert int(kept.min()) == 1


def test_joint_absence_has_exact_marginals_and_never_removes_everything() -> None:
    names = ("text", "audio", "vision")
    for q in [(0.3, 0.3, 0.6), (0.9, 0.5, 0.1), (0.0, 0.7, 0.7), (1.0, 0.5, 0.5)]:
        table = joint_absence(dict(zip(names, q, strict=True)), names)
        assert sum(w for _, w in table) == pytest.approx(1.0, abs=1e-12)
        assert all(gone != frozenset(names) for gone, _ in table)
        for m, qm in zip(names, q, strict=True):
            assert sum(w for gone, w in table if m in gone) == pytest.approx(qm, abs=1e-9)
    with pytest.raises(ConfigError) as info:
        C.TrainRegime(
            [{"corruption": "missing", "modality": m, "p": 0.6} for m in ("audio", "video")],
            seed=0,
            modalities=("audio", "video"),
        )
    assert "sum to 1.2" in str(info.value) and "at most 1" in str(info.value)
    assert "\n" not in str(info.value)


def test_infeasible_regime_rates_fail_at_validation(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"train.regimes.drop: train regime: missing rates"):
        load_protocol(
            "smoke",
            [
                "train.regimes={drop: [{corruption: missing, modality: audio, p: 0.6}, "
                "{corruption: missing, modality: video, p: 0.5}]}"
            ],
        )


FILLS = [
    (fill, stage)
    for fill, stage in itertools.product(
        ("zeros", "mean", "noise", "learned"), ("input", "feature")
    )
    if (fill, stage) != ("learned", "input")
]
LEARNED = "[{name: tacfn, model: tacfn, options: {learned_fill: true}}, " + (
    "{name: concat, model: concat, options: {learned_fill: true}}]"
)


@pytest.fixture(scope="module")
def fills_setup():
    sweeps = [
        {"corruption": "missing", "modality": m, "values": [0.5, 1.0], "fill": f, "stage": s}
        for f, s in FILLS
        for m in ("audio", "video")
    ]
    flow = yaml.safe_dump(sweeps, default_flow_style=True).strip()
    protocol = load_protocol("smoke", [f"test.sweeps={flow}", f"models={LEARNED}"])
    dataset = load_dataset(protocol.dataset)
    split = fold_split(dataset, protocol.dataset, 0)
    conditions = expand_conditions(protocol, dataset.info.modalities, resolve_point)
    return protocol, dataset, split.test[::10], conditions, TrainMeans(dataset, split.train)


@pytest.mark.parametrize("model_name", ["tacfn", "concat"])
def test_every_fill_and_stage_equal_on_reuse_and_full_paths(fills_setup, model_name) -> None:
    protocol, dataset, test, conditions, means = fills_setup
    model = build_cell_model(protocol, TrainCell(model_name, "clean", 0, 0), dataset.info)
    with torch.no_grad():  # non-trivial running statistics and learned tokens
        for m, stats in model.fill.stats.items():
            stats.mean.normal_(generator=torch.Generator().manual_seed(1))
            stats.var.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(2))
            model.fill.tokens[m].normal_(generator=torch.Generator().manual_seed(3))
    args = (model, dataset, test, conditions)
    reused = evaluate(*args, seed=7, batch_size=6, means=means)
    full = evaluate(*args, seed=7, batch_size=6, reuse=False, means=means)
    again = evaluate(*args, seed=7, batch_size=4, means=means)
    assert len(conditions) == 1 + 2 * 2 * len(FILLS)
    for condition in conditions:
        a, b = reused[condition.id].stacked()[0], full[condition.id].stacked()[0]
        assert torch.equal(a, b), condition.id
        # another batch size may take another BLAS kernel: equal to float rounding, as in
        # test_runner_eval's batch-size test (bit-equality held on one CPU and not on another)
        torch.testing.assert_close(
            a, again[condition.id].stacked()[0], rtol=1e-4, atol=1e-5, msg=condition.id
        )
    # feature noise is keyed by (test seed, condition, sample id), not by the id alone
    noise = "missing[audio;fill=noise;stage=feature].p=1"
    other_seed = evaluate(*args, seed=8, batch_size=6, means=means)
    assert not torch.equal(reused[noise].stacked()[0], other_seed[noise].stacked()[0])
    half = "missing[audio;fill=noise;stage=feature].p=0.5"
    absent = [r["value"] == 1.0 for r in reused[half].records if r["field"] == "missing"]
    rows = torch.tensor(absent)
    assert rows.any()
    assert not torch.equal(reused[half].stacked()[0][rows], reused[noise].stacked()[0][rows])


@pytest.fixture(scope="module")
def nested_setup():
    values = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    flow = f"[{{corruption: missing, modality: audio, values: {values}}}]"
    protocol = load_protocol("smoke", [f"test.sweeps={flow}"])
    dataset = load_dataset(protocol.dataset)
    split = fold_split(dataset, protocol.dataset, 0)
    conditions = expand_conditions(protocol, dataset.info.modalities, resolve_point)
    model = build_cell_model(protocol, TrainCell("concat", "clean", 0, 0), dataset.info)
    return protocol, dataset, split, conditions, model, values


def _absent_ids(output) -> set[str]:
    return {r["sample_id"] for r in output.records if r["field"] == "missing" and r["value"] == 1}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_missing_sets_grow_with_p_and_the_realised_share_is_stored(nested_setup, seed) -> None:
    protocol, dataset, split, conditions, model, values = nested_setup
    outputs = evaluate(model, dataset, split.test, conditions, seed=seed, batch_size=64)
    sets = [_absent_ids(outputs[f"missing[audio].p={v:g}"]) for v in values]
    assert sets[0] == set() and len(sets[-1]) == len(split.test)
    assert all(a <= b for a, b in itertools.pairwise(sets))
    meta = dataset.meta.set_index(pd.Index(dataset.ids, name="sample_id"))
    cell = TrainCell("concat", "clean", 0, 0)
    table = predictions_frame(cell, conditions, outputs, meta)
    for v, gone in zip(values, sets, strict=True):
        rows = table[table["condition"] == f"missing[audio].p={v:g}"]
        assert set(rows["realised"]) == {len(gone) / len(split.test)}
        assert rows["realised2"].isna().all()
    assert table.loc[table["condition"] == "clean", "realised"].isna().all()


def test_identity_point_is_evaluated_through_the_corruption_path(nested_setup) -> None:
    protocol, dataset, split, conditions, model, _ = nested_setup
    identity = [c for c in conditions if c.identity]
    assert [c.id for c in identity] == ["missing[audio].p=0"]
    outputs = evaluate(model, dataset, split.test, conditions, seed=0, batch_size=64)
    records = outputs["missing[audio].p=0"].records
    assert len(records) > 0 and {r["condition"] for r in records} == {"missing[audio].p=0"}
    assert torch.equal(outputs["missing[audio].p=0"].stacked()[0], outputs["clean"].stacked()[0])
    meta = dataset.meta.set_index(pd.Index(dataset.ids, name="sample_id"))
    table = predictions_frame(TrainCell("concat", "clean", 0, 0), conditions, outputs, meta)
    assert set(table.loc[table["condition"] == "missing[audio].p=0", "identity"]) == {True}
    assert set(table.loc[table["condition"] != "missing[audio].p=0", "identity"]) == {False}


def test_cells_evaluate_with_the_test_seed_not_the_training_seed(monkeypatch, tmp_path) -> None:
    assert load_protocol("smoke").test.seed == 0
    protocol = load_protocol("smoke", ["test.seed=11", "seeds=[3]"])
    assert conditions_hash(protocol) != conditions_hash(load_protocol("smoke", ["seeds=[3]"]))
    seen: dict[str, int] = {}

    def stop(model, dataset, indices, conditions, seed, *args, **kwargs):
        seen["seed"] = seed
        raise RuntimeError("stop")

    monkeypatch.setattr(cell_task, "train_cell", lambda *args, **kwargs: {})
    monkeypatch.setattr(cell_task, "evaluate", stop)
    with pytest.raises(RuntimeError, match="stop"):
        cell_task._train_and_evaluate(
            protocol, TrainCell("concat", "clean", 3, 0), tmp_path, None, None, None
        )
    assert seen == {"seed": 11}


def test_report_metric_replaces_metrics(tmp_path) -> None:
    assert load_protocol("smoke").report.metric == "accuracy"
    assert load_protocol("smoke", ["report.metric=uar"]).report.metric == "uar"
    with pytest.raises(ConfigError) as info:
        load_protocol("smoke", ["report.metric=bogus"])
    assert "report.metric: unknown metric 'bogus'; expected one of: accuracy, macro_f1" in str(
        info.value
    )
    with pytest.raises(ConfigError) as info:
        load_protocol("smoke", ["metrics=[accuracy]"])
    assert "replaced by report.metric" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            "[tacfn, {name: t2, model: tacfn, options: {gian: size}}]",
            "models[1].options: unknown option 'gian' of model 'tacfn'; expected one of: "
            "blocks, softmax_axis, gain, residual, legacy_batch_sum, causal, select, "
            "learned_fill; did you mean 'gain'?",
        ),
        (
            "[tacfn, {name: t2, model: tacfn, options: {gain: bogus}}]",
            "models[1].options (t2): option gain='bogus'; expected a number, 'size' or",
        ),
        (
            "[tacfn, {name: tacfn, model: concat}]",
            "repeat a name; expected each model name once",
        ),
        (
            "[tacfn, {name: x, model: tacfm}]",
            "models[1].model: unknown model 'tacfm'",
        ),
        (
            "[{name: x, model: cross_attention, options: {gain: size}}]",
            "unknown option 'gain' of model 'cross_attention'",
        ),
    ],
)
def test_model_options_are_validated_in_one_line(models: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_protocol("smoke", [f"models={models}"])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_learned_fill_sweeps_need_models_built_with_it() -> None:
    sweep = "test.sweeps=[{corruption: missing, modality: audio, values: [1.0], " + (
        "fill: learned, stage: feature}]"
    )
    with pytest.raises(ConfigError, match=r"test.sweeps\[0\]: fill: learned needs .* concat"):
        load_protocol("smoke", [sweep])
    assert load_protocol("smoke", [sweep, f"models={LEARNED}"]).model_names == ["tacfn", "concat"]


def test_cells_build_models_with_their_options() -> None:
    models = "[tacfn, {name: tacfn_gain_size, model: tacfn, options: {gain: size}}]"
    protocol = load_protocol("smoke", [f"models={models}"])
    info = load_dataset(protocol.dataset).info
    plain = build_cell_model(protocol, TrainCell("tacfn", "clean", 0, 0), info)
    sized = build_cell_model(protocol, TrainCell("tacfn_gain_size", "clean", 0, 0), info)
    assert plain.blocks[0].gain_mode == "fixed" and sized.blocks[0].gain_mode == "size"
    cells = train_cells(protocol, 1)
    assert [c.model for c in cells[:: len(protocol.seeds)]] == ["tacfn", "tacfn_gain_size"]
    assert len({cell_key(protocol, c) for c in cells}) == len(cells)
