"""Checks of a protocol against its data set's description: from the file when the description
follows from the data set's name and options, else before anything trains or is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tacfn.core.errors import ConfigError
from tacfn.data import DatasetDescription, EmotionDataset, describe_dataset, register_dataset
from tacfn.data.synthetic import load_synthetic
from tacfn_robust.cli import main
from tacfn_robust.protocols.checks import CheckFailed, check_protocol
from tacfn_robust.protocols.loading import load_protocol, validate

TINY = {"actors": 4, "folds": 2, "frames": 4, "size": 16, "duration": 0.5, "sample_rate": 4000}


def undescribed(actors: int = 4, folds: int | None = None) -> EmotionDataset:
    """The synthetic set behind a loader that gives no description (as a plug-in's)."""
    return load_synthetic(actors=actors, frames=4, size=16, duration=0.5, sample_rate=4000)


register_dataset("undescribed_synthetic", undescribed)
# A lazy target registered by code, as a plug-in's: validate reads its loader's description.
register_dataset("described_synthetic", "tacfn.data.synthetic:load_synthetic")

TYPOS = {
    "sweep": {
        "test": {"sweeps": [{"corruption": "missing", "modality": "audoi", "values": [0.5]}]}
    },
    "regime": {
        "train": {
            "epochs": 1,
            "regimes": {"drop": [{"corruption": "missing", "modality": "audoi", "p": 0.3}]},
        }
    },
    "joint": {
        "test": {
            "sweeps": [
                {
                    "joint": [
                        {"corruption": "missing", "modality": "video", "values": [0.5]},
                        {"corruption": "missing", "modality": "audoi", "values": [0.5]},
                    ]
                }
            ]
        }
    },
}
WHERE = {
    "sweep": "test.sweeps[0].modality",
    "regime": "train.regimes.drop[0].modality",
    "joint": "test.sweeps[0].joint[1].modality",
}


def protocol_file(tmp_path: Path, dataset: dict, typo: str) -> Path:
    data = {"name": "typo", "models": ["concat"], "dataset": dataset, **TYPOS[typo]}
    path = tmp_path / f"{typo}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("typo", list(TYPOS))
def test_validate_finds_a_modality_typo_through_the_loaders_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], typo: str
) -> None:
    dataset = {"name": "described_synthetic", **TINY}
    path = protocol_file(tmp_path, dataset, typo)
    assert main(["protocols", "validate", str(path)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}: {WHERE[typo]}: 'audoi' is not a modality of data set")
    assert line.endswith("expected one of: audio, video; did you mean 'audio'?")


@pytest.mark.parametrize("typo", list(TYPOS))
@pytest.mark.parametrize("dry_run", [True, False])
def test_run_finds_a_modality_typo_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], typo: str, dry_run: bool
) -> None:
    path = protocol_file(tmp_path, {"name": "undescribed_synthetic", "folds": 2}, typo)
    assert main(["protocols", "validate", str(path)]) == 0  # no description without loading
    capsys.readouterr()
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), *(["--dry-run"] if dry_run else [])]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: protocol 'typo': {WHERE[typo]}: 'audoi' is not a modality")
    assert not out.exists()


def test_evaluate_checks_before_matching_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = protocol_file(tmp_path, {"name": "undescribed_synthetic", "folds": 2}, "sweep")
    out = tmp_path / "eval"
    assert main(["evaluate", str(path), "--from", str(tmp_path), "--out", str(out)]) == 2
    assert "test.sweeps[0].modality: 'audoi'" in one_error_line(capsys)
    assert not out.exists()


def test_folds_are_checked_against_the_actors() -> None:
    with pytest.raises(ConfigError, match=r"^<dict>: dataset.folds: folds=3; expected 2..2 for 4"):
        validate({"name": "f", "models": ["concat"], "dataset": {**TINY, "folds": 3}})
    protocol = validate({"name": "f", "models": ["concat"], "folds": [1]})
    with pytest.raises(CheckFailed, match=r"^folds: fold 1 does not exist; expected 0..0$"):
        check_protocol(protocol, DatasetDescription("x", ("audio", "video"), fixed_split=True))


def test_the_description_of_a_loaded_set_equals_the_one_from_its_options() -> None:
    loaded = undescribed().description
    assert loaded == describe_dataset("synthetic", {"actors": 4})
    assert describe_dataset("undescribed_synthetic", {}) is None


def test_importing_the_schema_loads_no_grid_corruptions_or_data() -> None:
    code = "import sys, tacfn_robust.protocols.schema; print(' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "tacfn_robust.protocols.schema" in loaded
    assert not loaded & {"tacfn_robust.protocols.grid", "tacfn_robust.protocols.conditions"}
    unwanted = ("tacfn_robust.corruptions", "tacfn.data", "torch")
    assert not {m for m in loaded if m.split(".")[0] == "torch" or m.startswith(unwanted)}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("dataset.name=synthtic", "dataset.name: unknown data set 'synthtic'"),
        ("dataset.actors=30", "dataset: synthetic data set: actors=30; expected 1..24"),
        ("train.optimizer=sgd", "train.optimizer='sgd'; expected one of: adam, adamw"),
        ("report.metric=acuracy", "report.metric: unknown metric 'acuracy'"),
        ("preset=gpu", "preset: unknown preset 'gpu'"),
    ],
)
def test_checks_name_the_field(override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_protocol("smoke", [override])
    assert str(info.value).startswith(f"smoke.yaml with --set {override}: {expected}")


def test_a_multilabel_set_takes_its_own_metrics() -> None:
    protocol = validate({"name": "m", "models": ["concat"], "report": {"metric": "macro_f1"}})
    multilabel = DatasetDescription("x", ("audio", "video"), fixed_split=True, task="multilabel")
    with pytest.raises(CheckFailed, match=r"^report.metric: 'macro_f1' is not computed for the"):
        check_protocol(protocol, multilabel)
    check_protocol(protocol, DatasetDescription("x", ("audio", "video"), fixed_split=True))
