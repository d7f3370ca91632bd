"""Hostile protocol files: every one is refused at validation with exit 2 and one short line
that names the file and the field, before anything is loaded, trained or written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tacfn_robust.cli import main

MODELS = "models: [concat]\n"


def _alias_bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    body = "\n".join(f"    {line}" for line in lines)
    return f"name: bomb\n{MODELS}dataset:\n  name: synthetic\n  options:\n{body}\n"


def _nested(depth: int) -> str:
    return f"name: deep\n{MODELS}dataset:\n  options:\n    x: {'[' * depth}1{']' * depth}\n"


# (case id, file text, fragments the one-line error must contain)
CASES: list[tuple[str, str, list[str]]] = [
    ("name-dotdot", f"name: '..'\n{MODELS}", ["name", "not a safe directory name"]),
    ("name-dot", f"name: '.'\n{MODELS}", ["name", "not a safe directory name"]),
    ("name-slash", f"name: a/b\n{MODELS}", ["name", "not a safe directory name"]),
    ("name-abs", f"name: /tmp/x\n{MODELS}", ["name", "not a safe directory name"]),
    ("name-backslash", f"name: 'a\\b'\n{MODELS}", ["name", "not a safe directory name"]),
    ("name-control", f'name: "a\\x07b"\n{MODELS}', ["name", "not a safe directory name"]),
    ("name-newline", f'name: "a\\nb"\n{MODELS}', ["name", "not a safe directory name"]),
    ("name-hidden", f"name: .hidden\n{MODELS}", ["name", "not a safe directory name"]),
    ("name-long", f"name: {'n' * 300}\n{MODELS}", ["name", "not a safe directory name"]),
    ("alias-bomb", _alias_bomb(), ["aliases are expanded"]),
    ("alias-recursive", f"name: r\n{MODELS}dataset: {{options: &a {{x: *a}}}}\n", ["recursive"]),
    ("deep-nesting", _nested(200), ["nesting deeper than"]),
    ("duplicate-key", f"name: d\n{MODELS}train:\n  epochs: 2\n  epochs: 3\n", ["duplicate key"]),
    ("duplicate-top", f"name: d\nname: e\n{MODELS}", ["duplicate key 'name'"]),
    ("epochs-bool", f"name: b\n{MODELS}train: {{epochs: true}}\n", ["train.epochs"]),
    ("batch-string", f"name: b\n{MODELS}train: {{batch_size: '32'}}\n", ["train.batch_size"]),
    ("lr-bool", f"name: b\n{MODELS}train: {{lr: true}}\n", ["train.lr"]),
    ("amp-int", f"name: b\n{MODELS}train: {{amp: 1}}\n", ["train.amp"]),
    ("seed-negative", f"name: s\n{MODELS}seeds: [-5]\n", ["seeds", "-5", "2**32"]),
    ("seed-huge", f"name: s\n{MODELS}seeds: [{10**30}]\n", ["seeds", "2**32"]),
    ("seed-bool", f"name: s\n{MODELS}seeds: [true]\n", ["seeds"]),
    (
        "modality-smell-regime",
        f"name: m\n{MODELS}train:\n  regimes:\n    r: [{{corruption: missing, modality: smell, "
        "p: 0.5}]\n",
        ["train.regimes.r[0].modality", "'smell'", "audio, video"],
    ),
    (
        "modality-smell-sweep",
        f"name: m\n{MODELS}test:\n  sweeps: [{{corruption: missing, modality: smell, "
        "values: [0.5]}]\n",
        ["test.sweeps[0].modality", "'smell'"],
    ),
    (
        "sweep-p-1.5",
        f"name: p\n{MODELS}test:\n  sweeps: [{{corruption: missing, modality: audio, "
        "values: [0.0, 1.5]}]\n",
        ["test.sweeps", "1.5"],
    ),
    (
        "pickle-without-opt-in",
        f"name: k\n{MODELS}dataset: {{name: mult_pickle, path: x.pkl}}\n",
        ["dataset.options.trust_pickle"],
    ),
    (
        "long-bad-value",
        f"name: v\n{MODELS}train: {{epochs: {'9' * 5000}x}}\n",
        ["train.epochs"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_protocol_is_refused_in_one_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragments: list[str]
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    assert main(["protocols", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, err[:1000]
    assert str(path) in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_5_mb_list_of_seeds_fails_fast_on_size(tmp_path: Path, capsys) -> None:
    path = tmp_path / "seeds.yaml"
    seeds = ", ".join(str(i) for i in range(800_000))
    path.write_text(f"name: big\n{MODELS}seeds: [{seeds}]\n")
    assert path.stat().st_size > 5_000_000
    assert main(["protocols", "validate", "smoke"]) == 0  # imports done before timing
    capsys.readouterr()
    started = time.perf_counter()
    assert main(["protocols", "validate", str(path)]) == 2
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err.strip()
    assert "bytes; expected a protocol file of at most" in err and len(err) < 300


def test_a_non_utf8_file_is_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\nmodels: [concat]\n")
    assert main(["protocols", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(path) in err and "not UTF-8" in err and "internal error" not in err


def test_a_huge_set_value_is_refused_briefly(capsys) -> None:
    assert main(["protocols", "validate", "smoke", "--set", f"seeds=[{'1, ' * 200_000}1]"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--set seeds=" in err and len(err) < 300


def test_alias_bomb_in_a_set_value_is_refused(capsys) -> None:
    nested = "&a0 [x, x, x, x, x, x, x, x, x]"
    for i in range(1, 7):
        nested = f"&a{i} [{nested}, " + ", ".join([f"*a{i - 1}"] * 8) + "]"
    assert (
        main(["protocols", "validate", "smoke", "--set", f"dataset.options={{x: {nested}}}"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "not valid YAML" in err and len(err) < 300


def test_anchors_and_aliases_within_limits_still_work(tmp_path: Path, capsys) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "name: anchors\nmodels: [concat]\n"
        "train:\n  regimes:\n    a: &drop [{corruption: missing, modality: audio, p: 0.3}]\n"
        "    b: *drop\n"
    )
    assert main(["protocols", "validate", str(path)]) == 0


def test_strict_types_still_read_exponent_floats(capsys) -> None:
    assert main(["protocols", "validate", "smoke", "--set", "train.lr=1e-3"]) == 0
