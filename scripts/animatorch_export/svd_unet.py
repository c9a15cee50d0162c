"""Stable Video Diffusion's UNetSpatioTemporalConditionModel, with diffusers' parameter names::

    conv_in, time_embedding.linear_{1,2}, add_embedding.linear_{1,2}, conv_norm_out, conv_out
    down_blocks.i.{resnets.j, attentions.j, downsamplers.0.conv}
    mid_block.{resnets.{0,1}, attentions.0}
    up_blocks.i.{resnets.j, attentions.j, upsamplers.0.conv}

(resnets / attentions: see svd_blocks.py). ``forward(sample [B, F, C_in, h, w], timestep [B] | []
float, encoder_hidden_states [B, L, C_ctx], added_time_ids [B, 3]) -> [B, F, C_out, h, w]``, the
layout of diffusers (frames before channels). The timestep is SVD's continuous one
(``0.25 * log(sigma)``), taken as given. Computation runs in the weights' dtype, the output has
``sample``'s.

ResNet GroupNorm eps follow diffusers' blocks: 1e-6 in CrossAttnDown and all up blocks, 1e-5 in
DownBlockSpatioTemporal and the mid block.
"""

from typing import Final, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resnet import Downsample3D, Upsample3D
from .svd_blocks import SpatioTemporalResBlock, TransformerSpatioTemporalModel
from .svd_configs import SVDUNetConfig
from .unet_blocks import TimestepEmbedding, Timesteps


def _resnet(cin: int, cout: int, temb: int, eps: float, fk) -> SpatioTemporalResBlock:
    return SpatioTemporalResBlock(cin, cout, temb, eps, eps, False, fk)


def _transformer(cfg: SVDUNetConfig, channels: int, heads: int, fk) -> TransformerSpatioTemporalModel:
    return TransformerSpatioTemporalModel(
        heads, channels // heads, channels, cfg.transformer_layers_per_block, cfg.cross_attention_dim, cfg.attention_backend, fk
    )


class DownBlock(nn.Module):
    """CrossAttnDownBlockSpatioTemporal (``cross=True``) or DownBlockSpatioTemporal."""

    def __init__(self, cfg: SVDUNetConfig, cin: int, cout: int, heads: int, temb: int, cross: bool, add_down: bool, fk):
        super().__init__()
        eps = 1e-6 if cross else 1e-5
        n = cfg.layers_per_block
        self.resnets = nn.ModuleList([_resnet(cin if j == 0 else cout, cout, temb, eps, fk) for j in range(n)])
        self.attentions = nn.ModuleList([_transformer(cfg, cout, heads, fk) for _ in range(n)] if cross else [])
        self.downsamplers = nn.ModuleList([Downsample3D(cout, **fk)] if add_down else [])

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        outputs: List[torch.Tensor] = []
        n_attn = len(self.attentions)
        j = 0
        for resnet in self.resnets:
            x = resnet(x, temb, num_frames)
            k = 0
            for attn in self.attentions:  # TorchScript cannot index a ModuleList by a variable
                if k == j:
                    x = attn(x, context, num_frames)
                k += 1
            outputs.append(x)
            j += 1
        for down in self.downsamplers:
            x = down(x)
            outputs.append(x)
        return x, outputs


class UpBlock(nn.Module):
    """CrossAttnUpBlockSpatioTemporal (``cross=True``) or UpBlockSpatioTemporal."""

    num_layers: Final[int]

    def __init__(self, cfg: SVDUNetConfig, cin: int, cout: int, prev: int, heads: int, temb: int, cross: bool, add_up: bool, fk):
        super().__init__()
        n = cfg.layers_per_block + 1
        self.num_layers = n
        resnets = []
        for j in range(n):
            skip = cin if j == n - 1 else cout
            res_in = prev if j == 0 else cout
            resnets.append(_resnet(res_in + skip, cout, temb, 1e-6, fk))
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList([_transformer(cfg, cout, heads, fk) for _ in range(n)] if cross else [])
        self.upsamplers = nn.ModuleList([Upsample3D(cout, **fk)] if add_up else [])

    def forward(self, x: torch.Tensor, skips: List[torch.Tensor], temb: torch.Tensor, context: torch.Tensor,
                num_frames: int, upsample_size: Optional[List[int]]) -> torch.Tensor:
        k = len(skips)
        j = 0
        for resnet in self.resnets:
            k -= 1
            x = resnet(torch.cat([x, skips[k]], dim=1), temb, num_frames)
            m = 0
            for attn in self.attentions:
                if m == j:
                    x = attn(x, context, num_frames)
                m += 1
            j += 1
        for up in self.upsamplers:
            x = up(x, upsample_size)
        return x


class MidBlock(nn.Module):
    """UNetMidBlockSpatioTemporal: resnets.0 -> attentions.0 -> resnets.1 (eps 1e-5)."""

    def __init__(self, cfg: SVDUNetConfig, channels: int, heads: int, temb: int, fk):
        super().__init__()
        self.resnets = nn.ModuleList([_resnet(channels, channels, temb, 1e-5, fk) for _ in range(2)])
        self.attentions = nn.ModuleList([_transformer(cfg, channels, heads, fk)])

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int) -> torch.Tensor:
        x = self.resnets[0](x, temb, num_frames)
        x = self.attentions[0](x, context, num_frames)
        return self.resnets[1](x, temb, num_frames)


