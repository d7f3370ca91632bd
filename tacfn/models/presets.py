"""Named architecture presets and the data layouts they were sized for."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from tacfn.core.errors import ConfigError, unknown_name
from tacfn.data.info import DatasetInfo
from tacfn.models.audio_cnn import MFCCNet
from tacfn.models.encoders import (
    FeatureEncoder,
    FlattenSummary,
    FramesEncoder,
    PoolSummary,
    TransformerSummary,
    WaveformEncoder,
)
from tacfn.models.mfcc import MFCC
from tacfn.models.resnext3d import ResNeXt3D
from tacfn.models.transformer import SelfAttentionEncoder

RAVDESS_CLASSES = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


@dataclass(frozen=True)
class Preset:
    """Sizes of every encoder and fusion part; shapes themselves come from the DatasetInfo."""

    name: str
    description: str
    reference: DatasetInfo
    n_mfcc: int = 13
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    cnn_channels: tuple[int, int, int] = (32, 32, 64)
    cnn_pool: int = 8
    video_pool: tuple[int, int, int] = (1, 1, 1)
    resnext_layers: tuple[int, ...] = (3, 4, 6, 3)
    resnext_widths: tuple[int, ...] = (128, 256, 512, 1024)
    cardinality: int = 32
    stem_channels: int = 64
    stem_kernel: tuple[int, int, int] = (7, 7, 7)
    feature_dim: int = 40
    dim: int = 64
    heads: int = 8
    layers: int = 5
    dropout: float = 0.1
    embed_dropout: float = 0.3
    head: str = "linear"
    blocks: tuple[tuple[str, str], ...] = (("audio", "video"),)
    # cross-attention blocks' capacity knob: layers and feed-forward width (None: `layers`
    # and 4·dim, MulT's sizes); the iemocap preset narrows them to TACFN's parameter count
    cross_layers: int | None = None
    cross_ffn: int | None = None

    def transformer(self, dim: int, causal: bool = False) -> SelfAttentionEncoder:
        """A self-attention encoder of this preset's depth over `dim` channels."""
        return SelfAttentionEncoder(
            dim, self.heads, self.layers, 4 * dim, self.dropout, self.embed_dropout, causal
        )

    def encoder(self, info: DatasetInfo, modality: str) -> nn.Module:
        """The encoder of one modality of `info`."""
        kind, shape = info.kinds[modality], tuple(info.shapes[modality])
        if kind == "waveform":
            if info.sample_rate is None:
                raise ConfigError(f"data set {info.name!r} has audio but no sample_rate")
            mfcc = MFCC(
                info.sample_rate, shape[0], self.n_mfcc, self.n_fft, self.hop_length, self.n_mels
            )
            return WaveformEncoder(mfcc, MFCCNet(self.n_mfcc, self.cnn_channels, self.cnn_pool))
        if kind == "frames":
            backbone = ResNeXt3D(
                self.resnext_layers,
                self.resnext_widths,
                self.cardinality,
                stem_channels=self.stem_channels,
                stem_kernel=self.stem_kernel,
            )
            return FramesEncoder(backbone, shape[1:], self.video_pool)
        if kind == "features":
            return FeatureEncoder(shape[1], shape[0], self.feature_dim)
        raise ConfigError(
            f"modality {modality!r} has kind {kind!r}; expected waveform, frames or features"
        )

    def summary(
        self,
        info: DatasetInfo,
        modality: str,
        feature_shape: tuple[int, ...],
        causal: bool = False,
        select: str = "last",
    ) -> nn.Module:
        """The per-modality summary a head reads: flatten (audio), pool (video), TE (features)."""
        kind = info.kinds[modality]
        if kind == "waveform":
            return FlattenSummary(feature_shape)
        if kind == "frames":
            return PoolSummary(feature_shape)
        dim = feature_shape[-1]
        return TransformerSummary(self.transformer(dim, causal), dim, select)


def _info(name: str, shapes: dict, kinds: dict, classes, task="multiclass", sr=None):
    return DatasetInfo(name, tuple(shapes), kinds, shapes, len(classes), classes, task, sr)


_AV = {"audio": "waveform", "video": "frames"}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "paper-ravdess",
            "TACFN paper: 3D ResNeXt-50 on 3×30×224×224, MFCC 13×212 at 44.1 kHz, d 64, 5 layers",
            _info(
                "ravdess",
                {"audio": (108045,), "video": (3, 30, 224, 224)},
                _AV,
                RAVDESS_CLASSES,
                sr=44100,
            ),
        ),
        Preset(
            "iemocap",
            "TACFN IEMOCAP reconstruction: text target, audio+vision sources, d 40, 5 layers",
            _info(
                "iemocap",
                {"text": (20, 300), "audio": (20, 74), "vision": (20, 35)},
                dict.fromkeys(("text", "audio", "vision"), "features"),
                ("neutral", "happy", "sad", "angry"),
                task="multilabel",
            ),
            dim=40,
            feature_dim=40,
            head="residual_mlp",
            blocks=(("vision", "text"), ("audio", "text")),
            cross_layers=1,
            cross_ffn=40,
        ),
        Preset(
            "cpu",
            "CPU-sized: video average-pooled 2×2×2, narrow 2-stage ResNeXt, d 32, 1 layer",
            _info(
                "synthetic",
                {"audio": (32000,), "video": (3, 16, 64, 64)},
                _AV,
                RAVDESS_CLASSES,
                sr=16000,
            ),
            n_fft=512,
            hop_length=256,
            n_mels=40,
            cnn_channels=(16, 16, 32),
            cnn_pool=4,
            video_pool=(2, 2, 2),
            resnext_layers=(1, 1),
            resnext_widths=(16, 32),
            cardinality=4,
            stem_channels=16,
            stem_kernel=(3, 5, 5),
            feature_dim=32,
            dim=32,
            heads=4,
            layers=1,
        ),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise unknown_name("preset", name, list(PRESETS))
    return PRESETS[name]


def list_presets() -> list[str]:
    return sorted(PRESETS)
