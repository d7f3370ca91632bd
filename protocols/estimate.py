"""The time estimate of a plan's pending cells (shown by --dry-run)."""

from __future__ import annotations

import math
import time

import torch
from tacfn_robust.protocols.datasets import fold_split, load_dataset
from tacfn_robust.protocols.fills import TrainMeans
from tacfn_robust.protocols.planning import Plan
from tacfn_robust.protocols.training import build_cell_model, train_regime

from tacfn.core.device import resolve_device


def estimate_seconds(p: Plan) -> float:
    """Wall time of the pending cells, from one timed training step per model on real data."""
    protocol = p.protocol
    dataset = load_dataset(protocol.dataset)
    device = resolve_device(protocol.device)
    step: dict[str, float] = {}
    for cell in p.pending:
        if cell.model in step:
            continue
        split = fold_split(dataset, protocol.dataset, cell.fold)
        model = build_cell_model(protocol, cell, dataset.info).to(device)
        batch = dataset.batch(split.train[: protocol.train.batch_size]).to(device)
        regime = train_regime(protocol, cell, TrainMeans(dataset, split.train))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            logits = model(regime(batch, 0) if regime else batch)
            logits.float().sum().backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - start)
        step[cell.model] = min(times)
    total = 0.0
    for cell in p.pending:
        split = fold_split(dataset, protocol.dataset, cell.fold)
        steps = math.ceil(len(split.train) / protocol.train.batch_size)
        val_steps = math.ceil(len(split.val) / protocol.train.batch_size)
        train = protocol.train.epochs * (steps + val_steps / 3) * step[cell.model]
        evaluation = len(p.conditions) * len(split.test) / protocol.train.batch_size
        total += train + evaluation * step[cell.model] / 3
    return total
