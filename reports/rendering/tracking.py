"""A run logged to an MLflow tracking store (the optional `mlflow` extra).

The run becomes a parent MLflow run (the protocol's name, hash, metric and cell count as
parameters; report/, summary.json, results.csv and protocol.yaml as artefacts) with one child
run per cell of the current grid: its model, regime, seed, fold, key and training facts as
parameters, every metric × condition score of results.csv as a metric (`metric_key`), and
cell.json and train_log.csv as artefacts. MLflow allows only some characters in metric
names, so each child also stores metric_keys.json: metric name -> (metric, condition).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from tacfn.core import store
from tacfn.core.errors import ConfigError

CELL_PARAMS = ("key", "builds", "best_epoch", "n_train", "n_val", "n_test", "parameters", "device")
CELL_ARTEFACTS = (store.CELL_FILE, store.LOG_FILE)


def metric_key(metric: str, condition: str) -> str:
    """An MLflow metric name for a score: `<metric>/<condition>`, each character MLflow
    refuses (anything but letters, digits, _ - . / space and :) replaced by `_`."""
    return re.sub(r"[^/\w.\- :]", "_", f"{metric}/{condition}")


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(
            "export --format mlflow needs MLflow; expected it installed "
            "(pip install 'tacfn-robust[mlflow]')"
        ) from None
    return MlflowClient(tracking_uri=tracking_uri)


def _experiment(client: Any, name: str, tracking_uri: str) -> str:
    """The experiment's id, created when new; a SQLite store keeps a new experiment's
    artefacts in mlartifacts/ beside its database file (MLflow's default is ./mlruns)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri.removeprefix("sqlite:///")).resolve()
        location = (database.parent / "mlartifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


def _log_cell(
    client: Any, experiment: str, parent: str, cell: dict[str, Any], scores: pd.DataFrame
) -> str:
    """One cell as a child run of `parent`: parameters, scores as metrics, artefacts."""
    from mlflow.entities import Metric

    name = f"{cell['model']}/{cell['regime']}/seed{cell['seed']}/fold{cell['fold']}"
    run = client.create_run(experiment, run_name=name, tags={"mlflow.parentRunId": parent})
    run_id = run.info.run_id
    params = {k: cell[k] for k in ("model", "regime", "seed", "fold")}
    params |= {k: cell[k] for k in CELL_PARAMS if cell.get(k) is not None}
    params["options"] = json.dumps(cell.get("options") or {}, sort_keys=True)
    keys = {
        metric_key(m, c): [m, c] for m, c in zip(scores["metric"], scores["condition"], strict=True)
    }
    if len(keys) != len(scores):
        raise ConfigError(f"cell {name}: two scores share an MLflow metric name")
    metrics = [
        Metric(metric_key(m, c), float(v), 0, 0)
        for m, c, v in zip(scores["metric"], scores["condition"], scores["score"], strict=True)
    ]
    client.log_batch(run_id, metrics=metrics, params=[_param(k, v) for k, v in params.items()])
    client.log_dict(run_id, keys, "metric_keys.json")
    directory = store.cell_dir(Path(cell["run_dir"]), cell["key"])
    for artefact in CELL_ARTEFACTS:
        if (directory / artefact).is_file():
            client.log_artifact(run_id, str(directory / artefact))
    client.set_terminated(run_id, "FINISHED" if cell.get("status") == "done" else "FAILED")
    return run_id


def export_mlflow(run_dir: str | Path, tracking_uri: str, experiment: str | None = None) -> str:
    """Log a run (its report built) to the MLflow store at `tracking_uri` (e.g.
    `sqlite:///mlflow.db`) under `experiment` (default: the protocol's name); returns the
    parent run's id."""
    root = Path(run_dir)
    remedy = f"build it with `tacfn-robust report {run_dir}`"
    record = store.read_json(root / store.PROTOCOL_FILE)
    summary = store.read_json(root / store.SUMMARY_FILE, remedy)
    results_path = root / store.RESULTS_CSV
    if not results_path.is_file():
        raise ConfigError(f"{results_path}: no such file; {remedy}")
    results = pd.read_csv(results_path, keep_default_na=False, na_values=[""])
    client = _client(tracking_uri)
    name = str(record.get("name") or summary["protocol"]["name"])
    experiment_id = _experiment(client, experiment or name, tracking_uri)
    parent = client.create_run(experiment_id, run_name=name).info.run_id
    params = {
        "protocol": name,
        "protocol_hash": record.get("hash"),
        "metric": summary.get("metric"),
        "cells": len(record.get("cells") or []),
    }
    client.log_batch(parent, params=[_param(k, v) for k, v in params.items()])
    for file in (store.SUMMARY_FILE, store.RESULTS_CSV, store.PROTOCOL_YAML):
        if (root / file).is_file():
            client.log_artifact(parent, str(root / file))
    client.log_artifacts(parent, str(store.report_dir(root)), store.REPORT_DIR)
    by_cell = results.groupby(store.RUN_KEYS, sort=False)
    for listed in record.get("cells") or []:
        cell_path = store.cell_dir(root, listed["key"]) / store.CELL_FILE
        if not cell_path.is_file():
            continue
        cell = store.read_json(cell_path) | {"run_dir": str(root)}
        key = tuple(cell[k] for k in store.RUN_KEYS)
        scores = by_cell.get_group(key) if key in by_cell.groups else results.iloc[:0]
        _log_cell(client, experiment_id, parent, cell, scores)
    client.set_terminated(parent)
    return parent


def _param(key: str, value: Any) -> Any:
    from mlflow.entities import Param

    return Param(key, str(value))
