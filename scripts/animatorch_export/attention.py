"""Attention building blocks shared by the UNet, the motion modules, the VAE and CLIP.

All modules here are TorchScript-scriptable on torch 1.13 and 2.x.

The attention kernel ("core") is a parameter-free submodule chosen at construction:

* :class:`SDPAAttentionCore` uses ``torch.nn.functional.scaled_dot_product_attention``.
  The class only exists when torch has that function (2.x), so neither eager code
  nor TorchScript ever references it on torch 1.13.
* :class:`MathAttentionCore` is the bmm / float32-softmax / bmm fallback
  (the numerics of diffusers' ``AttnProcessor`` with ``upcast_softmax``), sliced over
  batch*heads so that the score matrix stays under ~2^28 elements per slice.

All cores use the default scale ``head_dim ** -0.5``, which is what every attention
in SD1.5 / AnimateDiff / CLIP uses.
"""

import math
from typing import Final, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


HAS_SDPA = hasattr(F, "scaled_dot_product_attention")

# Elements of one attention score slice in the math path (2^24 floats = 64 MiB in fp32). Slicing over
# batch*heads is exact (each matrix's scores and softmax are its own). On a 2-core CPU at 256 px, 8 frames with
# CFG (q [16, 8, 1024, 40]) a 2^24 slice took 1.3-1.4 s and 202-212 MiB against 1.6-2.1 s and 1,112-1,132 MiB
# for 2^28, and the VAE's 512 px attention (q [16, 1, 4096, 512]) 557 MiB against 2,317 MiB at +4-5% time.
# model.yaml records it (attention_slice_elements) for the memory estimate; exports before that used 2^28.
MATH_SLICE_ELEMENTS = 1 << 24


class MathAttentionCore(nn.Module):
    """q [N,H,Lq,D], k/v [N,H,Lk,D] -> [N,H,Lq,D]; softmax in float32."""

    causal: Final[bool]
    slice_elements: Final[int]

    def __init__(self, causal: bool = False, slice_elements: int = MATH_SLICE_ELEMENTS):
        super().__init__()
        self.causal = causal
        self.slice_elements = slice_elements

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n, h, lq, d = q.shape
        lk = k.shape[2]
        scale = 1.0 / math.sqrt(float(d))
        q3 = q.reshape(n * h, lq, d)
        kt = k.reshape(n * h, lk, d).transpose(1, 2)
        v3 = v.reshape(n * h, lk, d)
        mask: Optional[torch.Tensor] = None
        if self.causal:
            mask = torch.ones(lq, lk, dtype=torch.bool, device=q.device).triu(1)
        total = n * h
        step = max(1, self.slice_elements // max(1, lq * lk))
        if step >= total:
            out = self._attend(q3, kt, v3, scale, mask)
        else:
            chunks: List[torch.Tensor] = []
            for start in range(0, total, step):
                end = min(start + step, total)
                chunks.append(self._attend(q3[start:end], kt[start:end], v3[start:end], scale, mask))
            out = torch.cat(chunks, dim=0)
        return out.reshape(n, h, lq, d)

    def _attend(
        self,
        q: torch.Tensor,
        kt: torch.Tensor,
        v: torch.Tensor,
        scale: float,
        mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        # Not baddbmm(empty, q, kt, beta=0, alpha=scale) as diffusers does: torch 1.13's CPU
        # baddbmm with beta=0 returns NaN for small matrices (reads its uninitialised output;
        # reproduced here for [128,2,8]x[128,8,2]). Scaling q first also keeps fp16 scores in range.
        scores = torch.bmm(q * scale, kt)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        probs = scores.softmax(dim=-1, dtype=torch.float32).to(v.dtype)
        return torch.bmm(probs, v)


if HAS_SDPA:

    class SDPAAttentionCore(nn.Module):
        """torch 2.x fused attention (flash / memory-efficient / math chosen by torch)."""

        causal: Final[bool]

        def __init__(self, causal: bool = False):
            super().__init__()
            self.causal = causal

        def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=self.causal)

else:
    SDPAAttentionCore = None  # type: ignore[assignment,misc]


def resolve_backend(backend: str = "auto") -> str:
    """'auto' -> 'sdpa' on torch 2.x, 'math' otherwise."""
    if backend == "auto":
        return "sdpa" if HAS_SDPA else "math"
    if backend == "sdpa" and not HAS_SDPA:
        raise RuntimeError(
            f"attention_backend='sdpa' needs torch.nn.functional.scaled_dot_product_attention "
            f"(torch >= 2.0); this is torch {torch.__version__}"
        )
    if backend not in ("sdpa", "math"):
        raise ValueError(f"unknown attention backend {backend!r} (auto|math|sdpa)")
    return backend


def make_attention_core(backend: str = "auto", causal: bool = False) -> nn.Module:
    if resolve_backend(backend) == "sdpa":
        return SDPAAttentionCore(causal)  # type: ignore[misc]
    return MathAttentionCore(causal)


def _factory(device, dtype):
    return {"device": device, "dtype": dtype}


class Attention(nn.Module):
    """diffusers-style attention: ``to_q``, ``to_k``, ``to_v``, ``to_out.0``.

    ``forward(x [N,Lq,query_dim], context [N,Lk,cross_dim] | None) -> [N,Lq,query_dim]``.
    UNet attentions have no q/k/v bias (``bias=False``); the VAE mid attention has.
    """

    heads: Final[int]
    dim_head: Final[int]

    def __init__(
        self,
        query_dim: int,
        heads: int,
        dim_head: int,
        cross_attention_dim: Optional[int] = None,
        bias: bool = False,
        out_bias: bool = True,
        backend: str = "auto",
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = _factory(device, dtype)
        inner = heads * dim_head
        kv_dim = cross_attention_dim if cross_attention_dim is not None else query_dim
        self.heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=bias, **fk)
        self.to_k = nn.Linear(kv_dim, inner, bias=bias, **fk)
        self.to_v = nn.Linear(kv_dim, inner, bias=bias, **fk)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim, bias=out_bias, **fk)])
        self.core = make_attention_core(backend)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, l, _ = x.shape
        return x.view(n, l, self.heads, self.dim_head).transpose(1, 2)

    def attend(self, x: torch.Tensor, context: Optional[torch.Tensor]) -> torch.Tensor:
        if context is None:
            ctx = x
        else:
            ctx = context
        q = self._split(self.to_q(x))
        k = self._split(self.to_k(ctx))
        v = self._split(self.to_v(ctx))
        out = self.core(q, k, v)
        n, h, l, d = out.shape
        out = out.transpose(1, 2).reshape(n, l, h * d)
        return self.to_out[0](out)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.attend(x, context)


