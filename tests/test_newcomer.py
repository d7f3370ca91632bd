"""A newcomer adds a corruption, a model and a metric, each in one place (one module of their
own), and uses all three in a protocol: the corruption in a test sweep, the model in
`models`, the metric as `report.metric`. A fusion model written as the built-in ones are
reaches `tacfn-robust models`, protocols and the report from its one module."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tacfn.core.errors import ConfigError
from tacfn.models import MODELS
from tacfn_robust.corruptions import CORRUPTIONS
from tacfn_robust.protocols import run_protocol, validate
from tacfn_robust.reports.scoring.metrics import METRICS

NEWCOMER = '''
"""Everything a newcomer adds: one corruption, one model, one metric."""

import numpy as np
import torch
from torch import nn

from tacfn_robust.corruptions.base import Corruption
from tacfn_robust import register_corruption, register_metric, register_model


@register_corruption
class Scale(Corruption):
    """Every input value multiplied by a factor."""

    name = "scale"
    kind = "any"
    param = "factor"
    unit = "x"
    levels = (0.8, 0.6, 0.4, 0.2, 0.0)
    identity = 1.0
    bounds = (0.0, 10.0)

    def corrupt(self, x, seeds, batch):
        return x * self.value, [{"factor": self.value} for _ in seeds]


@register_model("mean_audio")
class MeanAudio(nn.Module):
    """Logits from the mean and spread of the waveform: nn.Module, Batch -> logits."""

    def __init__(self, info, width: int = 4):
        super().__init__()
        self.modalities = ("audio",)
        classes = info.num_classes
        self.layer = nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, classes))

    def forward(self, batch):
        x = batch.inputs["audio"]
        return self.layer(torch.stack([x.mean(1), x.abs().mean(1)], dim=1))


@register_metric
def hit_rate(labels, preds):
    """Share of samples predicted correctly."""
    return float(np.mean(np.asarray(labels) == np.asarray(preds)))
'''

DATA = {"name": "synthetic", "actors": 4, "folds": 2, "frames": 4, "size": 32, "duration": 0.5}


@pytest.fixture
def newcomer(tmp_path: Path, monkeypatch):
    """The newcomer's module, imported from tmp_path; its registrations end with the test."""
    for registry in (CORRUPTIONS, MODELS, METRICS):
        monkeypatch.setattr(registry, "_objects", dict(registry._objects))
    (tmp_path / "newcomer_plugin.py").write_text(textwrap.dedent(NEWCOMER))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(importlib.sys.modules, "newcomer_plugin", raising=False)
    return importlib.import_module("newcomer_plugin")


def _protocol(**changes: object) -> dict:
    data = {
        "name": "newcomer",
        "dataset": DATA,
        "models": [{"name": "mine", "model": "mean_audio", "options": {"width": 3}}],
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.01},
        "test": {"sweeps": [{"corruption": "scale", "modality": "audio", "values": [1.0, 0.0]}]},
        "seeds": [0],
        "folds": [0],
        "report": {"metric": "hit_rate"},
    }
    return {**data, **changes}


def test_each_addition_is_usable_from_its_one_module(newcomer, tmp_path: Path) -> None:
    protocol = validate(_protocol())
    assert protocol.model_entries["mine"].model == "mean_audio"
    result = run_protocol(protocol, tmp_path / "run", workers=1, executor="local")
    assert [c["status"] for c in result.cells] == ["done"]
    stored = next((tmp_path / "run").glob("store/cells/*/predictions.parquet"))
    predictions = pd.read_parquet(stored)
    assert sorted(predictions["condition"].unique()) == [
        "clean",
        "scale[audio].factor=0",
        "scale[audio].factor=1",
    ]
    scaled = predictions[predictions["condition"] == "scale[audio].factor=0"]
    # factor 0 zeroes the waveform: every sample gets the logits of an all-zero input
    assert scaled[["logit_0", "logit_1"]].drop_duplicates().shape[0] == 1
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    hits = table[table["metric"] == "hit_rate"].set_index("condition")["score"]
    accuracy = table[table["metric"] == "accuracy"].set_index("condition")["score"]
    assert np.allclose(hits.sort_index(), accuracy.sort_index())
    clean = predictions[predictions["condition"] == "clean"]
    assert hits["clean"] == pytest.approx(float(np.mean(clean["label"] == clean["pred"])))
    page = (tmp_path / "run" / "report" / "report.html").read_text()
    assert "Lines: mean hit rate over runs" in page  # a plain function's label: its name


