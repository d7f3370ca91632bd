"""A small, honest run-directory simulator for the reports tests, and tests of the simulator.

Each sample of each (cell, condition) is correct with a given probability, drawn from a
generator seeded by (seed, fold, condition); a wrong sample gets a uniformly drawn wrong
class. The realised accuracies are therefore known in expectation and reproducible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tacfn.core import store

CLASSES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
MODALITIES = {
    "tacfn": ["audio", "video"],
    "concat": ["audio", "video"],
    "cross_attention": ["audio", "video"],
    "audio_only": ["audio"],
    "video_only": ["video"],
}
CLEAN = {
    "tacfn": 0.86,
    "concat": 0.82,
    "cross_attention": 0.80,
    "audio_only": 0.55,
    "video_only": 0.65,
}
P_VALUES = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]

# probability of a correct answer: (model, regime, condition dict) -> float
Accuracy = Callable[[str, str, dict], float]


def missing_audio_accuracy(model: str, regime: str, cond: dict) -> float:
    """Missing audio with probability p: reading audio-less clips falls to the video floor."""
    clean = CLEAN[model]
    if cond["corruption"] != "missing":
        return clean
    p = cond["value"]
    without = {"audio_only": 1 / len(CLASSES), "video_only": clean}.get(
        model, CLEAN["video_only"] - (0.02 if model == "cross_attention" else 0.0)
    )
    if regime == "modality_dropout" and model in ("tacfn", "concat", "cross_attention"):
        without += 0.04
    return (1 - p) * clean + p * without


def sweep_conditions(values: list[float] = P_VALUES, store_identity: bool = False) -> list[dict]:
    """Clean and one missing-audio condition per p; p=0 only when `store_identity`.

    The protocol runner maps identity points onto clean (store_identity=False); other
    producers may store them, and the reports handle both.
    """
    conds = [
        {
            "condition": "clean",
            "sweep": "clean",
            "corruption": None,
            "modality": None,
            "param": None,
            "value": None,
            "unit": None,
            "stage": None,
            "fill": None,
        }
    ]
    for p in values:
        if p == 0 and not store_identity:
            continue
        conds.append(
            {
                "condition": f"missing[audio].p={p}",
                "sweep": "missing[audio].p",
                "corruption": "missing",
                "modality": "audio",
                "param": "p",
                "value": p,
                "unit": "probability",
                "stage": "input",
                "fill": "zeros",
            }
        )
    return conds


def protocol_record(name: str, models: list[str], seeds: list[int], values: list[float]) -> dict:
    protocol = {
        "name": name,
        "description": "simulated missing-audio protocol",
        "dataset": {"name": "synthetic", "actors": 12, "folds": 1},
        "models": models,
        "seeds": seeds,
        "train": {"epochs": 3, "batch_size": 16, "regimes": {"clean": []}},
        "test": {
            "batch_size": 32,
            "sweeps": [
                {
                    "corruption": "missing",
                    "modality": "audio",
                    "fill": "zeros",
                    "stage": "input",
                    "param": "p",
                    "values": values,
                }
            ],
        },
        "report": {"reference": "concat", "ci": 0.95},
    }
    digest = hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "name": name,
        "description": protocol["description"],
        "hash": digest,
        "protocol": protocol,
        "versions": {"numpy": np.__version__, "pandas": pd.__version__},
        "machine": {
            "platform": "Linux-simulated",
            "processor": "x86_64",
            "cuda": None,
            "cores": 2,
            "torch_threads": 2,
        },
        "git_commit": "0" * 40,
        "created": "2024-01-01T00:00:00Z",
    }


def cell_key(record: dict, model: str, regime: str, seed: int, fold: int = 0) -> str:
    """A content key as the runner's: the protocol hash and the cell."""
    cell = f"{record['hash']}|{model}|{regime}|{seed}|{fold}"
    return hashlib.sha1(cell.encode()).hexdigest()[:12]


def _predictions(model, regime, seed, fold, conds, accuracy, n_samples, sim_seed) -> pd.DataFrame:
    k = len(CLASSES)
    labels = np.arange(n_samples) % k
    frames = []
    for ci, cond in enumerate(conds):
        # the identity point (p=0) draws the clean stream: same input, same predictions
        stream = 0 if cond["corruption"] == "missing" and cond["value"] == 0 else ci
        rng = np.random.default_rng([sim_seed, seed, fold, stream, sum(map(ord, model + regime))])
        correct = rng.random(n_samples) < accuracy(model, regime, cond)
        wrong = (labels + rng.integers(1, k, n_samples)) % k
        preds = np.where(correct, labels, wrong)
        logits = rng.normal(0, 1, (n_samples, k)).astype(np.float32)
        logits[np.arange(n_samples), preds] += 5.0
        frame = pd.DataFrame(
            {
                "model": model,
                "regime": regime,
                "seed": seed,
                "fold": fold,
                **{c: cond[c] for c in cond},
                "corruption2": None,
                "modality2": None,
                "param2": None,
                "value2": np.nan,
                "unit2": None,
                "sample_id": [f"s{i:04d}" for i in range(n_samples)],
                "label": labels,
                "pred": preds,
                "actor": np.arange(n_samples) % 12 + 1,
                "emotion": [CLASSES[i] for i in labels],
            }
        )
        for j in range(k):
            frame[f"logit_{j}"] = logits[:, j]
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["value"] = out["value"].astype(float)
    return out


