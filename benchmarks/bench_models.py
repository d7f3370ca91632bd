"""TACFN block and trainer costs, as ratios measured in one run (ratio > 1: candidate faster).

(a) the vectorised TACFN block vs a per-sample loop of the same computation (paper shapes);
(b) the block vs its dominant operations alone (5-layer source self-attention + the 2048->64
    projection on a contiguous channels-last tensor): ratio >= 0.8 means within 1.25x;
(c) trainer epoch vs a plain hand-written PyTorch loop over the same model and batches;
(d) the cpu-preset budget: one TACFN cell (480 clips, 10 epochs, batch 32) against 8 s, and
    evaluation of 240 clips against 1 s (ratio >= 1: within budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.harness import Row, compare
from tacfn.data import build_dataset
from tacfn.data.info import Split
from tacfn.models import build_model, get_preset
from tacfn.models.encoders import select_step
from tacfn.train import TrainConfig, classification_loss, fit, predict
from tacfn.train.fit import _Loop


def _paper_block_inputs(batch: int) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    model = build_model("tacfn", get_preset("paper-ravdess").reference, "paper-ravdess", seed=0)
    gen = torch.Generator().manual_seed(0)
    video = torch.randn(batch, 2048, 2, 7, 7, generator=gen)
    feats = {
        "audio": torch.randn(batch, 26, 64, generator=gen),
        "video": video.contiguous(memory_format=torch.channels_last_3d),
    }
    return model.eval(), feats


def _dominant(model: torch.nn.Module, feats: dict[str, torch.Tensor]) -> Callable[[], object]:
    """The block's dominant operations alone: source self-attention and the target projection."""
    affine = model.blocks[0].channel_affine
    target_cl = feats["video"].permute(0, 2, 3, 4, 1)
    assert target_cl.is_contiguous()

    def run() -> object:
        h = select_step(model.selectors["audio"](feats["audio"]), "last")
        return h, F.linear(target_cl, affine.weight, affine.bias)

    return run


def block_rows(quick: bool) -> list[Row]:
    rows = []
    repeats = 3 if quick else 7
    model, feats = _paper_block_inputs(16)

    def vectorised() -> object:
        return model.apply_blocks(feats)

    def per_sample() -> object:
        return [
            model.apply_blocks({m: x[b : b + 1] for m, x in feats.items()})
            for b in range(feats["audio"].shape[0])
        ]

    with torch.inference_mode():
        rows.append(
            compare(
                "tacfn block, B=16, 2048x2x7x7 <- 64x26",
                ("per-sample loop", per_sample),
                ("vectorised", vectorised),
                repeats=repeats,
                note="target >= 2.5",
            )
        )
        for batch in (16, 64):
            model, feats = _paper_block_inputs(batch)

            rows.append(
                compare(
                    f"tacfn block vs dominant ops, B={batch}",
                    ("self-attn + 2048->64 proj", _dominant(model, feats)),
                    ("whole block", lambda m=model, f=feats: m.apply_blocks(f)),
                    repeats=repeats,
                    note="target >= 0.8 (block within 1.25x)",
                )
            )
    return rows


def _synthetic_split(dataset, train: int, val: int) -> Split:
    order = np.random.default_rng(0).permutation(len(dataset))
    return Split("bench", order[:train], order[train : train + val], order[train + val :])


def trainer_rows(quick: bool) -> list[Row]:
    dataset = build_dataset("synthetic", size=32)  # as the default protocols render it
    split = _synthetic_split(dataset, 480, 0)
    if quick:
        split = Split("bench", split.train[:160], split.val, split.test)
    config = TrainConfig(epochs=1, batch_size=32, select="last", device="cpu", seed=0)
    model = build_model("tacfn", dataset.info, "cpu", seed=0)
    loop = _Loop(model, dataset, split, config, torch.device("cpu"), "fusion", 1)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)

    def plain() -> None:
        model.train()
        for batch in dataset.iter_batches(split.train, 32, 1):
            loss = classification_loss(model(batch), batch.labels)
            opt.zero_grad()
            loss.backward()
            opt.step()

    rows = [
        compare(
            f"trainer epoch vs plain loop, tacfn cpu, {len(split.train)} clips",
            ("plain loop", plain),
            ("trainer", lambda: loop.epoch(1, None)),
            repeats=2 if quick else 3,
            note="target >= 0.95 (overhead <= 5 %)",
        )
    ]
    epochs = 2 if quick else 10
    cell = _synthetic_split(dataset, 480, 120)
    model = build_model("tacfn", dataset.info, "cpu", seed=0)
    start = time.perf_counter()
    fit(
        model, dataset, cell, TrainConfig(epochs=epochs, batch_size=32, select="last", device="cpu")
    )
    seconds = time.perf_counter() - start
    rows.append(
        Row(
            f"cpu cell: tacfn fit, 480 clips at 32 px, {epochs} epochs, batch 32, val 120",
            f"budget {0.8 * epochs:.1f} s",
            "fit",
            0.8 * epochs,
            seconds,
            "target >= 1 (within budget)",
        )
    )
    test = cell.test[:240]
    predict(model, dataset, test)
    start = time.perf_counter()
    predict(model, dataset, test)
    rows.append(
        Row(
            "cpu eval: tacfn predict, 240 clips",
            "budget 1 s",
            "predict",
            1.0,
            time.perf_counter() - start,
            "target >= 1",
        )
    )
    return rows


def run(quick: bool) -> list[Row]:
    return block_rows(quick) + trainer_rows(quick)
