"""Hostile protocols and options that cannot mean anything are refused in one line (issue 26).

Each case builds its own input and asserts what a user sees: a ConfigError of one line naming
the field and the value (exit 2 through the CLI), or, for condition ids and report figures, the
conditions and files the run and the report really produce.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from test_reports_sim import missing_audio_accuracy, simulate_run

from tacfn.core import store
from tacfn.core.errors import ConfigError
from tacfn.core.hashing import digest
from tacfn_robust.cli import main
from tacfn_robust.protocols import load_protocol, validate
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.grid import conditions_hash, expand_conditions, train_cells
from tacfn_robust.protocols.schema import declared_dump
from tacfn_robust.reports import build_report, save_baseline

MISSING_AUDIO = {"corruption": "missing", "modality": "audio"}
BASE: dict[str, Any] = {
    "name": "hostile",
    "models": ["tacfn", "concat"],
    "dataset": {"name": "synthetic", "actors": 6, "folds": 3},
    "train": {"epochs": 1},
    "test": {"sweeps": [{**MISSING_AUDIO, "values": [0.0, 0.5]}]},
}


def protocol(**changes: Any) -> dict[str, Any]:
    """BASE with top-level fields replaced (a deep copy)."""
    return {**copy.deepcopy(BASE), **copy.deepcopy(changes)}


def refused(data: dict[str, Any], *parts: str) -> str:
    """The one-line ConfigError of validating `data`, which names every one of `parts`."""
    with pytest.raises(ConfigError) as caught:
        validate(data, "hostile.yaml")
    message = str(caught.value)
    assert "\n" not in message, message
    assert all(part in message for part in parts), message
    return message


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """stderr of a CLI call that must exit 2 with one line."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def condition_ids(data: dict[str, Any]) -> list[str]:
    """The condition ids a run of `data` evaluates (as the runner expands them)."""
    return [c.id for c in expand_conditions(validate(data), ("audio", "video"), resolve_point)]


# ---- repeated grid entries ---------------------------------------------------------------------


def test_folds_listed_twice_are_refused(sentinel: Path, capsys: pytest.CaptureFixture) -> None:
    refused(protocol(folds=[0, 0]), "folds", "[0, 0]", "repeat")
    refused(protocol(folds=[1, 0, 1]), "folds", "repeat fold 1")
    assert len(train_cells(validate(protocol(folds=[0, 1])), 3)) == 2 * 2  # distinct: fine
    Path("p.yaml").write_text("name: p\nmodels: [tacfn]\nfolds: [0, 0]\n")
    assert "folds [0, 0] repeat fold 0" in cli_error(["protocols", "validate", "p.yaml"], capsys)


def test_seeds_listed_twice_are_refused() -> None:
    refused(protocol(seeds=[3, 1, 3]), "seeds", "repeat")


@pytest.mark.parametrize(
    ("sweep", "shown"),
    [({"values": [0.5, 0.2, 0.5]}, "values [0.5, 0.2, 0.5] repeat 0.5"), ({"levels": [1, 1]}, "1")],
)
def test_a_sweep_point_listed_twice_is_refused(sweep: dict, shown: str) -> None:
    corruption = MISSING_AUDIO if "values" in sweep else {"corruption": "occlusion"}
    sweeps = [{**corruption, "modality": "audio" if "values" in sweep else "video", **sweep}]
    refused(protocol(test={"sweeps": sweeps}), "test.sweeps[0]", shown, "expected each point once")


# ---- condition ids -----------------------------------------------------------------------------


def test_condition_ids_tell_close_values_apart_and_do_not_round() -> None:
    values = [0.5, 0.5000001, 0.9999999, 1.0]
    ids = condition_ids(protocol(test={"sweeps": [{**MISSING_AUDIO, "values": values}]}))
    assert ids == [
        "clean",
        "missing[audio].p=0.5",
        "missing[audio].p=0.5000001",
        "missing[audio].p=0.9999999",
        "missing[audio].p=1",
    ]


def test_predictions_stored_under_a_rounded_id_are_evaluated_again() -> None:
    """A value that 6 digits do not hold had a rounded id before: its conditions hash differs
    from the hash of its fields, so stored predictions are not reused under the old id."""
    rounded = validate(protocol(test={"sweeps": [{**MISSING_AUDIO, "values": [0.5000001]}]}))
    ordinary = validate(protocol(test={"sweeps": [{**MISSING_AUDIO, "values": [0.5, 0.25]}]}))
    assert conditions_hash(ordinary) == digest(declared_dump(ordinary, {"predictions"}))
    assert conditions_hash(rounded) != digest(declared_dump(rounded, {"predictions"}))


