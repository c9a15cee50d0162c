"""Stable Video Diffusion's AutoencoderKLTemporalDecoder (diffusers names)::

    encoder.*, quant_conv                    SD's VAE encoder (vae.py), no post_quant_conv
    decoder.{conv_in, mid_block.{resnets.{0,1}, attentions.0}, up_blocks.i.{resnets.j, upsamplers.0.conv},
             conv_norm_out, conv_out, time_conv_out}

The decoder's ResNets are SpatioTemporalResBlocks without timestep embedding (spatial GN eps
1e-6, temporal 1e-5, blend ``1 - sigmoid(mix_factor)``); ``time_conv_out`` is a Conv3d (3,1,1)
along frames. Decoding therefore needs ``num_frames``: N latents are N / num_frames videos.

Export wrappers: :class:`TemporalDecoderModule` ``(latents [N, 4, h, w], num_frames: int) -> images
[N, 3, 8h, 8w]`` (raw latents: the caller divides by ``scaling_factor``), and vae.VAEEncoderModule.
"""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resnet import Upsample2D
from .svd_blocks import SpatioTemporalResBlock
from .svd_configs import TemporalVAEConfig
from .vae import Encoder, VAEAttention


def _resnet(cin: int, cout: int, fk) -> SpatioTemporalResBlock:
    return SpatioTemporalResBlock(cin, cout, None, 1e-6, 1e-5, True, fk)


class MidBlockTemporalDecoder(nn.Module):
    def __init__(self, channels: int, num_layers: int, backend: str, fk):
        super().__init__()
        self.resnets = nn.ModuleList([_resnet(channels, channels, fk) for _ in range(num_layers)])
        self.attentions = nn.ModuleList([VAEAttention(channels, 32, 1e-6, backend, **fk)])

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        # diffusers: resnets[0], then zip(resnets[1:], attentions): one attention, so at most resnets[1] runs
        j = 0
        for r in self.resnets:
            if j == 1:
                x = self.attentions[0](x)
            if j <= 1:
                x = r(x, None, num_frames)
            j += 1
        return x


class UpBlockTemporalDecoder(nn.Module):
    def __init__(self, cin: int, cout: int, num_layers: int, add_upsample: bool, fk):
        super().__init__()
        self.resnets = nn.ModuleList([_resnet(cin if j == 0 else cout, cout, fk) for j in range(num_layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(cout, **fk)] if add_upsample else [])

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        for r in self.resnets:
            x = r(x, None, num_frames)
        for u in self.upsamplers:
            x = u(x)
        return x


class TemporalDecoder(nn.Module):
    def __init__(self, cfg: TemporalVAEConfig, fk):
        super().__init__()
        boc = list(cfg.block_out_channels)
        rev = list(reversed(boc))
        self.conv_in = nn.Conv2d(cfg.latent_channels, boc[-1], kernel_size=3, padding=1, **fk)
        self.mid_block = MidBlockTemporalDecoder(boc[-1], cfg.layers_per_block, cfg.attention_backend, fk)
        blocks = []
        out_ch = rev[0]
        for i, ch in enumerate(rev):
            prev, out_ch = out_ch, ch
            blocks.append(UpBlockTemporalDecoder(prev, out_ch, cfg.layers_per_block + 1, i < len(rev) - 1, fk))
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(32, boc[0], eps=1e-6, affine=True, **fk)
        self.conv_out = nn.Conv2d(boc[0], cfg.out_channels, kernel_size=3, padding=1, **fk)
        self.time_conv_out = nn.Conv3d(cfg.out_channels, cfg.out_channels, kernel_size=(3, 1, 1), padding=(1, 0, 0), **fk)

    def forward(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        x = self.conv_in(z)
        x = self.mid_block(x, num_frames)
        for block in self.up_blocks:
            x = block(x, num_frames)
        x = self.conv_out(F.silu(self.conv_norm_out(x)))
        bf, c, h, w = x.shape
        x5 = x.reshape(bf // num_frames, num_frames, c, h, w).permute(0, 2, 1, 3, 4)
        return self.time_conv_out(x5).permute(0, 2, 1, 3, 4).reshape(bf, c, h, w)


class AutoencoderKLTemporalDecoder(nn.Module):
    def __init__(self, config: Optional[TemporalVAEConfig] = None, device=None, dtype=None):
        super().__init__()
        cfg = (config if config is not None else TemporalVAEConfig.svd()).validate()
        self.config = cfg
        fk = {"device": device, "dtype": dtype}
        self.encoder = Encoder(cfg.to_vae_config(), fk)
        self.decoder = TemporalDecoder(cfg, fk)
        lc = cfg.latent_channels
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, kernel_size=1, **fk)

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder(x)).chunk(2, dim=1)[0]

    def decode(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        return self.decoder(z, num_frames)


class TemporalDecoderModule(nn.Module):
    """``forward(latents [N, 4, h, w] raw, num_frames: int) -> images [N, 3, 8h, 8w]`` in ~[-1, 1]."""

    def __init__(self, vae: AutoencoderKLTemporalDecoder):
        super().__init__()
        self.decoder = vae.decoder

    def forward(self, latents: torch.Tensor, num_frames: int) -> torch.Tensor:
        if latents.dim() != 4:
            raise RuntimeError("vae_decode: latents must be [N, C, h, w] (frames folded into N), got " + str(latents.dim()) + " dims")
        if num_frames < 1 or latents.shape[0] % num_frames != 0:
            raise RuntimeError(
                "vae_decode: num_frames " + str(num_frames) + " must divide the " + str(latents.shape[0]) + " latents"
            )
        out_dtype = latents.dtype
        z = latents.to(self.decoder.conv_in.weight.dtype)
        return self.decoder(z, num_frames).to(out_dtype)
