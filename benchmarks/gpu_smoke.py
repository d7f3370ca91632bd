"""GPU smoke check for the paper preset: forward + backward at batch 16 with AMP.

    python -m benchmarks.gpu_smoke [--model tacfn] [--batch 16] [--steps 5] [--json FILE]

Prints throughput (clips/s) and peak GPU memory of training steps of the paper-ravdess
preset (3D ResNeXt-50 on 3x30x224x224 clips, MFCC 13x212), and checks that a few eval-mode
predictions on the GPU match the CPU's (float32, no AMP) within tolerance. Runs in well
under 5 minutes on one GPU. Exit 0 when the predictions agree, 1 otherwise, 2 without CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from tacfn.core.batch import Batch
from tacfn.core.io import write_json
from tacfn.models import build_model
from tacfn.models.presets import get_preset


def random_batch(info, batch_size: int, seed: int) -> Batch:
    """A reproducible batch with the preset's reference shapes (CPU tensors)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = {}
    for modality in info.modalities:
        shape = (batch_size, *info.shapes[modality])
        if info.kinds[modality] == "frames":
            inputs[modality] = torch.rand(shape, generator=gen)
        else:
            inputs[modality] = 0.1 * torch.randn(shape, generator=gen)
    present = {m: torch.ones(batch_size, dtype=torch.bool) for m in info.modalities}
    labels = torch.randint(0, info.num_classes, (batch_size,), generator=gen)
    ids = tuple(f"smoke/{seed}/{i}" for i in range(batch_size))
    return Batch(inputs, present, labels, ids, sample_rate=info.sample_rate)


def train_throughput(model, info, batch_size: int, steps: int, device: torch.device) -> dict:
    """Clips per second and peak memory of bf16-autocast training steps."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = random_batch(info, batch_size, seed=0).to(device, non_blocking=True)
    torch.cuda.reset_peak_memory_stats(device)
    timings = []
    for step in range(steps + 1):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(batch).float(), batch.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize(device)
        if step:  # the first step includes cuDNN autotuning
            timings.append(time.perf_counter() - start)
    step_s = sorted(timings)[len(timings) // 2]
    return {
        "step_s": step_s,
        "clips_per_s": batch_size / step_s,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30,
    }


def cpu_gpu_agreement(model, info, device: torch.device, samples: int = 2) -> dict:
    """Max |logit difference| between CPU and GPU eval-mode float32 predictions."""
    batch = random_batch(info, samples, seed=1)
    model.eval()
    with torch.inference_mode():
        gpu = model.to(device)(batch.to(device)).float().cpu()
        cpu = model.to("cpu")(batch).float()
    diff = (gpu - cpu).abs().max().item()
    return {
        "max_abs_logit_diff": diff,
        "same_argmax": bool((gpu.argmax(-1) == cpu.argmax(-1)).all()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_smoke")
    parser.add_argument("--model", default="tacfn")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=1e-2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: no CUDA device; this smoke check needs one GPU", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    info = get_preset("paper-ravdess").reference
    model = build_model(args.model, info, preset="paper-ravdess", seed=0)
    result = {
        "device": torch.cuda.get_device_name(device),
        "model": args.model,
        "batch": args.batch,
        **train_throughput(model, info, args.batch, args.steps, device),
        **cpu_gpu_agreement(model, info, device),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        write_json(args.json, result)
    return 0 if result["max_abs_logit_diff"] <= args.tolerance and result["same_argmax"] else 1


if __name__ == "__main__":
    sys.exit(main())