def test_ordinary_values_keep_their_ids() -> None:
    """The ids of the shipped protocols' values, as stored runs and baselines hold them."""
    values = [0.0, 0.1, 0.25, 0.6, 1.0]
    ids = condition_ids(protocol(test={"sweeps": [{**MISSING_AUDIO, "values": values}]}))
    assert ids[1:] == [f"missing[audio].p={v}" for v in ("0", "0.1", "0.25", "0.6", "1")]
    assert store.condition_id("gaussian_snr[audio].snr_db", 30.0).endswith("=30")
    assert store.condition_id("x.p", 1e-7) == "x.p=1e-07"


def test_negative_zero_is_the_condition_zero() -> None:
    sweeps = [{**MISSING_AUDIO, "values": [0.0, 0.5]}, {**MISSING_AUDIO, "values": [-0.0, 1.0]}]
    ids = condition_ids(protocol(test={"sweeps": sweeps}))
    assert ids == ["clean", "missing[audio].p=0", "missing[audio].p=0.5", "missing[audio].p=1"]
    assert store.condition_id("x.p", -0.0) == "x.p=0"
    one = validate(protocol(test={"sweeps": [{**MISSING_AUDIO, "values": [-0.0]}]}))
    assert str(one.test.sweeps[0].values[0]) == "0.0"


# ---- YAML 1.1 surprises --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "shown"),
    [
        ("train.epochs=010", "'010' is a YAML 1.1 octal number (it reads as 8)"),
        ("seeds=[1:00]", "'1:00' is a YAML 1.1 base-60 number (it reads as 60)"),
        ("train.lr=1:30.5", "'1:30.5' is a YAML 1.1 base-60 number (it reads as 90.5)"),
        ("train.epochs=-010", "'-010' is a YAML 1.1 octal number"),
    ],
)
def test_set_refuses_yaml_1_1_octal_and_base_60(
    override: str, shown: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"--set {override}: ")) as caught:
        load_protocol("smoke", [override])
    assert shown in str(caught.value) and "expected a decimal number" in str(caught.value)
    assert shown in cli_error(["protocols", "validate", "smoke", "--set", override], capsys)


def test_set_reads_decimal_numbers_as_written() -> None:
    loaded = load_protocol("smoke", ["train.epochs=10", "seeds=[60, 7]", "train.lr=1e-3"])
    assert (loaded.train.epochs, loaded.seeds, loaded.train.lr) == (10, [60, 7], 0.001)
    assert load_protocol("smoke", ["train.epochs=007"]).train.epochs == 7  # same in both readings


def test_protocol_file_refuses_yaml_1_1_octal(
    sentinel: Path, capsys: pytest.CaptureFixture
) -> None:
    Path("p.yaml").write_text("name: p\nmodels: [tacfn]\ntrain: {epochs: 010}\n")
    err = cli_error(["protocols", "validate", "p.yaml"], capsys)
    assert "p.yaml: line 3: invalid YAML: '010' is a YAML 1.1 octal number" in err


# ---- non-finite numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("train.lr=.inf", "train.lr"),
        ("train.lr=1e400", "train.lr"),
        ("train.weight_decay=.nan", "train.weight_decay"),
        ("train.grad_clip=.inf", "train.grad_clip"),
        ("dataset.options.noise=.inf", "dataset.options.noise"),
        ("test.sweeps=[{corruption: gaussian_snr, modality: audio, levels: [1], x: .nan}]", ""),
        ("test.seed=1e400", "test.seed"),
    ],
)
def test_non_finite_numbers_are_refused_anywhere(override: str, path: str) -> None:
    path = path or "test.sweeps[0].x"
    with pytest.raises(ConfigError) as caught:
        load_protocol("smoke", [override])
    message = str(caught.value)
    assert "\n" not in message and f"{path}: " in message, message
    assert "is not a finite number" in message, message


def test_non_finite_model_option_is_refused() -> None:
    models = ["concat", {"name": "tacfn_odd", "model": "tacfn", "options": {"gain": float("inf")}}]
    refused(protocol(models=models), "models[1].options.gain: inf is not a finite number")


# ---- settings given twice ------------------------------------------------------------------------


def test_disagreeing_dataset_settings_are_refused() -> None:
    dataset = {"name": "synthetic", "actors": 4, "options": {"actors": 6}}
    refused(protocol(dataset=dataset), "options.actors: 6 disagrees with actors: 4")
    same = validate(protocol(dataset={**dataset, "options": {"actors": 4}}))
    assert same.dataset.build_params()["actors"] == 4


def test_a_fixed_and_swept_parameter_is_refused(capsys: pytest.CaptureFixture) -> None:
    sweeps = [{"corruption": "missing", "modality": "audio", "values": [0.5], "p": 0.3}]
    refused(protocol(test={"sweeps": sweeps}), "test.sweeps[0]", "p: 0.3 is fixed and swept")
    explicit = [{**sweeps[0], "param": "p"}]
    refused(protocol(test={"sweeps": explicit}), "fixed and swept")


