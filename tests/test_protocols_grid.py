"""Grid expansion: train cells, test conditions, identity points, joint and subset sweeps."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import tacfn_robust.corruptions
from tacfn_robust.protocols import load_protocol
from tacfn_robust.protocols.conditions import build_subset, resolve_point
from tacfn_robust.protocols.grid import cell_key, conditions_hash, expand_conditions, train_cells

AV = ("audio", "video")


def protocol_from(tmp_path: Path, **fields):
    data = {"name": "g", "models": ["tacfn", "concat"], **fields}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_protocol(path)


@settings(max_examples=15, deadline=None)
@given(
    models=st.lists(
        st.sampled_from(["tacfn", "concat", "cross_attention", "audio_only"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    seeds=st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True),
    folds=st.integers(2, 4),
    regimes=st.integers(1, 3),
)
def test_cells_are_the_full_product(models, seeds, folds, regimes, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp("grid")
    names = {f"r{i}": [] for i in range(regimes)}
    protocol = protocol_from(
        tmp, models=models, seeds=seeds, train={"regimes": names}, report={"reference": models[0]}
    )
    cells = train_cells(protocol, folds)
    assert len(cells) == len(models) * len(seeds) * folds * regimes
    assert len(set(cells)) == len(cells)
    keys = {cell_key(protocol, c) for c in cells}
    assert len(keys) == len(cells)


def test_selected_folds_only(tmp_path: Path) -> None:
    protocol = protocol_from(tmp_path, folds=[1], seeds=[0, 1])
    assert sorted({c.fold for c in train_cells(protocol, 3)}) == [1]
    assert len(train_cells(protocol, 3)) == 4


def test_cell_key_depends_on_training_fields_only(tmp_path: Path) -> None:
    a = protocol_from(tmp_path, seeds=[0])
    cell = train_cells(a, 2)[0]
    sweeps = [{"corruption": "missing", "modality": "audio", "values": [0.5]}]
    b = protocol_from(tmp_path, seeds=[0], test={"sweeps": sweeps}, description="x")
    c = protocol_from(tmp_path, seeds=[0], train={"epochs": 3})
    assert cell_key(a, cell) == cell_key(b, cell)
    assert conditions_hash(a) != conditions_hash(b)
    assert cell_key(a, cell) != cell_key(c, cell)


def test_identity_points_are_conditions_of_their_own(tmp_path: Path) -> None:
    sweeps = [
        {"corruption": "missing", "modality": "audio", "values": [0.0, 0.2, 0.4, 1.0]},
        {"corruption": "gaussian_snr", "modality": "audio", "levels": [0, 1, 5]},
    ]
    protocol = protocol_from(tmp_path, test={"sweeps": sweeps})
    conditions = expand_conditions(protocol, AV, resolve_point)
    ids = [c.id for c in conditions]
    assert ids[0] == "clean"
    assert ids[1:5] == [
        "missing[audio].p=0",
        "missing[audio].p=0.2",
        "missing[audio].p=0.4",
        "missing[audio].p=1",
    ]
    assert len(ids) == 8  # clean + 4 missing + 3 noise levels
    assert [c.identity for c in conditions] == [
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert not conditions[1].is_clean and conditions[1].axes[0].value == 0.0
    snr = [c for c in conditions if c.sweep == "gaussian_snr[audio].snr_db"]
    assert [c.columns["value"] for c in snr] == [float("inf"), 30.0, 0.0]
    assert all(c.columns["unit"] == "dB SNR" for c in snr)
    assert conditions[1].columns["stage"] is None or conditions[1].columns["fill"] is None


def test_fill_and_stage_make_distinct_conditions(tmp_path: Path) -> None:
    sweeps = [
        {"corruption": "missing", "modality": "audio", "values": [1.0], "stage": "input"},
        {"corruption": "missing", "modality": "audio", "values": [1.0], "stage": "feature"},
    ]
    protocol = protocol_from(tmp_path, test={"sweeps": sweeps})
    ids = [c.id for c in expand_conditions(protocol, AV, resolve_point)]
    assert ids == ["clean", "missing[audio].p=1", "missing[audio;stage=feature].p=1"]


def test_joint_sweep_is_a_product_grid(tmp_path: Path) -> None:
    joint = {
        "joint": [
            {"corruption": "gaussian_snr", "modality": "audio", "levels": [0, 1, 3]},
            {"corruption": "occlusion", "modality": "video", "levels": [2, 4, 5]},
        ]
    }
    protocol = protocol_from(tmp_path, test={"sweeps": [joint]})
    conditions = expand_conditions(protocol, AV, resolve_point)
    assert len(conditions) == 1 + 2 * 3
    first = conditions[1]
    assert first.columns["corruption"] == "gaussian_snr"
    assert first.columns["corruption2"] == "occlusion"
    assert first.id == f"{first.axes[0].id}+{first.axes[1].id}"


def test_subsets_cover_every_proper_non_empty_subset(tmp_path: Path) -> None:
    protocol = protocol_from(
        tmp_path, test={"sweeps": [{"kind": "subsets", "fill": "zeros", "stage": "input"}]}
    )
    three = expand_conditions(protocol, ("text", "audio", "vision"), resolve_point)
    assert len(three) == 2**3 - 1  # clean is the full set
    two = [c.id for c in expand_conditions(protocol, AV, resolve_point)]
    assert two == ["clean", "subset[audio]", "subset[video]"]


def test_subset_conditions_are_the_corruptions_packages_subsets(tmp_path: Path) -> None:
    sweeps = [
        {"kind": "subsets", "fill": "zeros", "stage": "input"},
        {"kind": "subsets", "fill": "mean"},
        {"kind": "subsets", "fill": "learned", "stage": "feature"},
    ]
    learned = [
        {"name": m, "model": m, "options": {"learned_fill": True}} for m in ("tacfn", "concat")
    ]
    protocol = protocol_from(tmp_path, models=learned, test={"sweeps": sweeps})
    modalities = ("text", "audio", "vision")
    conditions = expand_conditions(protocol, modalities, resolve_point)[1:]
    names = [
        s.name for s in tacfn_robust.corruptions.subsets(modalities)[1:]
    ]  # [0] keeps all: clean
    assert [c.id for c in conditions[:6]] == names
    assert [c.id for c in conditions[6:12]] == [f"{n[:-1]};fill=mean]" for n in names]
    assert conditions[12].id == "subset[text+audio;fill=learned;stage=feature]"
    assert [c.sweep for c in conditions[::6]] == [
        "subsets",
        "subsets[fill=mean]",
        "subsets[fill=learned;stage=feature]",
    ]
    first = conditions[0]
    assert first.subset is not None and first.subset.present == ("text", "audio")
    assert first.columns["modality"] == "text+audio" and first.columns["value"] == 2.0
    assert (first.columns["fill"], first.columns["stage"]) == ("zeros", "input")
    for condition in conditions:
        built = build_subset(condition.subset)
        assert built.present == condition.subset.present
        removed = sorted(c.modality for c in built.corruptions)
        assert removed == sorted(set(modalities) - set(condition.subset.present))
        assert {c.config["fill"] for c in built.corruptions} == {condition.subset.fill}


def test_mean_fill_sweeps_expand_without_data(tmp_path: Path) -> None:
    sweeps = [{"corruption": "missing", "modality": "audio", "fill": "mean", "values": [0, 0.5, 1]}]
    regimes = {
        "clean": [],
        "drop": [{"corruption": "missing", "modality": "video", "fill": "mean"}],
    }
    protocol = protocol_from(tmp_path, test={"sweeps": sweeps}, train={"regimes": regimes})
    ids = [c.id for c in expand_conditions(protocol, AV, resolve_point)]
    assert ids == [
        "clean",
        "missing[audio;fill=mean].p=0",
        "missing[audio;fill=mean].p=0.5",
        "missing[audio;fill=mean].p=1",
    ]
