"""The one device resolver (tacfn.core.device) and the trainer config built from a protocol."""

from __future__ import annotations

import pytest
import torch

from tacfn.core.device import resolve_device
from tacfn.core.errors import ConfigError
from tacfn.train import TrainConfig
from tacfn_robust.protocols import load_protocol
from tacfn_robust.protocols.training import train_config


def test_auto_picks_cuda_only_when_available() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda", "train.device")
    assert str(info.value) == (
        "train.device='cuda' but no CUDA device is available; expected auto or cpu"
    )


def test_unknown_device_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^device='tpu'; expected one of: auto, cpu, cuda$"):
        resolve_device("tpu")


def test_train_config_is_built_from_the_protocol_train_section() -> None:
    protocol = load_protocol(
        "smoke", ["train.grad_clip=1.5", "train.schedule=cosine", "device=cpu"]
    )
    config = train_config(protocol, seed=3)
    assert config == TrainConfig(
        epochs=8,
        batch_size=32,
        lr=0.002,
        schedule="cosine",
        grad_clip=1.5,
        seed=3,
        device="cpu",
        eval_batch_size=64,
    )
