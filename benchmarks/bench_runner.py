"""Protocol runner: evaluation with encoder-output reuse vs the naive full forward per condition,
one default-protocol cell, and the default protocol end to end (wall time, peak RSS) as
informational rows."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.harness import Row, compare
from tacfn.data import EmotionDataset
from tacfn.models import get_preset
from tacfn_robust.protocols import load_protocol
from tacfn_robust.protocols.cell_task import execute_cell
from tacfn_robust.protocols.conditions import resolve_point
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.evaluate import evaluate
from tacfn_robust.protocols.grid import TrainCell, expand_conditions
from tacfn_robust.protocols.training import build_cell_model


def _sweep_rows(
    name: str, protocol, dataset, indices: np.ndarray, batch: int, repeats: int, note: str
) -> Row:
    conditions = expand_conditions(protocol, dataset.info.modalities, resolve_point)
    model = build_cell_model(protocol, TrainCell("tacfn", "clean", 0, 0), dataset.info)

    def naive() -> object:
        return evaluate(model, dataset, indices, conditions, 0, batch, reuse=False)

    def reused() -> object:
        return evaluate(model, dataset, indices, conditions, 0, batch, reuse=True)

    return compare(
        f"{name}: {len(conditions)} conditions, {len(indices)} clips",
        ("full forward per condition", naive),
        ("encoder-output reuse", reused),
        repeats=repeats,
        warmup=1 if repeats > 1 else 0,
        note=note,
    )


def cpu_preset_row(quick: bool) -> Row:
    """missing_audio's sweep (clean + 5 points) on its test fold, cpu preset, TACFN."""
    protocol = load_protocol("missing_audio")
    dataset = load_dataset(protocol.dataset)
    test = fold_split(dataset, protocol.dataset, 0).test
    indices = test[:48] if quick else test
    return _sweep_rows(
        "missing_audio sweep, cpu preset", protocol, dataset, indices, 64, 3 if quick else 5, ""
    )


def paper_preset_row(quick: bool) -> Row:
    """The same sweep on paper-sized inputs (3D ResNeXt-50, 3x30x224x224), forward only."""
    preset = get_preset("paper-ravdess")
    info = preset.reference
    clips = 2 if quick else 4
    gen = torch.Generator().manual_seed(0)
    inputs = {
        "audio": torch.randn((clips, *info.shapes["audio"]), generator=gen) * 0.1,
        "video": torch.randint(0, 256, (clips, *info.shapes["video"]), generator=gen).to(
            torch.uint8
        ),
    }
    ids = [f"bench/{i}" for i in range(clips)]
    dataset = EmotionDataset(
        info,
        inputs,
        torch.arange(clips) % info.num_classes,
        ids,
        pd.DataFrame({"actor": np.arange(clips)}),
        groups=np.arange(clips),
    )
    protocol = load_protocol(
        "missing_audio",
        ["preset=paper-ravdess", "device=cpu"],
    )
    return _sweep_rows(
        "missing_audio sweep, paper preset",
        protocol,
        dataset,
        np.arange(clips),
        clips,
        1 if quick else 2,
        "target >= 3",
    )


# The default protocol's design before the 6-fold one: 3 folds of 4 actors (360 train clips).
THREE_FOLDS = ["dataset.folds=3", "folds=[0, 1, 2]"]


def cell_row(quick: bool) -> Row:
    """One train cell of the default protocol (TACFN, modality dropout, seed 0, fold 0: train,
    evaluate every condition, store) against the same cell on 3 folds of 4 actors, interleaved;
    2 epochs when quick. Both cells are trained in full each time (fresh directories)."""
    epochs = ["train.epochs=2"] if quick else []
    cell = TrainCell("tacfn", "modality_dropout", 0, 0)
    shipped = load_protocol("missing_audio", epochs)
    previous = load_protocol("missing_audio", [*THREE_FOLDS, *epochs])
    records: dict[str, dict] = {}

    def run_cell(protocol) -> Callable[[], object]:
        load_dataset(protocol.dataset)

        def run() -> object:
            with tempfile.TemporaryDirectory() as tmp:
                records[protocol.dataset.folds] = execute_cell(
                    tmp, protocol.model_dump(mode="json"), cell
                )
            return records

        return run

    row = compare(
        "",
        ("cell on 3 folds", run_cell(previous)),
        ("cell on the shipped folds", run_cell(shipped)),
        repeats=1 if quick else 2,
        warmup=0,
    )
    old, new = records[previous.dataset.folds], records[shipped.dataset.folds]
    row.name = (
        f"missing_audio cell: tacfn, {shipped.train.epochs} epochs, "
        f"{len(new['conditions'])} test conditions; train/test clips "
        f"{old['n_train']}/{old['n_test']} (3 folds) vs {new['n_train']}/{new['n_test']} "
        f"({shipped.dataset.folds} folds)"
    )
    row.note = (
        f"{new['status']}; shipped cell: train {new.get('train_seconds')} s, "
        f"evaluate {new.get('eval_seconds')} s"
    )
    return row


def end_to_end_row(quick: bool) -> Row:
    """`tacfn-robust run` of the default protocol (smoke when quick), in a fresh directory."""
    name = "smoke" if quick else "missing_audio"
    cli = str(Path(sys.executable).parent / "tacfn-robust")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run(
            [cli, "run", name, "--out", str(Path(tmp) / "run")], capture_output=True, text=True
        )
        wall = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    return Row(
        f"run {name} end to end (informational)",
        "wall time",
        "wall time",
        wall,
        wall,
        note=f"{status}; peak RSS {rss_mb:.0f} MB; {wall / 60:.1f} min",
    )


def run(quick: bool) -> list[Row]:
    return [cpu_preset_row(quick), paper_preset_row(quick), cell_row(quick), end_to_end_row(quick)]
