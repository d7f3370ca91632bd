"""Protocol files are data: a `"module:attr"` name in one (code the file names) is refused by
`protocols validate`, `run`, `run --dry-run` and `report` unless the file says
`trust_code: true`; with it, `validate` still imports nothing and `run` says what it imports
before importing it. Registered names and entry points need no opt-in, and `validate` checks
an entry point's name without loading it.

Each hostile module is written by the test into its working folder and, when imported,
creates a marker file there: the marker is the proof that the file's code ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from test_reports_sim import simulate_run

from tacfn.core import store
from tacfn_robust.cli import main

TINY = {
    "name": "synthetic",
    "actors": 4,
    "folds": 2,
    "frames": 4,
    "size": 16,
    "duration": 0.5,
    "sample_rate": 4000,
}
SWEEP = {"corruption": "missing", "modality": "audio", "values": [0.5]}

HOSTILE = '''
from pathlib import Path

import numpy as np
from torch import nn

Path({marker!r}).write_text("the protocol's code ran")


class Model(nn.Module):
    def __init__(self, info, **options):
        super().__init__()
        self.linear = nn.Linear(1, info.num_classes)

    def forward(self, batch):
        audio = batch.inputs["audio"]
        return self.linear(audio.new_ones(len(audio), 1))


def hits(labels, preds):
    """Share of samples predicted correctly."""
    return float(np.mean(np.asarray(labels) == np.asarray(preds)))
'''


@pytest.fixture
def hostile(sentinel: Path, monkeypatch: pytest.MonkeyPatch, request) -> str:
    """The name of a module (importable, not yet imported) that writes `MARKER` on import."""
    name = f"hostile_{abs(hash(request.node.name)):x}"
    (sentinel / f"{name}.py").write_text(HOSTILE.format(marker=str(sentinel / "MARKER")))
    monkeypatch.syspath_prepend(str(sentinel))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def write(data: dict, name: str = "p.yaml") -> Path:
    path = Path(name)
    path.write_text(yaml.safe_dump({"name": "hostile", "dataset": TINY, **data}))
    return path


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def ran(module: str) -> bool:
    return Path("MARKER").exists() or module in sys.modules


def test_a_data_set_named_as_code_runs_nothing_on_validate_or_dry_run(
    sentinel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        {
            "dataset": {"name": "subprocess:getoutput", "options": {"cmd": "touch PWNED"}},
            "models": ["concat"],
            "train": {"epochs": 1},
        }
    )
    expected = (
        f"error: {path}: dataset.name: 'subprocess:getoutput' is a 'module:attr' name: using it "
        "imports and runs that module; expected a registered name or a plug-in's entry point "
        "(see docs/plugins.md), or trust_code: true at the top level of a protocol you trust"
    )
    run = ["--out", "run"]
    for command in (["protocols", "validate"], ["run", "--dry-run", *run], ["run", *run]):
        assert main([*command, str(path)]) == 2, command
        assert error_line(capsys) == expected
        assert not Path("PWNED").exists() and not Path("run").exists()


CODE_FIELDS = {
    "models[1].model": lambda t: {"models": ["concat", {"name": "mine", "model": f"{t}:Model"}]},
    "report.metric": lambda t: {"models": ["concat"], "report": {"metric": f"{t}:hits"}},
    "train.regimes.drop[0].corruption": lambda t: {
        "models": ["concat"],
        "train": {"regimes": {"drop": [{"corruption": f"{t}:C", "modality": "audio"}]}},
    },
    "test.sweeps[0].corruption": lambda t: {
        "models": ["concat"],
        "test": {"sweeps": [{**SWEEP, "corruption": f"{t}:C"}]},
    },
    "test.sweeps[0].joint[1].corruption": lambda t: {
        "models": ["concat"],
        "test": {"sweeps": [{"joint": [SWEEP, {**SWEEP, "corruption": f"{t}:C"}]}]},
    },
    "dataset.name": lambda t: {"models": ["concat"], "dataset": {"name": f"{t}:load"}},
}


@pytest.mark.parametrize("field", list(CODE_FIELDS))
def test_every_name_a_registry_resolves_is_refused_as_code_without_importing_it(
    hostile: str, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    path = write(CODE_FIELDS[field](hostile))
    for command in (["protocols", "validate"], ["run", "--dry-run"]):
        assert main([*command, str(path)]) == 2, command
        assert not ran(hostile), "the protocol's code ran"
        line = error_line(capsys)
        assert line.startswith(f"error: {path}: {field}: '{hostile}:"), line
        assert line.endswith("or trust_code: true at the top level of a protocol you trust")
    trusted = write({**CODE_FIELDS[field](hostile), "trust_code": True}, "trusted.yaml")
    assert main(["protocols", "validate", str(trusted)]) == 0, capsys.readouterr().err
    assert f"a run imports and runs {field} '{hostile}:" in capsys.readouterr().out
    assert not ran(hostile), "validate imported a trusted target"


def test_with_trust_code_validate_imports_nothing_and_run_says_what_it_imports(
    hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tacfn_robust.protocols import load_protocol, validate

    target = f"{hostile}:Model"
    path = write(
        {
            "models": ["concat", {"name": "mine", "model": target}],
            "report": {"metric": f"{hostile}:hits"},
            "trust_code": True,
        }
    )
    assert main(["protocols", "validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        f"{path}: trust_code: true: a run imports and runs models[1].model '{target}', "
        f"report.metric '{hostile}:hits' (not imported now)"
    )
    assert not ran(hostile)
    # the opt-in travels with the protocol (protocol.json, pool and Dask workers)
    protocol = load_protocol(path)
    assert validate(protocol.model_dump(mode="json")).trust_code is True
    assert not ran(hostile)
    assert main(["run", str(path), "--dry-run", "--out", "run"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"trust_code: true: importing and running models[1].model '{target}', "
        f"report.metric '{hostile}:hits'"
    )
    assert ran(hostile)


def test_a_trusted_target_must_have_the_module_attr_form(
    sentinel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write({"models": [{"name": "m", "model": "os.path:"}], "trust_code": True})
    assert main(["protocols", "validate", str(path)]) == 2
    assert error_line(capsys) == (
        f"error: {path}: models[0].model 'os.path:': expected 'module:attr', "
        "e.g. 'my_pkg.fusion:MyFusion'"
    )


def test_a_metric_that_cannot_score_is_refused_before_training(
    sentinel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write({"models": ["concat"], "train": {"epochs": 1}, "report": {"metric": "os:getcwd"}})
    assert main(["protocols", "validate", str(path)]) == 2
    assert error_line(capsys).startswith(f"error: {path}: report.metric: 'os:getcwd' is a")
    trusted = write({**yaml.safe_load(path.read_text()), "trust_code": True}, "trusted.yaml")
    assert main(["protocols", "validate", str(trusted)]) == 0
    capsys.readouterr()
    assert main(["run", str(trusted), "--out", "run"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(
        "error: protocol 'hostile': report.metric 'os:getcwd': cannot be called as "
        "metric(labels, preds) ("
    ), line
    assert line.endswith("expected a function (labels, preds) -> float")
    assert not Path("run").exists()


def test_report_refuses_a_code_metric_in_protocol_json_without_the_opt_in(
    hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = simulate_run(Path("run"), models=["tacfn", "concat"], seeds=[0, 1])
    record = store.read_json(run / store.PROTOCOL_FILE)
    record["protocol"]["report"]["metric"] = f"{hostile}:hits"
    store.write_json(run / store.PROTOCOL_FILE, record)
    assert main(["report", str(run)]) == 2
    assert error_line(capsys) == (
        f"error: report.metric: '{hostile}:hits' is a 'module:attr' name: using it imports and "
        "runs that module; expected a registered name or a plug-in's entry point (see "
        "docs/plugins.md), or trust_code: true at the top level of a protocol you trust"
    )
    assert not ran(hostile)
    record["protocol"]["trust_code"] = True
    store.write_json(run / store.PROTOCOL_FILE, record)
    assert main(["report", str(run)]) == 0
    assert ran(hostile)
    assert "hits" in (run / "report" / "report.html").read_text()


def test_registered_names_need_no_opt_in(
    sentinel: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tacfn.models import MODELS, register_model
    from tacfn.models.fusion_concat import Concat

    monkeypatch.setattr(MODELS, "_objects", dict(MODELS._objects))
    register_model("lab:concat", Concat)
    path = write({"models": [{"name": "lab", "model": "lab:concat"}]})
    assert main(["protocols", "validate", str(path)]) == 0
    assert "trust_code" not in capsys.readouterr().out


def test_validate_checks_an_entry_point_name_without_loading_it(
    hostile: str, sentinel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = sentinel / "hostile_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[tacfn_robust.models]\nlisted_fusion = {hostile}:Model\n"
    )
    path = write({"models": ["concat", "listed_fusion"]})
    assert main(["protocols", "validate", str(path)]) == 0, capsys.readouterr().err
    assert "trust_code" not in capsys.readouterr().out
    assert not ran(hostile)
    assert main(["protocols", "validate", str(write({"models": ["listed_fusoin"]}))]) == 2
    assert "did you mean 'listed_fusion'?" in error_line(capsys)


def test_a_set_override_cannot_bring_code_without_the_opt_in(
    hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write({"models": ["concat"]})
    override = f"report.metric={hostile}:hits"
    assert main(["run", str(path), "--dry-run", "--set", override]) == 2
    assert not ran(hostile), "the protocol's code ran"
    assert error_line(capsys).startswith(
        f"error: {path} with --set {override}: report.metric: '{hostile}:hits' is a 'module:attr'"
    )
    assert (
        main(["protocols", "validate", str(path), "--set", override, "--set", "trust_code=true"])
        == 0
    )
    assert not ran(hostile)
