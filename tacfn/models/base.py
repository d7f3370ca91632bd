"""The FusionModel contract: per-modality encoders, feature-stage fill, a fusion head."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import torch
from torch import nn

from tacfn.core.batch import Batch
from tacfn.core.errors import ConfigError
from tacfn.data.info import DatasetInfo
from tacfn.models.fill import FeatureFill
from tacfn.models.presets import Preset


class ResidualMLP(nn.Module):
    """z + W2·Drop(ReLU(W1·z)), then Linear(D -> out): the IEMOCAP head."""

    def __init__(self, dim: int, out: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, out)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(z + self.fc2(self.dropout(torch.relu(self.fc1(z)))))


class FusionModel(nn.Module):
    """encode (each modality alone) -> fuse (fill absent samples, fusion head) -> logits.

    Logits are (B, C) for multiclass sets and (B, K, 2) for multilabel sets. In eval mode a
    sample's output never depends on the rest of the batch (unless a legacy option says so).
    """

    def __init__(
        self,
        info: DatasetInfo,
        preset: Preset,
        modalities: Sequence[str],
        learned_fill: bool = False,
        causal: bool = False,
        select: str = "last",
    ) -> None:
        super().__init__()
        missing = [m for m in modalities if m not in info.modalities]
        if missing:
            raise ConfigError(
                f"modalities {missing} are not in data set {info.name!r} "
                f"(it has {', '.join(info.modalities)})"
            )
        if select not in ("last", "mean"):
            raise ConfigError(f"option select={select!r}; expected 'last' or 'mean'")
        self.info, self.preset, self.modalities = info, preset, tuple(modalities)
        self.causal, self.select = causal, select
        self.encoders = nn.ModuleDict({m: preset.encoder(info, m) for m in self.modalities})
        self.feature_shapes = {m: tuple(e.feature_shape) for m, e in self.encoders.items()}
        self.summaries = nn.ModuleDict({m: self.make_summary(m) for m in self.modalities})
        self.fill = FeatureFill(self.feature_shapes, learned_fill)
        self.out_dim = info.num_classes * (2 if info.task == "multilabel" else 1)

    def make_summary(self, m: str) -> nn.Module:
        return self.preset.summary(self.info, m, self.feature_shapes[m], self.causal, self.select)

    def make_head(self, dim: int) -> nn.Module:
        """The preset's classifier over a `dim`-wide fused vector."""
        if self.preset.head == "residual_mlp":
            return ResidualMLP(dim, self.out_dim)
        return nn.Linear(dim, self.out_dim)

    def encode_modality(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.encoders[name](x)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise ConfigError(
                f"model reads modalities {list(self.modalities)} but the batch lacks {missing}"
            )
        return {m: self.encode_modality(m, inputs[m]) for m in self.modalities}

    def fuse(
        self,
        feats: dict[str, torch.Tensor],
        present: dict[str, torch.Tensor],
        feature_fill: dict[str, str],
        fill_seeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Fill absent samples' features (noise drawn from fill_seeds), then the fusion head."""
        feats = self.fill({m: feats[m] for m in self.modalities}, present, feature_fill, fill_seeds)
        logits = self.head(feats)
        if self.info.task == "multilabel":
            return logits.view(logits.shape[0], self.info.num_classes, 2)
        return logits

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.fuse(
            self.encode(batch.inputs), batch.present, batch.feature_fill, batch.fill_seeds
        )

    @abstractmethod
    def head(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Fusion head: filled fusion-point features -> flat logits (B, out_dim)."""

    def unimodal_probe(self, m: str) -> nn.Module:
        """Encoder m + its summary (shared with this model) + a fresh linear classifier."""
        return UnimodalProbe(self, m)


def splits_encode_fuse(model: nn.Module | type) -> bool:
    """Whether `model` has FusionModel's split interface (`modalities`, `encode_modality`,
    `fuse`), so that evaluation can reuse the encoder outputs of untouched modalities and a
    feature-stage fill reaches the encoder outputs; for a class, whether it has the methods."""
    methods = all(callable(getattr(model, name, None)) for name in ("encode_modality", "fuse"))
    if isinstance(model, type):
        return methods
    return methods and isinstance(getattr(model, "modalities", None), tuple | list)


class UnimodalProbe(nn.Module):
    """A unimodal classifier sharing the encoder of a fusion model, for pre-training."""

    def __init__(self, model: FusionModel, m: str) -> None:
        super().__init__()
        self.modality, self.info = m, model.info
        self.encoder, self.summary = model.encoders[m], model.summaries[m]
        self.classifier = nn.Linear(self.summary.dim, model.out_dim)
        self.modalities = (m,)

    def forward(self, batch: Batch) -> torch.Tensor:
        logits = self.classifier(self.summary(self.encoder(batch.inputs[self.modality])))
        if self.info.task == "multilabel":
            return logits.view(logits.shape[0], self.info.num_classes, 2)
        return logits
