"""Protocol validation: defaults, one-line errors with suggestions, --set overrides, hashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tacfn.core.errors import ConfigError
from tacfn_robust.protocols import load_protocol, protocol_hash, shipped_protocols
from tacfn_robust.protocols.loading import apply_override

SHIPPED = [
    "missing_audio",
    "missing_video",
    "modality_subsets",
    "dropout_training",
    "noisy_audio",
    "noisy_video",
    "occluded_video",
    "corruption_suite",
    "smoke",
    "ravdess_paper",
    "iemocap_missing",
    "calibration",
    "tacfn_ablations",
]

MINIMAL = {"name": "tiny", "models": ["tacfn", "concat"]}


def write(tmp_path: Path, data: dict, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def error_of(tmp_path: Path, data: dict, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_protocol(write(tmp_path, data), overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_shipped_protocol_validates_and_has_a_description() -> None:
    shipped = shipped_protocols()
    assert sorted(shipped) == sorted(SHIPPED)
    for name in SHIPPED:
        protocol = load_protocol(name)
        assert protocol.name == name
        assert len(shipped[name]) > 20


def test_defaults_are_filled(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, MINIMAL))
    assert protocol.train.epochs == 10
    assert protocol.train.regimes == {"clean": []}
    assert protocol.test.batch_size == 64
    assert protocol.seeds == [0]
    assert protocol.folds is None
    assert protocol.report.reference == "concat"
    assert protocol.report.focus == "tacfn"
    assert protocol.executor.kind == "local"


def test_report_defaults_fall_back_to_the_first_model(tmp_path: Path) -> None:
    protocol = load_protocol(write(tmp_path, {"name": "uni", "models": ["audio_only"]}))
    assert (protocol.report.reference, protocol.report.focus) == ("audio_only", "audio_only")


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**MINIMAL, "train": {"epoch": 3}})
    assert message.startswith(f"{tmp_path / 'p.yaml'}: train.epoch: unknown key 'epoch'")
    assert "did you mean 'epochs'?" in message
    assert "batch_size" in message


def test_wrong_type_names_field_and_value(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**MINIMAL, "train": {"batch_size": "big"}})
    assert "train.batch_size:" in message
    assert "'big'" in message


def test_unknown_model_lists_valid_names(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**MINIMAL, "models": ["tacfm"]})
    assert "models: unknown model 'tacfm'" in message
    assert "did you mean 'tacfn'?" in message
    assert "cross_attention" in message


def test_unknown_corruption_in_a_sweep(tmp_path: Path) -> None:
    sweeps = [{"corruption": "gausian_snr", "modality": "audio", "levels": [1, 2]}]
    message = error_of(tmp_path, {**MINIMAL, "test": {"sweeps": sweeps}})
    assert "test.sweeps[0]" in message
    assert "unknown corruption 'gausian_snr'" in message
    assert "did you mean 'gaussian_snr'?" in message


def test_unknown_corruption_in_a_regime(tmp_path: Path) -> None:
    regimes = {"clean": [], "drop": [{"corruption": "mising", "modality": "audio", "p": 0.3}]}
    message = error_of(tmp_path, {**MINIMAL, "train": {"regimes": regimes}})
    assert "train.regimes.drop[0].corruption" in message
    assert "did you mean 'missing'?" in message


def test_sweep_needs_values_or_levels(tmp_path: Path) -> None:
    sweeps = [{"corruption": "missing", "modality": "audio"}]
    message = error_of(tmp_path, {**MINIMAL, "test": {"sweeps": sweeps}})
    assert "exactly one of values or levels" in message


@pytest.mark.parametrize("dataset", ["ravdess", "mult_pickle"])
def test_real_data_sets_need_a_path(tmp_path: Path, dataset: str) -> None:
    message = error_of(tmp_path, {**MINIMAL, "dataset": {"name": dataset}})
    assert f"dataset: data set '{dataset}' needs path" in message


def test_missing_data_path_is_reported_before_running(tmp_path: Path) -> None:
    from tacfn.core.errors import DataError
    from tacfn_robust.protocols import plan

    protocol = load_protocol("ravdess_paper", [f"dataset.path={tmp_path / 'nowhere'}"])
    with pytest.raises(DataError, match=r"dataset.path: .*nowhere does not exist"):
        plan(protocol, tmp_path / "run")


def test_unknown_shipped_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'missing_audio'"):
        load_protocol("missing_audo")


def test_override_sets_nested_fields(tmp_path: Path) -> None:
    protocol = load_protocol(
        write(tmp_path, MINIMAL), ["seeds=[0, 1]", "test.batch_size=7", "train.lr=0.01"]
    )
    assert protocol.seeds == [0, 1]
    assert protocol.test.batch_size == 7
    assert protocol.train.lr == 0.01


def test_bad_override_names_the_override(tmp_path: Path) -> None:
    message = error_of(tmp_path, MINIMAL, ("train.epoch=3",))
    assert "with --set train.epoch=3: train.epoch: unknown key 'epoch'" in message
    message = error_of(tmp_path, MINIMAL, ("seeds",))
    assert message == "--set seeds: expected KEY=VALUE, e.g. --set train.epochs=5"
    message = error_of(tmp_path, MINIMAL, ("test.batch_size=-1",))
    assert "--set test.batch_size=-1: test.batch_size:" in message


def test_invalid_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodels: [tacfn\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+: invalid YAML"):
        load_protocol(path)


def test_hash_ignores_cosmetic_fields_only(tmp_path: Path) -> None:
    base = load_protocol(write(tmp_path, MINIMAL))
    cosmetic = load_protocol(
        write(tmp_path, {**MINIMAL, "description": "other", "output": "elsewhere"}, "c.yaml")
    )
    changed = load_protocol(write(tmp_path, {**MINIMAL, "seeds": [1]}, "s.yaml"))
    assert protocol_hash(base) == protocol_hash(cosmetic)
    assert protocol_hash(base) != protocol_hash(changed)
    assert len(protocol_hash(base)) == 64


def test_report_only_fields_leave_the_hash(tmp_path: Path) -> None:
    base = load_protocol(write(tmp_path, MINIMAL))
    asked = {"contrasts": ["regime"], "margin": 0.05}
    report = load_protocol(write(tmp_path, {**MINIMAL, "report": asked}, "r.yaml"))
    assert report.report.contrasts == ["regime"] and report.report.margin == 0.05
    assert protocol_hash(base) == protocol_hash(report)
    with pytest.raises(ConfigError, match="report.contrasts"):
        load_protocol(write(tmp_path, {**MINIMAL, "report": {"contrasts": ["x"]}}, "x.yaml"))


@settings(max_examples=25, deadline=None)
@given(
    key=st.sampled_from(["train.epochs", "train.batch_size", "test.batch_size"]),
    value=st.integers(min_value=1, max_value=10_000),
)
def test_any_positive_override_round_trips(key: str, value: int) -> None:
    data = apply_override(dict(MINIMAL), f"{key}={value}")
    section, field = key.split(".")
    assert data[section][field] == value
    assert MINIMAL.get(section) is None  # the input is not modified


def test_json_schema_lists_the_top_level_fields() -> None:
    from tacfn_robust.protocols.schema import Protocol

    schema = Protocol.model_json_schema()
    assert {"name", "models", "seeds", "train", "test", "dataset", "report"} <= set(
        schema["properties"]
    )
    json.dumps(schema)


def test_overrides_are_validated_together(tmp_path: Path) -> None:
    protocol = load_protocol(
        "missing_audio", ["models=[tacfn, audio_only]", "report.reference=tacfn"]
    )
    assert protocol.models == ["tacfn", "audio_only"]
    with pytest.raises(ConfigError) as info:
        load_protocol("missing_audio", ["seeds=[0]", "models=[tacfn, audio_only]"])
    assert str(info.value) == (
        "missing_audio.yaml with --set models=[tacfn, audio_only]: report.reference 'concat' "
        "is not among models; expected one of: tacfn, audio_only"
    )
