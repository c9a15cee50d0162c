"""Stable Video Diffusion's spatio-temporal building blocks (diffusers names and numerics).

Activations stay folded as ``[(B*F), C, H, W]`` with frames fastest, exactly diffusers'
``sample.flatten(0, 1)`` of ``[B, F, C, H, W]``. Names::

    SpatioTemporalResBlock:      spatial_res_block.{norm1,conv1,time_emb_proj,norm2,conv2,conv_shortcut},
                                 temporal_res_block.{norm1,conv1,time_emb_proj,norm2,conv2}, time_mixer.mix_factor
    TransformerSpatioTemporalModel: norm, proj_in, transformer_blocks.N.*, temporal_transformer_blocks.N.
                                 {norm_in,ff_in,norm1,attn1,norm2,attn2,norm3,ff}, time_pos_embed.linear_{1,2},
                                 time_mixer.mix_factor, proj_out

SVD always runs with ``image_only_indicator = 0``, so diffusers' AlphaBlender reduces to a learned
``sigmoid(mix_factor)`` blend (``1 - sigmoid`` in the VAE decoder, its ``switch_spatial_to_temporal_mix``).
The timestep embedding ``temb`` is ``[B, T]``: diffusers repeats it per frame, we broadcast it.
"""

from typing import Final, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import Attention, BasicTransformerBlock, FeedForward
from .unet_blocks import TimestepEmbedding, Timesteps


