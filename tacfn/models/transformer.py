"""Transformer parts shared by the fusion heads: sinusoidal positions, self/cross-attention."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """fairseq-style table over positions 1..length: [sin | cos] halves, shape (length, dim)."""
    half = dim // 2
    scale = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * -scale)
    pos = torch.arange(1, length + 1, dtype=torch.float32, device=device)[:, None] * freqs[None]
    table = torch.cat([pos.sin(), pos.cos()], dim=1)
    if dim % 2:
        table = torch.cat([table, table.new_zeros(length, 1)], dim=1)
    return table


class Embed(nn.Module):
    """√d input scaling + sinusoidal positions 1..T + embedding dropout (MulT/fairseq style)."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.scale = math.sqrt(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pe = sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        return self.dropout(self.scale * x + pe)


def _xavier_linear(*layers: nn.Linear) -> None:
    for layer in layers:
        nn.init.xavier_uniform_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class SelfAttentionEncoder(nn.Module):
    """Pre-LN Transformer encoder over (B, T, d) with embedding and a final LayerNorm."""

    def __init__(
        self,
        dim: int,
        heads: int,
        layers: int,
        ffn: int,
        dropout: float = 0.1,
        embed_dropout: float = 0.3,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.embed = Embed(dim, embed_dropout)
        layer = nn.TransformerEncoderLayer(
            dim, heads, ffn, dropout, activation="relu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        for block in self.layers.layers:
            _xavier_linear(block.linear1, block.linear2)
        self.norm = nn.LayerNorm(dim)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x)
        mask = None
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(
                z.shape[1], device=z.device, dtype=z.dtype
            )
        return self.norm(self.layers(z, mask=mask, is_causal=self.causal))


class CrossAttentionLayer(nn.Module):
    """Pre-LN crossmodal layer: Y += MHA(LN(Y), LN(X), LN(X)); Y += FFN(LN(Y)).

    As in MulT (bug B9, kept for parameter parity) queries and keys/values share one LayerNorm.
    """

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)
        _xavier_linear(self.fc1, self.fc2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, kv = self.norm_attn(y), self.norm_attn(x)
        y = y + self.dropout(self.attn(q, kv, kv, need_weights=False)[0])
        h = self.dropout(torch.relu(self.fc1(self.norm_ffn(y))))
        return y + self.dropout(self.fc2(h))


class CrossAttentionEncoder(nn.Module):
    """Target tokens (B, N, d) attend to source tokens (B, T, d); no causal mask; final LN."""

    def __init__(
        self, dim: int, heads: int, layers: int, ffn: int, dropout: float, embed_dropout: float
    ) -> None:
        super().__init__()
        self.embed = Embed(dim, embed_dropout)
        self.layers = nn.ModuleList(
            CrossAttentionLayer(dim, heads, ffn, dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        y, x = self.embed(target), self.embed(source)
        for layer in self.layers:
            y = layer(y, x)
        return self.norm(y)