def test_names_of_additions_get_did_you_mean(newcomer) -> None:
    with pytest.raises(ConfigError) as info:
        validate(_protocol(models=["mean_audo"]))
    assert "<dict>: models: unknown model 'mean_audo'" in str(info.value)
    assert "did you mean 'mean_audio'?" in str(info.value)
    with pytest.raises(ConfigError) as info:
        validate(_protocol(report={"metric": "hit_rte"}), "mine.py")
    assert str(info.value).startswith("mine.py: report.metric: unknown metric 'hit_rte'")
    assert str(info.value).endswith("did you mean 'hit_rate'?")
    with pytest.raises(ConfigError, match=r"models\[0\].options: unknown option 'depth'"):
        validate(_protocol(models=[{"name": "m", "model": "mean_audio", "options": {"depth": 2}}]))


@pytest.mark.slow
def test_python_registrations_reach_pool_workers(newcomer, tmp_path: Path) -> None:
    """Spawned workers resolve the parent's Python registrations by importing their module."""
    protocol = validate(_protocol(seeds=[0, 1], report={"metric": "accuracy"}))
    runs = {}
    for workers in (1, 2):
        run_protocol(protocol, tmp_path / f"w{workers}", workers=workers, report=False)
        files = sorted((tmp_path / f"w{workers}").glob("store/cells/*/predictions.parquet"))
        runs[workers] = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    assert set(runs[1]["seed"]) == {0, 1} and runs[1]["condition"].nunique() == 3
    pd.testing.assert_frame_equal(runs[1], runs[2])


BUILTIN_STYLE = '''
"""A fusion model written as the built-in ones are: one module, registered where defined."""

import torch

from tacfn.models.base import FusionModel
from tacfn.models.registry import register_model


@register_model("reversed_concat")
class ReversedConcat(FusionModel):
    """logits = head([summary_m(X_m) for m in reversed modalities])."""

    def __init__(self, info, preset, causal: bool = False, select: str = "last"):
        super().__init__(info, preset, info.modalities, False, causal, select)
        self.classifier = self.make_head(sum(self.summaries[m].dim for m in self.modalities))

    def head(self, feats):
        order = self.modalities[::-1]
        return self.classifier(torch.cat([self.summaries[m](feats[m]) for m in order], 1))
'''


def test_a_builtin_style_model_reaches_the_cli_protocols_and_report(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from tacfn_robust.cli import main

    monkeypatch.setattr(MODELS, "_objects", dict(MODELS._objects))
    (tmp_path / "reversed_concat_fusion.py").write_text(textwrap.dedent(BUILTIN_STYLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(importlib.sys.modules, "reversed_concat_fusion", raising=False)
    importlib.import_module("reversed_concat_fusion")

    monkeypatch.setenv("COLUMNS", "200")  # the whole table on one line per model
    assert main(["models", "--preset", "cpu"]) == 0
    assert "reversed_concat" in capsys.readouterr().out
    protocol = validate(
        _protocol(models=["concat", "reversed_concat"], test={"sweeps": []}, report={})
    )
    assert protocol.models == ["concat", "reversed_concat"]
    run_protocol(protocol, tmp_path / "run", workers=1, executor="local")
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert set(table["model"]) == {"concat", "reversed_concat"}
    page = (tmp_path / "run" / "report" / "report.html").read_text()
    assert "reversed_concat" in page


def test_every_builtin_fusion_module_registers_its_models() -> None:
    """A built-in model is one tacfn/models/fusion_<name>.py: the registry imports each one."""
    import inspect

    from tacfn.models.base import FusionModel
    from tacfn.models.fusion_unimodal import Unimodal

    folder = Path(importlib.import_module("tacfn.models").__file__).parent
    registered = {MODELS.get(name) for name in MODELS.names()}
    for path in sorted(folder.glob("fusion_*.py")):
        module = importlib.import_module(f"tacfn.models.{path.stem}")
        defined = {
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, FusionModel) and obj.__module__ == module.__name__
        }
        assert defined - {Unimodal} <= registered, path.name
