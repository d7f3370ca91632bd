"""The example plug-in (examples/plugin): installed as a package without network, its own
model, data set and metric are used by entry-point name from its protocol YAML, in this
process and through the CLI under the local process pool and under Dask; its checkpoints are
then evaluated without retraining and checked against a baseline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"
PROTOCOL = PLUGIN / "protocol.yaml"
CLI = str(Path(sys.executable).parent / "tacfn-robust")
KEYS = ["model", "regime", "seed", "fold", "condition", "sample_id"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plug-in installed into a folder of its own (no network, no dependencies), built from
    a copy so that parallel test workers never share a build directory."""
    source = tmp_path_factory.mktemp("plugin_source") / "plugin"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp_path_factory.mktemp("plugin_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    return target


def predictions(run_dir: Path) -> pd.DataFrame:
    """Every stored prediction row of a run, in a fixed order."""
    frames = [pd.read_parquet(p) for p in sorted(run_dir.glob("store/cells/*/predictions.parquet"))]
    return pd.concat(frames).sort_values(KEYS).reset_index(drop=True)


def cli(installed: Path, *args: str) -> subprocess.CompletedProcess:
    """`tacfn-robust ARGS` in a fresh process that finds the plug-in on PYTHONPATH only."""
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=900)


def test_plugin_runs_in_process(installed: Path, tmp_path: Path, monkeypatch) -> None:
    from tacfn_robust.protocols import load_protocol, run_protocol

    monkeypatch.syspath_prepend(str(installed))
    protocol = load_protocol(PROTOCOL)
    assert protocol.dataset.name == "toy_emotions" and protocol.report.metric == "cohen_kappa"
    result = run_protocol(protocol, tmp_path / "run", workers=1, executor="local")
    assert [c["status"] for c in result.cells] == ["done"] * 4
    assert {c["builds"] for c in result.cells} == {"mean_pool_fusion"}
    rows = predictions(tmp_path / "run")
    assert set(rows["condition"]) == {
        "clean",
        "missing[audio].p=0",
        "missing[audio].p=0.5",
        "missing[audio].p=1",
        "feature_noise[text].std_multiple=0.1",
        "feature_noise[text].std_multiple=0.5",
    }
    assert len(rows) == 4 * 6 * 96  # 4 cells x 6 conditions x 96 test samples (4 speakers x 24)
    table = pd.read_parquet(tmp_path / "run" / "results.parquet")
    kappa = table[(table["metric"] == "cohen_kappa") & (table["condition"] == "clean")]
    assert len(kappa) == 4 and kappa["score"].between(-1, 1).all()


def test_plugin_objects_by_module_attr_names(installed: Path, tmp_path: Path, monkeypatch) -> None:
    from tacfn_robust.protocols import load_protocol, plan
    from tacfn_robust.protocols.datasets import load_dataset
    from tacfn_robust.protocols.training import build_cell_model

    monkeypatch.syspath_prepend(str(installed))
    target = "tacfn_example_plugin.models:MeanPoolFusion"
    model = f"{{name: mine, model: '{target}', options: {{hidden: 8}}}}"
    protocol = load_protocol(
        PROTOCOL,
        [
            "dataset.name=tacfn_example_plugin.data:load_toy_emotions",
            f"models=[{model}]",
            "trust_code=true",
        ],
    )
    p = plan(protocol, tmp_path / "run")
    assert len(p.cells) == 2 and len(p.conditions) == 6
    built = build_cell_model(protocol, p.cells[0], load_dataset(protocol.dataset).info)
    assert type(built).__name__ == "MeanPoolFusion" and built.classify.in_features == 8


@pytest.fixture(scope="module")
def plugin_runs(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example protocol run through the CLI under each executor: executor -> run dir.

    These run directories (checkpoints included) are what `evaluate` and `check` of the
    plug-in's checkpoints start from.
    """
    root = tmp_path_factory.mktemp("plugin_runs")
    runs = {"pool": root / "pool", "dask": root / "dask"}
    executors = {"pool": ["--workers", "2"], "dask": ["--executor", "dask", "--workers", "2"]}
    for name, options in executors.items():
        done = cli(installed, "run", str(PROTOCOL), "--out", str(runs[name]), *options)
        assert done.returncode == 0, done.stderr[-3000:]
    return runs


@pytest.mark.slow
def test_plugin_runs_identically_under_the_pool_and_dask(plugin_runs: dict[str, Path]) -> None:
    pool, dask = (predictions(plugin_runs[k]) for k in ("pool", "dask"))
    assert len(pool) == 4 * 6 * 96
    pd.testing.assert_frame_equal(pool, dask)
    for run_dir in plugin_runs.values():
        assert (run_dir / "report" / "report.html").is_file()
        table = pd.read_parquet(run_dir / "results.parquet")
        assert "cohen_kappa" in set(table["metric"])


@pytest.mark.slow
def test_plugin_checkpoints_evaluate_to_the_same_predictions_and_pass_the_check(
    installed: Path, plugin_runs: dict[str, Path], tmp_path: Path
) -> None:
    trained, evaluated = plugin_runs["pool"], tmp_path / "evaluated"
    done = cli(
        installed, "evaluate", str(PROTOCOL), "--from", str(trained), "--out", str(evaluated)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pd.testing.assert_frame_equal(predictions(trained), predictions(evaluated))
    baseline = tmp_path / "baseline.json"
    saved = cli(installed, "baseline", "save", str(trained), str(baseline))
    assert saved.returncode == 0, saved.stderr[-3000:]
    checked = cli(installed, "check", str(evaluated), "--baseline", str(baseline))
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
