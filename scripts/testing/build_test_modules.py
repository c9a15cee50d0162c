#!/usr/bin/python3
"""Small TorchScript modules for the native-core tests and benchmark.

    /usr/bin/python3 scripts/testing/build_test_modules.py OUT_DIR

Writes into OUT_DIR:
  conv_attn.pt        conv + self-attention block, forward(x[B,C,H,W]) -> same shape
  conv_attn.in.bin    a fixed float32 input [2,32,16,16] (raw little-endian)
  conv_attn.out.bin   the module's output for it, computed here in Python
  structured.pt       forward(x, scale: float, n: int, flag: bool) -> (tensor, [tensors], {str: tensor})
  slow.pt             forward(x, iters: int): iters chained matmuls (for event-loop tests)
  corrupt.pt          not a TorchScript file
"""
import os
import sys
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvAttention(nn.Module):
    """GroupNorm -> conv -> single-head self-attention over pixels -> conv, with residuals."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.conv_in = nn.Conv2d(channels, channels, 3, padding=1)
        self.to_qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.conv_out = nn.Conv2d(channels, channels, 3, padding=1)
        self.scale = channels ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = F.silu(self.conv_in(self.norm(x)))
        t = y.flatten(2).transpose(1, 2)  # [b, hw, c]
        q, k, v = self.to_qkv(t).chunk(3, dim=-1)
        attn = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * self.scale, dim=-1)
        t = t + self.proj(torch.bmm(attn, v))
        y = t.transpose(1, 2).reshape(b, c, h, w)
        return x + self.conv_out(y)


class Structured(nn.Module):
    def forward(self, x: torch.Tensor, scale: float, n: int, flag: bool) -> Tuple[torch.Tensor, List[torch.Tensor], Dict[str, torch.Tensor]]:
        parts = [x * float(i) for i in range(n)]
        out = x * scale if flag else x
        return out, parts, {"sum": x.sum(), "double": x * 2.0}

    @torch.jit.export
    def add_one(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


class IndexedEmbedding(nn.Module):
    """An integer index table (a buffer) in front of an embedding, as the demo text encoder's
    token_embedding.id_map: a float cast must leave the table int64."""

    def __init__(self):
        super().__init__()
        self.register_buffer("id_map", torch.tensor([3, 2, 1, 0], dtype=torch.int64))
        self.table = nn.Embedding(4, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.norm(self.table(self.id_map[ids]))


class Slow(nn.Module):
    def forward(self, x: torch.Tensor, iters: int) -> torch.Tensor:
        y = x
        for _ in range(iters):
            y = torch.tanh(y @ x)
        return y


def main(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = ConvAttention().eval()
    scripted = torch.jit.script(m)
    scripted.save(os.path.join(out, "conv_attn.pt"))
    x = torch.randn(2, 32, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = scripted(x)
    x.numpy().astype("<f4").tofile(os.path.join(out, "conv_attn.in.bin"))
    y.numpy().astype("<f4").tofile(os.path.join(out, "conv_attn.out.bin"))
    torch.jit.script(Structured()).save(os.path.join(out, "structured.pt"))
    torch.jit.script(Slow()).save(os.path.join(out, "slow.pt"))
    torch.jit.script(IndexedEmbedding().eval()).save(os.path.join(out, "indexed_embedding.pt"))
    with open(os.path.join(out, "corrupt.pt"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a TorchScript archive" * 10)


if __name__ == "__main__":
    main(sys.argv[1])