def test_a_joint_sweep_of_one_axis_twice_is_refused() -> None:
    joint = [{**MISSING_AUDIO, "values": [0.5]}, {**MISSING_AUDIO, "values": [0.3], "fill": "mean"}]
    refused(
        protocol(test={"sweeps": [{"joint": joint}]}),
        "test.sweeps[0]: joint sweeps missing[audio] with itself",
    )


def test_a_joint_sweep_of_identity_points_only_is_refused() -> None:
    joint = [
        {**MISSING_AUDIO, "values": [0.0, 0.5]},
        {"corruption": "missing", "modality": "video", "values": [0.0]},
    ]
    refused(
        protocol(test={"sweeps": [{"joint": joint}]}),
        "test.sweeps[0].joint[1]: every point of missing[video] ([0.0]) is the identity",
    )
    joint[1]["values"] = [0.0, 0.4]
    ids = condition_ids(protocol(test={"sweeps": [{"joint": joint}]}))
    assert ids == ["clean", "missing[audio].p=0.5+missing[video].p=0.4"]


def test_a_model_entry_named_after_another_model_is_refused() -> None:
    refused(
        protocol(models=[{"name": "tacfn", "model": "concat"}, "audio_only"]),
        "models[0].name: 'tacfn' is a registered model, but the entry builds 'concat'",
    )
    learned = [
        {"name": m, "model": m, "options": {"learned_fill": True}} for m in ("tacfn", "concat")
    ]
    assert validate(protocol(models=learned)).model_names == ["tacfn", "concat"]


def test_two_entries_of_one_model_are_refused() -> None:
    models = ["tacfn", "concat", {"name": "tacfn_again", "model": "tacfn"}]
    refused(protocol(models=models), "models[2]: 'tacfn_again' builds the same model as models[0]")


# ---- machine limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "count"), [("threads", 2147483648), ("threads", 100_000), ("workers", 100_000)]
)
def test_thread_and_worker_counts_beyond_any_machine_are_refused(field: str, count: int) -> None:
    refused(
        protocol(executor={field: count}),
        f"executor.{field}: {count} is more than any machine's cores; expected at most 1024",
    )


def test_thread_counts_of_a_larger_machine_stay_valid(capsys: pytest.CaptureFixture) -> None:
    assert validate(protocol(executor={"threads": 64, "workers": 8})).executor.threads == 64
    err = cli_error(["run", "smoke", "--dry-run", "--workers", "5000"], capsys)
    assert "--workers 5000: more than any machine's cores; expected at most 1024" in err


# ---- the check gate and the report -------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A baseline, a run whose tacfn falls to chance at p = 0.6, and a two-regime run."""
    root = tmp_path_factory.mktemp("gate")

    def regressed(model: str, regime: str, cond: dict) -> float:
        chance = model == "tacfn" and cond["value"] == 0.6
        return 1 / 8 if chance else missing_audio_accuracy(model, regime, cond)

    base = simulate_run(root / "base", models=["tacfn", "concat"])
    save_baseline(base, root / "baseline.json")
    return {
        "baseline": root / "baseline.json",
        "regressed": simulate_run(
            root / "regressed", models=["tacfn", "concat"], accuracy=regressed
        ),
        "regimes": simulate_run(
            root / "regimes", models=["tacfn", "concat"], regimes=["bruité", "bruitè"]
        ),
    }


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-0.01"])
def test_check_refuses_a_tolerance_that_disables_it(
    runs: dict[str, Path], tolerance: str, capsys: pytest.CaptureFixture
) -> None:
    args = ["check", str(runs["regressed"]), "--baseline", str(runs["baseline"])]
    assert main(args) == 1  # the gate works: the regression fails it
    capsys.readouterr()
    err = cli_error([*args, "--abs-tol", tolerance], capsys)
    assert f"--abs-tol {float(tolerance)}: expected a " in err and "non-negative" in err


def test_two_regimes_keep_their_per_class_figures(runs: dict[str, Path]) -> None:
    """Regime names whose file-name slugs are equal still get one figure each."""
    html = build_report(runs["regimes"]).read_text()
    figures = sorted(store.report_dir(runs["regimes"]).glob("class_scores_worst_*.png"))
    assert len(figures) == 2 and figures[0].read_bytes() != figures[1].read_bytes(), figures
    shown = re.findall(r'<img src="([^"]+)" alt="(class_scores_worst_[^"]*)"', html)
    assert len({alt for _, alt in shown}) == len({uri for uri, _ in shown}) == 2
