"""The run store's contract (tacfn.core.store): what the runner writes, the reports read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tacfn.core import store
from tacfn.core.errors import DataError
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.evaluate import ConditionOutput
from tacfn_robust.protocols.grid import TrainCell, cell_key, conditions_hash, expand_conditions
from tacfn_robust.protocols.loading import load_protocol
from tacfn_robust.protocols.predictions import predictions_frame
from tacfn_robust.protocols.rerun_policy import read_cell, recorded
from tacfn_robust.protocols.schema import Sweep
from tacfn_robust.reports.reading.run_dir import load_run
from tacfn_robust.reports.rendering.claims import main as claims_main
from tacfn_robust.reports.rendering.summary import write_summary
from tacfn_robust.reports.scoring.table import CONDITION_COLUMNS, results_table, score_run
from tacfn_robust.reports.statistics.analysis import analyse
from tacfn_robust.reports.statistics.robustness import curve_points

VALUES = [0.0, 0.5, 1.0]
SWEEPS = f"[{{corruption: missing, modality: audio, values: {VALUES}}}]"
LABELS = [0, 1, 2, 0]
CORRECT = {"clean": 4, "missing[audio].p=0": 4, "missing[audio].p=0.5": 2, "missing[audio].p=1": 1}


def _output(n_correct: int, absent: int | None) -> ConditionOutput:
    """Logits of 4 samples of 3 classes whose first `n_correct` predictions are right, and how
    many samples a missing corruption removed."""
    preds = [label if i < n_correct else (label + 1) % 3 for i, label in enumerate(LABELS)]
    out = ConditionOutput()
    out.logits.append(torch.nn.functional.one_hot(torch.tensor(preds), 3).float())
    out.labels.append(torch.tensor(LABELS))
    out.ids.extend(f"s{i}" for i in range(len(LABELS)))
    out.absent = [absent]
    return out


def _write_run(root: Path) -> tuple[str, list]:
    """One done cell written as the runner writes it: predictions, cell.json, protocol.json."""
    protocol = load_protocol("smoke", [f"test.sweeps={SWEEPS}", "models=[concat]", "seeds=[0]"])
    conditions = expand_conditions(protocol, ("audio", "video"), resolve_point)
    cell = TrainCell("concat", "clean", 0, 0)
    key = cell_key(protocol, cell)
    meta = pd.DataFrame({"actor": [1, 1, 2, 2]}, index=pd.Index([f"s{i}" for i in range(4)]))
    outputs = {
        c.id: _output(CORRECT[c.id], round(c.axes[0].value * 4) if c.axes else None)
        for c in conditions
    }
    directory = store.cell_dir(root, key)
    tests = conditions_hash(protocol)
    store.write_parquet(
        directory / store.PREDICTIONS_FILE,
        predictions_frame(cell, conditions, outputs, meta),
        store.cell_identity(key, tests),
    )
    record = {
        "key": key,
        **dict(zip(store.RUN_KEYS, ("concat", "clean", 0, 0), strict=True)),
        "status": "done",
        "conditions_hash": tests,
        "modalities": ["audio", "video"],
        "class_names": ["a", "b", "c"],
        "artefacts": store.artefacts(directory),
    }
    store.write_json(directory / store.CELL_FILE, record)
    store.write_json(
        root / store.PROTOCOL_FILE,
        {
            "name": protocol.name,
            "protocol": protocol.model_dump(mode="json"),
            "cells": [{"key": key, "model": "concat", "regime": "clean", "seed": 0, "fold": 0}],
            "conditions": [c.id for c in conditions],
            "conditions_hash": tests,
        },
    )
    return key, conditions


def test_a_cell_written_through_the_contract_is_read_back_by_the_reports(tmp_path: Path) -> None:
    key, conditions = _write_run(tmp_path)
    assert read_cell(tmp_path, key)["status"] == "done"
    run = load_run(tmp_path)
    assert list(run.cells["key"]) == [key]
    assert set(CONDITION_COLUMNS) <= set(run.predictions.columns)
    assert sorted(run.predictions["condition"].unique()) == sorted(c.id for c in conditions)
    table = results_table(run)
    accuracy = table[table["metric"] == "accuracy"].set_index("condition")["score"]
    assert accuracy.to_dict() == {c: n / 4 for c, n in CORRECT.items()}
    assert table.set_index("condition").loc[store.CLEAN, "sweep"].iloc[0] == store.CLEAN
    points = curve_points(table, run.protocol)
    assert points["value"].tolist() == VALUES
    assert points["score"].tolist() == [1.0, 0.5, 0.25]
    assert points["identity"].tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ({"corruption": "missing", "modality": "audio", "values": [0.5]}, "missing[audio].p"),
        (
            {"corruption": "missing", "modality": "video", "values": [1], "fill": "mean"},
            "missing[video;fill=mean].p",
        ),
        (
            {"corruption": "missing", "modality": "audio", "levels": [2], "stage": "feature"},
            "missing[audio;stage=feature].p",
        ),
        (
            {"corruption": "occlusion", "modality": "video", "levels": [3], "rects": 2},
            "occlusion[video;rects=2].fraction",
        ),
        (
            {"corruption": "lowpass", "modality": "audio", "param": "cutoff_hz", "values": [900]},
            "lowpass[audio].cutoff_hz",
        ),
    ],
)
def test_sweep_ids_round_trip(declared: dict, expected: str) -> None:
    sweep = Sweep.model_validate(declared)
    points = sweep.values if sweep.values is not None else sweep.levels
    axis, _, _ = resolve_point(sweep, points[0], sweep.levels is not None)
    assert axis.sweep == expected
    assert axis.id == store.condition_id(expected, axis.value)
    spec = sweep.model_dump(mode="json")  # as protocol.json holds it
    assert store.declares_sweep(spec, axis.sweep)
    for other in ({**spec, "modality": "text"}, {**spec, "stage": "feature", "fill": "noise"}):
        assert not store.declares_sweep(other, axis.sweep)


def test_subset_and_joint_ids() -> None:
    assert store.subsets_sweep_id("zeros", "input") == store.SUBSETS
    assert store.subsets_sweep_id("mean", "feature") == "subsets[fill=mean;stage=feature]"
    assert store.qualified("subset[audio]", ["stage=feature"]) == "subset[audio;stage=feature]"
    a, b = "gaussian_snr[audio].snr_db=10", "occlusion[video].fraction=0.25"
    assert store.joint_id(a, b) == f"{a}+{b}"
    assert store.condition_id("missing[audio].p", 0.4) == "missing[audio].p=0.4"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "missing"),
        (b'{"status": "do', "damaged, not valid JSON"),
        (b"\xff\xfe\x00\x9c\x80 not text", "damaged (not UTF-8 text)"),
        (b"[1, 2]", "got list, expected a JSON object"),
    ],
)
def test_a_missing_or_damaged_json_file_is_one_data_error(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / store.CELL_FILE
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        store.read_json(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message
    assert "expected a JSON object" in message and "\n" not in message
    assert recorded(path) is None  # the runner's reading: the cell runs again


def test_the_reports_name_a_damaged_protocol_json(tmp_path: Path) -> None:
    _write_run(tmp_path)
    (tmp_path / store.PROTOCOL_FILE).write_bytes(b'{"name": ')
    with pytest.raises(DataError) as caught:
        load_run(tmp_path)
    path = tmp_path / store.PROTOCOL_FILE
    assert str(caught.value).startswith(f"{path}: damaged, not valid JSON")
    assert str(caught.value).endswith("expected a JSON object; rerun 'tacfn-robust run'")


def test_predictions_have_the_contract_types(tmp_path: Path) -> None:
    _write_run(tmp_path)
    predictions = load_run(tmp_path).predictions
    for column in store.FLOAT_COLUMNS:
        assert predictions[column].dtype == np.float64
    assert predictions.loc[predictions["condition"] == store.CLEAN, "realised"].isna().all()
    realised = predictions[predictions["sweep"] != store.CLEAN].groupby("condition")["realised"]
    assert realised.first().to_dict() == {f"missing[audio].p={v:g}": v for v in VALUES}


def test_a_cell_json_that_does_not_match_its_model_names_file_and_field(tmp_path: Path) -> None:
    key, _ = _write_run(tmp_path)
    path = store.cell_dir(tmp_path, key) / store.CELL_FILE
    cell = store.read_json(path)
    store.write_json(path, {**cell, "seed": "0"})
    with pytest.raises(DataError) as caught:
        load_run(tmp_path)
    message = str(caught.value)
    assert message.startswith(f'{path}: seed: input should be a valid integer, got "0"')
    assert "\n" not in message and message.endswith("to recompute the cell")
    store.write_json(path, {**cell, "stauts": "done"})
    assert "stauts: unknown field" in str(pytest.raises(DataError, load_run, tmp_path).value)
    assert read_cell(tmp_path, key) is None  # the runner's reading: the cell runs again


def test_summary_json_is_written_and_read_through_its_model(tmp_path: Path) -> None:
    _write_run(tmp_path)
    path = tmp_path / store.SUMMARY_FILE
    write_summary(analyse(score_run(load_run(tmp_path))), path)
    summary = store.read_record(path, store.Summary)
    assert summary.schema_id == store.SUMMARY_SCHEMA and summary.points[0].n == 1
    data = store.read_json(path)
    data["points"][0]["n"] = 1.5
    store.write_json(path, data)
    with pytest.raises(DataError) as caught:
        claims_main([str(tmp_path), str(tmp_path / "claims.json")])
    message = str(caught.value)
    assert message.startswith(f"{path}: points[0].n: input should be a valid integer, got 1.5")
    assert "\n" not in message and message.endswith(f"'tacfn-robust report {tmp_path}'")


def test_json_writes_numpy_numbers_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "numbers.json"
    value = {"f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True), "a": np.arange(2)}
    store.write_json(path, value)
    assert store.read_json(path) == {"f": 0.5, "i": 3, "b": True, "a": [0, 1]}
    with pytest.raises(TypeError, match=r"JSON cannot hold \{1, 2\} \(type set\)"):
        store.write_json(path, {"ids": {1, 2}})