class TemporalResnetBlock(nn.Module):
    """diffusers TemporalResnetBlock: GN over (C/G, F, H, W) per video, Conv3d (3,1,1) along frames."""

    has_temb: Final[bool]

    def __init__(self, channels: int, temb_channels: Optional[int], eps: float, fk):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, channels, eps=eps, affine=True, **fk)
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=(3, 1, 1), padding=(1, 0, 0), **fk)
        self.has_temb = temb_channels is not None
        self.time_emb_proj = nn.Linear(temb_channels, channels, **fk) if temb_channels is not None else None
        self.norm2 = nn.GroupNorm(32, channels, eps=eps, affine=True, **fk)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=(3, 1, 1), padding=(1, 0, 0), **fk)

    def forward(self, x: torch.Tensor, temb: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B, C, F, H, W]; temb [B, T] or None."""
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            if temb is not None:
                h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class SpatialResnetBlock(nn.Module):
    """diffusers ResnetBlock2D on folded frames; ``temb`` [B, T] (broadcast over frames) or no time_emb_proj."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: Optional[int], eps: float, fk):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, in_channels, eps=eps, affine=True, **fk)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, **fk)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels, **fk) if temb_channels is not None else None
        self.norm2 = nn.GroupNorm(32, out_channels, eps=eps, affine=True, **fk)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, **fk)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, **fk) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: Optional[torch.Tensor], num_frames: int) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None:
            if temb is not None:
                t = self.time_emb_proj(F.silu(temb))
                bf, c, hh, ww = h.shape
                h = (h.view(bf // num_frames, num_frames, c, hh, ww) + t[:, None, :, None, None]).view(bf, c, hh, ww)
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = x
        if self.conv_shortcut is not None:
            shortcut = self.conv_shortcut(x)
        return shortcut + h


class SpatioTemporalResBlock(nn.Module):
    """Per-frame ResNet block, then a temporal one, blended by ``time_mixer.mix_factor``.

    ``vae=True``: the temporal decoder's variant (no timestep embedding, blend ``1 - sigmoid``).
    """

    vae: Final[bool]

    def __init__(self, in_channels: int, out_channels: int, temb_channels: Optional[int], eps: float,
                 temporal_eps: float, vae: bool, fk):
        super().__init__()
        self.vae = vae
        self.spatial_res_block = SpatialResnetBlock(in_channels, out_channels, temb_channels, eps, fk)
        self.temporal_res_block = TemporalResnetBlock(out_channels, temb_channels, temporal_eps, fk)
        self.time_mixer = AlphaBlender(fk)

    def forward(self, x: torch.Tensor, temb: Optional[torch.Tensor], num_frames: int) -> torch.Tensor:
        h = self.spatial_res_block(x, temb, num_frames)
        bf, c, hh, ww = h.shape
        h5 = h.reshape(bf // num_frames, num_frames, c, hh, ww).permute(0, 2, 1, 3, 4)
        t5 = self.temporal_res_block(h5, temb)
        out = self.time_mixer(h5, t5, self.vae)
        return out.permute(0, 2, 1, 3, 4).reshape(bf, c, hh, ww)


class AlphaBlender(nn.Module):
    """``alpha * spatial + (1 - alpha) * temporal``, alpha = sigmoid(mix_factor) (or 1 - it when ``switch``)."""

    def __init__(self, fk):
        super().__init__()
        self.mix_factor = nn.Parameter(torch.zeros(1, **fk))

    def forward(self, spatial: torch.Tensor, temporal: torch.Tensor, switch: bool) -> torch.Tensor:
        alpha = torch.sigmoid(self.mix_factor).to(spatial.dtype)
        if switch:
            alpha = 1.0 - alpha
        return alpha * spatial + (1.0 - alpha) * temporal


class TemporalBasicTransformerBlock(nn.Module):
    """diffusers TemporalBasicTransformerBlock: attention along frames at every pixel, then to the image embedding."""

    def __init__(self, dim: int, heads: int, dim_head: int, cross_attention_dim: int, backend: str, fk):
        super().__init__()
        self.norm_in = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.ff_in = FeedForward(dim, **fk)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.attn1 = Attention(dim, heads, dim_head, None, bias=False, backend=backend, **fk)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.attn2 = Attention(dim, heads, dim_head, cross_attention_dim, bias=False, backend=backend, **fk)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5, **fk)
        self.ff = FeedForward(dim, **fk)

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        """x [(B*F), HW, C]; context [B, L, C_ctx] (the first frame's states: SVD's are equal per frame)."""
        bf, hw, c = x.shape
        b = bf // num_frames
        x = x.reshape(b, num_frames, hw, c).permute(0, 2, 1, 3).reshape(b * hw, num_frames, c)
        x = self.ff_in(self.norm_in(x)) + x
        x = self.attn1(self.norm1(x)) + x
        # every pixel's frames attend to the same context row: one [B, HW*F] query block per video
        q_in = self.norm2(x).reshape(b, hw * num_frames, c)
        x = self.attn2(q_in, context).reshape(b * hw, num_frames, c) + x
        x = self.ff(self.norm3(x)) + x
        return x.reshape(b, hw, num_frames, c).permute(0, 2, 1, 3).reshape(bf, hw, c)


class TransformerSpatioTemporalModel(nn.Module):
    """Spatial transformer per frame + temporal transformer per pixel, blended by ``time_mixer``."""

    in_channels: Final[int]

    def __init__(self, heads: int, dim_head: int, in_channels: int, num_layers: int, cross_attention_dim: int,
                 backend: str, fk):
        super().__init__()
        inner = heads * dim_head
        self.in_channels = in_channels
        self.norm = nn.GroupNorm(32, in_channels, eps=1e-6, affine=True, **fk)
        self.proj_in = nn.Linear(in_channels, inner, **fk)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, cross_attention_dim, backend=backend, **fk) for _ in range(num_layers)]
        )
        self.temporal_transformer_blocks = nn.ModuleList(
            [TemporalBasicTransformerBlock(inner, heads, dim_head, cross_attention_dim, backend, fk) for _ in range(num_layers)]
        )
        self.time_pos_embed = TimestepEmbedding(in_channels, in_channels * 4, **fk)
        self.time_pos_embed.linear_2 = nn.Linear(in_channels * 4, in_channels, **fk)  # out_dim=in_channels
        self.time_proj = Timesteps(in_channels, True, 0.0)
        self.time_mixer = AlphaBlender(fk)
        self.proj_out = nn.Linear(inner, in_channels, **fk)

    def forward(self, x: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        """x [(B*F), C, H, W]; context [B, L, C_ctx] -> [(B*F), C, H, W]."""
        residual = x
        bf, c, h, w = x.shape
        b = bf // num_frames
        y = self.norm(x).permute(0, 2, 3, 1).reshape(bf, h * w, c)
        y = self.proj_in(y)
        frames = torch.arange(num_frames, device=x.device).repeat(b, 1).reshape(-1)
        emb = self.time_pos_embed(self.time_proj(frames).to(y.dtype))[:, None, :]
        for block, temporal in zip(self.transformer_blocks, self.temporal_transformer_blocks):
            y = block(y, context, num_frames)
            mix = temporal(y + emb, context, num_frames)
            y = self.time_mixer(y, mix, False)
        y = self.proj_out(y)
        inner = y.shape[2]
        return y.reshape(bf, h, w, inner).permute(0, 3, 1, 2).contiguous() + residual
