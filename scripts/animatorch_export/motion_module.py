"""AnimateDiff motion module ("VanillaTemporalModule").

State-dict names (AnimateDiff originals), relative to ``...motion_modules.j.``::

    temporal_transformer.norm.{weight,bias}                       GroupNorm(32, C, eps 1e-6)
    temporal_transformer.proj_in.{weight,bias}                    Linear C->C
    temporal_transformer.transformer_blocks.0.attention_blocks.{0,1}.to_{q,k,v}.weight
    temporal_transformer.transformer_blocks.0.attention_blocks.{0,1}.to_out.0.{weight,bias}
    temporal_transformer.transformer_blocks.0.norms.{0,1}.{weight,bias}   LayerNorm eps 1e-5
    temporal_transformer.transformer_blocks.0.ff.net.0.proj.{weight,bias} Linear C->8C (GEGLU)
    temporal_transformer.transformer_blocks.0.ff.net.2.{weight,bias}      Linear 4C->C
    temporal_transformer.transformer_blocks.0.ff_norm.{weight,bias}
    temporal_transformer.proj_out.{weight,bias}                   Linear C->C, zero-initialised

``attention_blocks.{0,1}.pos_encoder.pe`` ([1, max_len, C], interleaved sin/cos) is a
NON-persistent buffer rebuilt from the formula, so it never appears in ``state_dict()``
and checkpoint copies of it are ignored by the loaders.
"""

import math
from typing import Final, List, Optional, Tuple

import torch
import torch.nn as nn

