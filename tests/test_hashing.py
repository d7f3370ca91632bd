"""The one stable hash (tacfn.core.hashing): every stored key and seed keeps its value.

The numbers were computed by the code before the helpers were merged into one module;
a change here would silently re-key data caches, cell directories and corruption draws.
"""

from __future__ import annotations

import torch

from tacfn.core.hashing import digest, hash64, stable_key
from tacfn.data.cache import params_key
from tacfn.models.fill import _noise
from tacfn_robust.corruptions.seeding import derive_seeds, test_seeds, train_seeds
from tacfn_robust.protocols import load_protocol, protocol_hash
from tacfn_robust.protocols.grid import TrainCell, cell_key, conditions_hash


def test_integer_keys_are_pinned() -> None:
    assert stable_key("test", 0, "clean", "a01") == 645963687998162447
    assert stable_key(12345, "fill") == 3514348133639689726
    assert hash64("fill:3:audio") >> 1 == 1351825445954524096


def test_corruption_seeds_are_pinned() -> None:
    ids = ["a01", "b02"]
    assert test_seeds(0, "missing[audio].p=0.6", ids).tolist() == [
        2538179998232386690,
        5197097019076017758,
    ]
    assert train_seeds(5, 2, ["a01"]).tolist() == [8016706328389216942]
    assert derive_seeds(torch.tensor([11, 12]), "spec", 1).tolist() == [
        5202280832255701566,
        913824154217483719,
    ]


def test_noise_fill_is_drawn_from_the_pinned_seed() -> None:
    rows = _noise(torch.zeros(2, 3), torch.tensor([3, 4]), "audio")
    expected = torch.randn(3, generator=torch.Generator().manual_seed(1351825445954524096))
    assert torch.equal(rows[0], expected)


def test_digests_are_pinned() -> None:
    assert digest({"b": [1, 2.5, "x"], "a": None}) == "cacedc786abc936f"
    assert (
        digest({"seed": 0, "sweeps": []}, 64)
        == "07c466c41323658b2f5f15898fcb513accfe7b1193fbfa9b48add2653b34bf6c"
    )
    key = params_key({"actors": 4, "frames": 4, "size": 32, "generator_version": 3})
    assert key == "cfc8bb5895c910f7"


def test_protocol_cell_and_condition_hashes_are_pinned() -> None:
    smoke = load_protocol("smoke")
    assert protocol_hash(smoke) == (
        "0b2b4f2ec0f44410747a55024ac05955633685f7bd2d6fbf0fe16f393c0b2725"
    )
    assert cell_key(smoke, TrainCell("tacfn", "clean", 3, 0)) == "f9bf450578eeb72e6bb03b3c"
    # the predictions fields nested under their section ({"test": {seed, sweeps}}) since the
    # hash is derived from the fields' declarations (was d36bf7acd6c2f3b4, flat)
    assert conditions_hash(smoke) == "0c39031ae153c0dd"
