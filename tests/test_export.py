"""`tacfn-robust export`: paper tables (LaTeX, Markdown, CSV) and an MLflow tracking store,
read back through MLflow's own client, on a tiny real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tacfn_robust.cli import main

DATA = "dataset={name: synthetic, actors: 4, folds: 2, frames: 4, size: 32, duration: 0.5}"
SMALL = [DATA, "name=tiny_run", "train.epochs=1", "seeds=[0, 1]"]
SMALL += ["models=[tacfn, {name: my_concat, model: concat}]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    args = [a for s in SMALL for a in ("--set", s)]
    assert main(["run", "smoke", "--out", str(out), *args]) == 0
    return out


def _export(capsys, run_dir: Path, format: str) -> str:
    capsys.readouterr()
    assert main(["export", str(run_dir), "--format", format]) == 0
    return capsys.readouterr().out


def _environments_balance(latex: str) -> bool:
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", latex):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def test_latex_is_a_table_with_every_name_escaped(run_dir, capsys) -> None:
    latex = _export(capsys, run_dir, "latex")
    assert latex.startswith("\\begin{table}") and _environments_balance(latex)
    assert re.search(r"\\caption\{tiny\\_run\. accuracy: mean over runs", latex)
    spec = re.search(r"\\begin\{tabular\}\{([lc]+)\}", latex).group(1)
    body = latex.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    header = latex.split("\\toprule\n")[1].split("\\midrule")[0].strip().splitlines()
    assert len(header) == 1 and len(body) == 2
    for row in header + body:
        assert row.endswith("\\\\") and row.count("&") == len(spec) - 1
    assert [r.split(" & ")[0] for r in body] == ["tacfn", "my\\_concat"]
    assert not re.search(r"(?<!\\)[_%#]", latex.replace("\\label{tab:tiny_run}", ""))
    summary = json.loads((run_dir / "summary.json").read_text())
    clean = next(
        p
        for p in summary["points"]
        if (p["model"], p["condition"], p["metric"]) == ("my_concat", "clean", "accuracy")
    )
    half = (clean["ci_high"] - clean["ci_low"]) / 2
    assert f"{clean['mean']:.3f} $\\pm$ {half:.3f}" in body[1]


def test_markdown_renders_as_a_pipe_table(run_dir, capsys) -> None:
    text = _export(capsys, run_dir, "markdown")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 4 and re.fullmatch(r"\|[-:|]+\|", table[1])
    assert len({line.count("|") for line in table}) == 1
    assert table[0].split("|")[2].strip() == "clean" and table[0].split("|")[-2].strip() == "n"
    assert table[3].split("|")[1].strip() == "my_concat" and " ± " in table[3]
    assert "half-width of the 95% interval" in text


def test_csv_is_the_tidy_table_of_summary_points(run_dir, capsys) -> None:
    from io import StringIO

    frame = pd.read_csv(StringIO(_export(capsys, run_dir, "csv")))
    summary = json.loads((run_dir / "summary.json").read_text())
    points = pd.DataFrame(summary["points"])
    points = points[(points["metric"] == "accuracy") & points["corruption2"].isna()]
    assert len(frame) == len(points) == 2 * 4
    merged = frame.merge(points, on=["model", "regime", "condition"], suffixes=("", "_p"))
    assert (merged["mean"] - merged["mean_p"]).abs().max() < 1e-9
    assert set(frame.loc[frame["model"] == "my_concat", "verdict"]) <= {
        "better",
        "worse",
        "equivalent",
        "inconclusive",
    }
    assert frame.loc[frame["model"] == "tacfn", "verdict"].isna().all()


def test_mlflow_holds_every_cell_with_the_scores_of_results_csv(run_dir, tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    from tacfn_robust.reports.rendering.tracking import metric_key

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["export", str(run_dir), "--format", "mlflow", "--tracking-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny_run")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.data.params["protocol"] == "tiny_run" and len(children) == 4
    artefacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report", "summary.json", "results.csv"} <= artefacts
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.html" in report
    results = pd.read_csv(run_dir / "results.csv")
    for child in children:
        params = child.data.params
        cell = results[
            (results["model"] == params["model"])
            & (results["regime"] == params["regime"])
            & (results["seed"] == int(params["seed"]))
            & (results["fold"] == int(params["fold"]))
        ]
        expected = {
            metric_key(m, c): float(v)
            for m, c, v in zip(cell["metric"], cell["condition"], cell["score"], strict=True)
        }
        assert len(expected) == len(cell) > 0
        assert child.data.metrics == pytest.approx(expected, abs=0, rel=1e-12)
        files = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"cell.json", "train_log.csv", "metric_keys.json"} <= files