from .attention import Attention, FeedForward
from .resnet import FrameGroupNorm


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """``pe[0, p, 2i] = sin(p * exp(-2i ln(1e4) / d))``, ``pe[0, p, 2i+1] = cos(...)`` in float32 (facts §2)."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(1, max_len, d_model, dtype=torch.float32)
    pe[0, :, 0::2] = torch.sin(position * div_term)
    pe[0, :, 1::2] = torch.cos(position * div_term)
    return pe


class PositionalEncoding(nn.Module):
    """Adds ``pe[:, :F]`` to ``x [N, F, C]``. More than ``max_len`` frames is an error."""

    max_len: Final[int]

    def __init__(self, d_model: int, max_len: int = 24, device=None, dtype=None):
        super().__init__()
        self.max_len = max_len
        pe = sinusoidal_table(max_len, d_model)
        if device is not None or dtype is not None:
            pe = pe.to(device=device, dtype=dtype if dtype is not None else pe.dtype)
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.shape[1]
        if f > self.max_len:
            raise RuntimeError(
                "motion module: "
                + str(f)
                + " frames exceed the positional-encoding length "
                + str(self.max_len)
                + " this motion module was trained with; render in context windows of at most "
                + str(self.max_len)
                + " frames"
            )
        return x + self.pe[:, :f].to(x.dtype)


class TemporalSelfAttention(Attention):
    """"Temporal_Self" attention over frames: ``x [(B*H*W), F, C]``; pe added to its input (the LayerNorm output)."""

    def __init__(self, dim: int, heads: int, max_len: int, backend: str = "auto", device=None, dtype=None):
        super().__init__(dim, heads, dim // heads, None, bias=False, out_bias=True, backend=backend, device=device, dtype=dtype)
        self.pos_encoder = PositionalEncoding(dim, max_len, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.attend(self.pos_encoder(x), None)


# What the UNet passes each motion module at run time: (motion scale, FreeNoise window starts,
# FreeNoise weights [W, 2, L]: per window, the weights of its outputs and of its counts). Windows
# and weights are computed by animatorch (lib/pipelines/free-noise.ts), not here.
MotionArgs = Tuple[float, Optional[List[int]], Optional[torch.Tensor]]
PLAIN: MotionArgs = (1.0, None, None)


class TemporalTransformerBlock(nn.Module):
    """Two (SparseCtrl: one) pre-LN temporal self-attentions, then a GEGLU feed-forward; all residual.

    With FreeNoise windows (diffusers' FreeNoiseTransformerBlock) the two attentions run on each window
    of L frames (positions 0..L-1 in each), and their outputs are averaged per frame with the given
    weights before the feed-forward, which sees all frames.
    """

    def __init__(self, dim: int, heads: int, max_len: int, num_attention_blocks: int = 2, backend: str = "auto", device=None, dtype=None):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.attention_blocks = nn.ModuleList(
            [TemporalSelfAttention(dim, heads, max_len, backend=backend, **fk) for _ in range(num_attention_blocks)]
        )
        self.norms = nn.ModuleList([nn.LayerNorm(dim, eps=1e-5, **fk) for _ in range(num_attention_blocks)])
        self.ff = FeedForward(dim, **fk)
        self.ff_norm = nn.LayerNorm(dim, eps=1e-5, **fk)

    def attentions(self, x: torch.Tensor) -> torch.Tensor:
        for attn, norm in zip(self.attention_blocks, self.norms):
            x = attn(norm(x)) + x
        return x

    def windowed_attentions(self, x: torch.Tensor, starts: List[int], weights: torch.Tensor) -> torch.Tensor:
        f = x.shape[1]
        length = weights.shape[2]
        if weights.dim() != 3 or weights.shape[0] != len(starts) or weights.shape[1] != 2:
            raise RuntimeError("motion module: FreeNoise weights must be [windows, 2, context_length]")
        # as diffusers: counts in float32, outputs accumulated in x's dtype
        acc = torch.zeros_like(x)
        count = torch.zeros([1, f, 1], dtype=torch.float32, device=x.device)
        w = weights.to(device=x.device, dtype=torch.float32)
        for i, s in enumerate(starts):
            if s < 0 or s + length > f:
                raise RuntimeError(
                    "motion module: FreeNoise window " + str(s) + ".." + str(s + length) + " is outside the " + str(f) + " frames"
                )
            chunk = self.attentions(x[:, s : s + length])
            acc[:, s : s + length] += chunk * w[i, 0].view(1, length, 1)
            count[:, s : s + length] += w[i, 1].view(1, length, 1)
        return torch.where(count > 0, acc / count, acc).to(x.dtype)

    def forward(self, x: torch.Tensor, starts: Optional[List[int]] = None, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        if starts is not None and weights is not None:
            x = self.windowed_attentions(x, starts, weights)
        else:
            x = self.attentions(x)
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer3DModel(nn.Module):
    """GN -> proj_in -> temporal blocks over the frame axis -> proj_out, + residual.

    ``forward(x [(B*F), C, H, W], num_frames, args: MotionArgs) -> [(B*F), C, H, W]``: ``residual + scale * y``
    (the motion scale scales the module's residual branch; 0 leaves x unchanged, 1 is the plain module).
    ``joint_groupnorm``: False = AnimateDiff (norm per frame), True = diffusers (norm over frames).
    """

    def __init__(
        self,
        in_channels: int,
        heads: int = 8,
        num_layers: int = 1,
        max_len: int = 32,
        norm_num_groups: int = 32,
        joint_groupnorm: bool = False,
        backend: str = "auto",
        zero_init_proj_out: bool = True,
        num_attention_blocks: int = 2,
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.norm = FrameGroupNorm(norm_num_groups, in_channels, eps=1e-6, joint=joint_groupnorm, **fk)
        self.proj_in = nn.Linear(in_channels, in_channels, **fk)
        self.transformer_blocks = nn.ModuleList(
            [TemporalTransformerBlock(in_channels, heads, max_len, num_attention_blocks, backend=backend, **fk) for _ in range(num_layers)]
        )
        self.proj_out = nn.Linear(in_channels, in_channels, **fk)
        if zero_init_proj_out:
            with torch.no_grad():
                self.proj_out.weight.zero_()
                self.proj_out.bias.zero_()

    def forward(self, x: torch.Tensor, num_frames: int, args: MotionArgs = PLAIN) -> torch.Tensor:
        scale, starts, weights = args
        residual = x
        bf, c, h, w = x.shape
        b = bf // num_frames
        y = self.norm(x, num_frames)
        # (b f) c h w -> (b h w) f c ; proj_in is per token, so it commutes with the rearrangement
        y = y.view(b, num_frames, c, h, w).permute(0, 3, 4, 1, 2).reshape(b * h * w, num_frames, c)
        y = self.proj_in(y)
        for block in self.transformer_blocks:
            y = block(y, starts, weights)
        y = self.proj_out(y)
        y = y.view(b, h, w, num_frames, c).permute(0, 3, 4, 1, 2).reshape(bf, c, h, w)
        if scale == 1.0:
            return y + residual
        return residual + y * scale


class VanillaTemporalModule(nn.Module):
    """One AnimateDiff motion module (``temporal_transformer``). Ignores temb and text.
    ``num_attention_blocks``: 2 ("Temporal_Self", "Temporal_Self") in the UNet's, 1 in SparseCtrl's."""

    def __init__(
        self,
        in_channels: int,
        num_attention_heads: int = 8,
        num_transformer_block: int = 1,
        max_len: int = 32,
        norm_num_groups: int = 32,
        joint_groupnorm: bool = False,
        backend: str = "auto",
        zero_initialize: bool = True,
        num_attention_blocks: int = 2,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.temporal_transformer = TemporalTransformer3DModel(
            in_channels,
            heads=num_attention_heads,
            num_layers=num_transformer_block,
            max_len=max_len,
            norm_num_groups=norm_num_groups,
            joint_groupnorm=joint_groupnorm,
            backend=backend,
            zero_init_proj_out=zero_initialize,
            num_attention_blocks=num_attention_blocks,
            device=device,
            dtype=dtype,
        )

    def forward(self, x: torch.Tensor, num_frames: int, args: MotionArgs = PLAIN) -> torch.Tensor:
        return self.temporal_transformer(x, num_frames, args)


class NoMotionModule(nn.Module):
    """Placeholder where a block has no motion module (no parameters, identity)."""

    def forward(self, x: torch.Tensor, num_frames: int, args: MotionArgs = PLAIN) -> torch.Tensor:
        return x