class UNetSpatioTemporalConditionModel(nn.Module):
    """See the module docstring."""

    in_channels: Final[int]
    out_channels: Final[int]
    num_time_ids: Final[int]

    def __init__(self, config: Optional[SVDUNetConfig] = None, device=None, dtype=None):
        super().__init__()
        cfg = (config if config is not None else SVDUNetConfig.svd()).validate()
        self.config = cfg
        fk = {"device": device, "dtype": dtype}
        boc = list(cfg.block_out_channels)
        heads = list(cfg.num_attention_heads)
        n = len(boc)
        temb = boc[0] * 4
        self.in_channels = cfg.in_channels
        self.out_channels = cfg.out_channels
        self.num_time_ids = cfg.projection_class_embeddings_input_dim // cfg.addition_time_embed_dim

        self.conv_in = nn.Conv2d(cfg.in_channels, boc[0], kernel_size=3, padding=1, **fk)
        self.time_proj = Timesteps(boc[0], True, 0.0)
        self.time_embedding = TimestepEmbedding(boc[0], temb, **fk)
        self.add_time_proj = Timesteps(cfg.addition_time_embed_dim, True, 0.0)
        self.add_embedding = TimestepEmbedding(cfg.projection_class_embeddings_input_dim, temb, **fk)

        down = []
        out_ch = boc[0]
        for i, kind in enumerate(cfg.down_block_types):
            in_ch, out_ch = out_ch, boc[i]
            cross = kind == "CrossAttnDownBlockSpatioTemporal"
            if not cross and kind != "DownBlockSpatioTemporal":
                raise ValueError(f"SVD UNet: unknown down block type {kind!r}")
            down.append(DownBlock(cfg, in_ch, out_ch, heads[i], temb, cross, i < n - 1, fk))
        self.down_blocks = nn.ModuleList(down)
        self.mid_block = MidBlock(cfg, boc[-1], heads[-1], temb, fk)

        rev, rev_heads = list(reversed(boc)), list(reversed(heads))
        up = []
        out_ch = rev[0]
        for i, kind in enumerate(cfg.up_block_types):
            prev, out_ch = out_ch, rev[i]
            in_ch = rev[min(i + 1, n - 1)]
            cross = kind == "CrossAttnUpBlockSpatioTemporal"
            if not cross and kind != "UpBlockSpatioTemporal":
                raise ValueError(f"SVD UNet: unknown up block type {kind!r}")
            up.append(UpBlock(cfg, in_ch, out_ch, prev, rev_heads[i], temb, cross, i < n - 1, fk))
        self.up_blocks = nn.ModuleList(up)

        self.conv_norm_out = nn.GroupNorm(32, boc[0], eps=1e-5, affine=True, **fk)
        self.conv_out = nn.Conv2d(boc[0], cfg.out_channels, kernel_size=3, padding=1, **fk)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                added_time_ids: torch.Tensor) -> torch.Tensor:
        if sample.dim() != 5 or sample.shape[2] != self.in_channels:
            raise RuntimeError(
                "unet: sample must be [B, F, " + str(self.in_channels) + ", h, w] (noisy latents and image latents "
                "concatenated on channels), got shape " + str(sample.shape)
            )
        b, f, c, h, w = sample.shape
        if encoder_hidden_states.dim() != 3 or encoder_hidden_states.shape[0] != b:
            raise RuntimeError("unet: encoder_hidden_states must be [B, L, C] with B = " + str(b) + " (one row per video)")
        if added_time_ids.dim() != 2 or added_time_ids.shape[0] != b or added_time_ids.shape[1] != self.num_time_ids:
            raise RuntimeError("unet: added_time_ids must be [B, " + str(self.num_time_ids) + "] (fps - 1, motion bucket id, noise aug strength)")
        out_dtype = sample.dtype
        dtype = self.conv_in.weight.dtype

        t = timestep.to(sample.device)
        if t.dim() == 0:
            t = t[None]
        t = t.expand(b)
        emb = self.time_embedding(self.time_proj(t).to(dtype))
        time_embeds = self.add_time_proj(added_time_ids.to(sample.device).flatten()).reshape(b, -1).to(dtype)
        emb = emb + self.add_embedding(time_embeds)
        context = encoder_hidden_states.to(dtype)

        x = self.conv_in(sample.to(dtype).reshape(b * f, c, h, w))
        skips: List[torch.Tensor] = [x]
        for block in self.down_blocks:
            x, res = block(x, emb, context, f)
            skips.extend(res)
        x = self.mid_block(x, emb, context, f)

        n_up = len(self.up_blocks)
        i = 0
        for block in self.up_blocks:
            n = block.num_layers
            res = skips[len(skips) - n:]
            skips = skips[: len(skips) - n]
            size: Optional[List[int]] = None
            if i < n_up - 1 and len(skips) > 0:
                size = [skips[-1].shape[2], skips[-1].shape[3]]
            x = block(x, res, emb, context, f, size)
            i += 1

        x = self.conv_out(F.silu(self.conv_norm_out(x)))
        return x.reshape(b, f, x.shape[1], h, w).to(out_dtype).contiguous()