class GEGLU(nn.Module):
    """``proj`` Linear dim -> 2*inner; ``a * gelu(g)`` with a = first half, g = second half."""

    def __init__(self, dim_in: int, dim_out: int, device=None, dtype=None):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2, **_factory(device, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU feed-forward with diffusers names ``net.0.proj`` and ``net.2`` (net.1 = dropout slot)."""

    def __init__(self, dim: int, mult: int = 4, device=None, dtype=None):
        super().__init__()
        inner = dim * mult
        self.net = nn.Sequential(
            GEGLU(dim, inner, device=device, dtype=dtype),
            nn.Identity(),
            nn.Linear(inner, dim, **_factory(device, dtype)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """SD spatial transformer block: self-attn per frame, cross-attn to text, GEGLU FF.

    ``forward(x [(B*F), HW, C], context [B, T, C_text], num_frames) -> [(B*F), HW, C]``.

    Cross-attention computes the text keys/values once per batch item and lets the
    queries of all F frames of that item attend to them: ``[(B*F), HW, C] -> [B, F*HW, C]``.
    This equals per-frame attention against repeated text states (rows are
    independent and the keys/values are identical) without repeating anything.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int,
        cross_attention_dim: int,
        backend: str = "auto",
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = _factory(device, dtype)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.attn1 = Attention(dim, heads, dim_head, None, bias=False, backend=backend, **fk)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.attn2 = Attention(dim, heads, dim_head, cross_attention_dim, bias=False, backend=backend, **fk)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.ff = FeedForward(dim, **fk)

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        bf, hw, c = x.shape
        b = context.shape[0]
        if b == bf and num_frames > 1:  # one text state per frame (prompt travel over frames)
            x = self.attn2(self.norm2(x), context) + x
            return self.ff(self.norm3(x)) + x
        if b * num_frames != bf:
            raise RuntimeError(
                "cross-attention: encoder_hidden_states batch "
                + str(b)
                + " x frames "
                + str(num_frames)
                + " != "
                + str(bf)
                + " folded frames (pass text states as [B, 77, C], one row per video)"
            )
        q_in = self.norm2(x).reshape(b, num_frames * hw, c)
        x = self.attn2(q_in, context).reshape(bf, hw, c) + x
        x = self.ff(self.norm3(x)) + x
        return x


class SpatialTransformer(nn.Module):
    """AnimateDiff ``Transformer3DModel`` (per frame): GN(eps 1e-6) -> 1x1 conv -> blocks -> 1x1 conv + residual.

    Names: ``norm``, ``proj_in``, ``transformer_blocks.0.*``, ``proj_out``.
    ``forward(x [(B*F), C, H, W], context [B, T, C_text], num_frames) -> [(B*F), C, H, W]``.
    """

    def __init__(
        self,
        in_channels: int,
        heads: int,
        cross_attention_dim: int,
        norm_num_groups: int = 32,
        num_layers: int = 1,
        backend: str = "auto",
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = _factory(device, dtype)
        dim_head = in_channels // heads
        inner = heads * dim_head
        self.norm = nn.GroupNorm(norm_num_groups, in_channels, eps=1e-6, affine=True, **fk)
        self.proj_in = nn.Conv2d(in_channels, inner, kernel_size=1, stride=1, padding=0, **fk)
        self.transformer_blocks = nn.ModuleList(
            [
                BasicTransformerBlock(inner, heads, dim_head, cross_attention_dim, backend=backend, **fk)
                for _ in range(num_layers)
            ]
        )
        self.proj_out = nn.Conv2d(inner, in_channels, kernel_size=1, stride=1, padding=0, **fk)

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        residual = x
        bf, _, h, w = x.shape
        y = self.proj_in(self.norm(x))
        c = y.shape[1]
        y = y.permute(0, 2, 3, 1).reshape(bf, h * w, c)
        for block in self.transformer_blocks:
            y = block(y, context, num_frames)
        y = y.reshape(bf, h, w, c).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(y) + residual