def simulate_run(
    root: Path,
    name: str = "sim",
    models: list[str] | None = None,
    seeds: list[int] | None = None,
    regimes: list[str] | None = None,
    accuracy: Accuracy = missing_audio_accuracy,
    n_samples: int = 240,
    values: list[float] = P_VALUES,
    failed: dict[tuple[str, int], str] | None = None,
    sim_seed: int = 0,
    store_identity: bool = False,
    not_run: frozenset[tuple[str, int]] = frozenset(),
    folds: list[int] | None = None,
    dataset_limits: dict | None = None,
) -> Path:
    """Write protocol.json and store/cells/<key>/* for every (model, regime, seed, fold);
    fold 0 unless `folds` says otherwise. `dataset_limits` goes into every cell.json.

    Cells in `not_run` are listed in protocol.json but have no cell directory (interrupted).
    """
    folds = folds or [0]
    models = models or list(MODALITIES)
    seeds = seeds if seeds is not None else [0, 1, 2]
    regimes = regimes or ["clean"]
    failed = failed or {}
    root.mkdir(parents=True, exist_ok=True)
    record = protocol_record(name, models, seeds, values)
    record["protocol"]["train"]["regimes"] = {r: [] for r in regimes}
    if len(folds) > 1:
        record["protocol"]["dataset"]["folds"] = len(folds)
    conds = sweep_conditions(values, store_identity)
    grid = [
        {"key": cell_key(record, model, regime, seed, fold), "model": model, "regime": regime}
        | {"seed": seed, "fold": fold}
        for model in models
        for regime in regimes
        for seed in seeds
        for fold in folds
    ]
    # as the protocol runner: the current grid's cells and conditions
    record["cells"] = grid
    record["conditions"] = [c["condition"] for c in conds]
    record["conditions_hash"] = conditions = f"sim-{values}"
    store.write_json(root / store.PROTOCOL_FILE, record)
    for entry in grid:
        model, regime, seed, fold = entry["model"], entry["regime"], entry["seed"], entry["fold"]
        key = cell_key(record, model, regime, seed, fold)
        if (model, seed) in not_run:
            continue
        cell_dir = store.cell_dir(root, key)
        cell_dir.mkdir(parents=True, exist_ok=True)
        error = failed.get((model, seed))
        cell = {
            "key": key,
            "model": model,
            "regime": regime,
            "seed": seed,
            "fold": fold,
            "status": "failed" if error else "done",
            "error": error,
            "conditions_hash": conditions,
            "modalities": MODALITIES[model],
            "num_classes": len(CLASSES),
            "class_names": CLASSES,
            "parameters": 1000,
            "best_epoch": 2,
            "legacy_max_test_acc": 0.9,
            "seconds": 1.0,
        }
        if dataset_limits is not None:
            cell["dataset_limits"] = dataset_limits
        store.write_json(cell_dir / store.CELL_FILE, cell)
        if error:
            continue
        epochs = np.arange(1, 4)
        pd.DataFrame(
            {
                "epoch": epochs,
                "train_loss": 2.0 / epochs,
                "val_loss": 2.2 / epochs,
                "val_acc": 0.3 + 0.15 * epochs,
            }
        ).to_csv(cell_dir / store.LOG_FILE, index=False)
        preds = _predictions(model, regime, seed, fold, conds, accuracy, n_samples, sim_seed)
        identity = store.cell_identity(key, conditions)
        store.write_parquet(cell_dir / store.PREDICTIONS_FILE, preds, identity)
        records = {
            "condition": ["clean"],
            "sample_id": ["s0000"],
            "field": ["none"],
            "value": [0.0],
        }
        store.write_parquet(cell_dir / store.RECORDS_FILE, pd.DataFrame(records), identity)
    return root


def test_simulated_accuracy_matches_request(tmp_path: Path) -> None:
    root = simulate_run(tmp_path / "run", models=["tacfn"], seeds=[0], n_samples=4000)
    preds = pd.read_parquet(next(store.cells_root(root).glob(f"*/{store.PREDICTIONS_FILE}")))
    clean = preds[preds["condition"] == "clean"]
    assert len(clean) == 4000
    assert abs((clean["label"] == clean["pred"]).mean() - 0.86) < 0.02
    full = preds[preds["condition"] == "missing[audio].p=1.0"]
    assert abs((full["label"] == full["pred"]).mean() - 0.65) < 0.025


def test_simulation_is_reproducible(tmp_path: Path) -> None:
    a = simulate_run(tmp_path / "a", models=["concat"], seeds=[1])
    b = simulate_run(tmp_path / "b", models=["concat"], seeds=[1])
    pa = pd.read_parquet(next(store.cells_root(a).glob(f"*/{store.PREDICTIONS_FILE}")))
    pb = pd.read_parquet(next(store.cells_root(b).glob(f"*/{store.PREDICTIONS_FILE}")))
    pd.testing.assert_frame_equal(pa, pb)
