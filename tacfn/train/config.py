"""Training configuration, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from tacfn.core.device import DEVICES
from tacfn.core.errors import ConfigError

CHOICES = {
    "optimizer": ("adam", "adamw"),
    "schedule": ("none", "cosine", "plateau"),
    "select": ("val_loss", "val_acc", "last"),
    "device": DEVICES,
}


@dataclass(frozen=True)
class TrainConfig:
    """How one cell is trained; the one place that checks training settings (a protocol builds
    it from its train section: protocols.training.train_config).

    select: which epoch's weights are kept, chosen on split.val (the clean protocol).
    legacy_test_eval: also score split.test every epoch to report the reference code's
        optimistic max-over-epochs test accuracy (off by default: it costs a test pass).
    pretrain_epochs: > 0 first trains each encoder alone with a unimodal head (stage 1),
        then the whole fusion model end to end (stage 2), as the paper does.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "none"
    plateau_patience: int = 20
    grad_clip: float | None = None
    select: str = "val_loss"
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    pretrain_epochs: int = 0
    legacy_test_eval: bool = False
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise ConfigError(f"train.{name}={value!r}; expected one of: {', '.join(valid)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name}={getattr(self, name)}; expected an integer >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or self.pretrain_epochs < 0:
            raise ConfigError(
                f"train.lr={self.lr}, weight_decay={self.weight_decay}, "
                f"pretrain_epochs={self.pretrain_epochs}; expected lr > 0 and the others >= 0"
            )
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"train.grad_clip={self.grad_clip}; expected a positive number")
