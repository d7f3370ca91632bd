"""Per-sample seeds and generators: stable keys, never global RNG state."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from tacfn.core.hashing import MASK_63, stable_key


def _keys(tag: str, prefix: tuple[object, ...], ids: Iterable[str]) -> torch.Tensor:
    return torch.tensor([stable_key(tag, *prefix, str(i)) for i in ids], dtype=torch.int64)


def sample_seed(protocol_seed: int, condition: str, sample_id: str) -> int:
    """The seed the runner gives sample `sample_id` under a test condition's corruption.

    `condition` is the key the runner seeds a corruption by: the sweep point's id as in the
    `condition` column of predictions.parquet (`gaussian_snr[audio].snr_db=10`; each axis of
    a joint `A+B` condition by its own id), `missing[<modality>]` for a missing sweep.
    `c(x, seed=sample_seed(test_seed, condition, sample_id))` then equals the runner's input.
    """
    return stable_key("test", int(protocol_seed), str(condition), str(sample_id))


def test_seeds(protocol_seed: int, condition: str, ids: Iterable[str]) -> torch.Tensor:
    """Seeds (B,) int64 of a test condition: `sample_seed` of every id."""
    return torch.tensor([sample_seed(protocol_seed, condition, i) for i in ids], dtype=torch.int64)


test_seeds.__test__ = False  # a library function, not a pytest test when imported into tests


def train_seeds(seed: int, epoch: int, ids: Iterable[str]) -> torch.Tensor:
    """Seeds (B,) int64 of a training epoch: a pure function of (seed, epoch, id)."""
    return _keys("train", (int(seed), int(epoch)), ids)


def row_seeds(seed: int, n: int) -> torch.Tensor:
    """Seeds (n,) int64 of the rows of a batch transformed with one `seed=`."""
    return torch.tensor([stable_key(int(seed), "row", i) for i in range(n)], dtype=torch.int64)


def random_seeds(n: int) -> torch.Tensor:
    """Fresh seeds (n,) int64 from torch's global RNG (reproducible under torch.manual_seed)."""
    return torch.randint(0, MASK_63, (n,), dtype=torch.int64)


def derive_seeds(seeds: torch.Tensor, *parts: object) -> torch.Tensor:
    """Child seeds (B,) of each seed for a named sub-stream (e.g. one spec of a regime)."""
    return torch.tensor([stable_key(int(s), *parts) for s in seeds.tolist()], dtype=torch.int64)


def generator(seed: int) -> torch.Generator:
    """A CPU generator for one sample's parameter draws."""
    return torch.Generator().manual_seed(int(seed))


def generators(seeds: torch.Tensor) -> Iterator[torch.Generator]:
    """One CPU generator per sample seed."""
    return (generator(s) for s in seeds.tolist())


def child_seed(gen: torch.Generator) -> int:
    """A fresh 62-bit seed drawn from a sample's generator (for noise fields, library calls)."""
    return int(torch.randint(0, 1 << 62, (1,), generator=gen))


def noise_fields(
    seeds: Sequence[int],
    shape: tuple[int, ...],
    device: torch.device,
    kind: str = "normal",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Stacked per-sample noise (B, *shape) on `device`; sample i depends only on seeds[i].

    The stream is the device's generator, so CPU and CUDA give different (each reproducible)
    fields; the drawn parameters and records do not depend on the device.
    """
    out = torch.empty((len(seeds), *shape), device=device, dtype=dtype)
    for row, seed in enumerate(seeds):
        gen = torch.Generator(device=device).manual_seed(int(seed))
        draw = torch.randn if kind == "normal" else torch.rand
        out[row] = draw(shape, generator=gen, device=device, dtype=dtype)
    return out


@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed Python's and numpy's global RNGs for a library call, then restore their state."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
