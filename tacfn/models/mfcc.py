"""MFCC front-end computed on the model's device, with a per-sample dB floor."""

from __future__ import annotations

import torch
import torchaudio.functional as AF
from torch import nn


class MFCC(nn.Module):
    """Waveform (B, L) -> MFCC (B, n_mfcc, frames), librosa-like (Slaney mel, power dB, DCT-II).

    The top_db floor is applied per sample (each clip's own max − top_db), so one clip's MFCC
    never depends on the other clips of the batch (torchaudio's AmplitudeToDB floors per batch).
    The waveform is zero-padded or cropped to `num_samples` so the frame count is fixed.
    """

    def __init__(
        self,
        sample_rate: int,
        num_samples: int,
        n_mfcc: int = 13,
        n_fft: int = 2048,
        hop_length: int = 512,
        n_mels: int = 128,
        top_db: float = 80.0,
    ) -> None:
        super().__init__()
        self.num_samples, self.n_fft, self.hop_length, self.top_db = (
            num_samples,
            n_fft,
            hop_length,
            top_db,
        )
        with torch.device("cpu"):  # fixed tables, computable even under a meta-device context
            window = torch.hann_window(n_fft)
            fbanks = AF.melscale_fbanks(
                n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, "slaney", "slaney"
            )
            dct = AF.create_dct(n_mfcc, n_mels, "ortho")
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fbanks", fbanks, persistent=False)
        self.register_buffer("dct", dct, persistent=False)
        self.frames = 1 + num_samples // hop_length

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        length = wave.shape[-1]
        if length < self.num_samples:
            wave = nn.functional.pad(wave, (0, self.num_samples - length))
        wave = wave[..., : self.num_samples]
        spec = AF.spectrogram(
            wave.float(),
            pad=0,
            window=self.window,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            power=None,
            normalized=False,
            center=True,
            pad_mode="constant",
        )
        power = spec.real.square() + spec.imag.square()  # |X|², cheaper than abs().pow(2)
        mel = torch.matmul(power.transpose(-1, -2), self.fbanks)  # (B, frames, n_mels)
        db = AF.amplitude_to_DB(mel, multiplier=10.0, amin=1e-10, db_multiplier=0.0)
        floor = db.amax(dim=(-2, -1), keepdim=True) - self.top_db
        db = torch.maximum(db, floor)
        return torch.matmul(db, self.dct).transpose(-1, -2)
