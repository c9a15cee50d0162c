"""SD1.5 AutoencoderKL with diffusers parameter names (images are per frame: ``[N, C, H, W]``).

Names::

    encoder.{conv_in, down_blocks.i.{resnets.j, downsamplers.0.conv}, mid_block.{resnets.{0,1},
             attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}}, conv_norm_out, conv_out}
    decoder.{conv_in, mid_block.*, up_blocks.i.{resnets.j, upsamplers.0.conv}, conv_norm_out, conv_out}
    quant_conv, post_quant_conv

Every GroupNorm has eps 1e-6. The mid attention is 1 head over all channels with a
float32 softmax (math path) and a residual connection.

``decode(z)`` takes RAW latents (already divided by ``scaling_factor`` by the caller)
and returns images in about [-1, 1]. ``encode_moments(x)`` returns ``[N, 2*latent, h, w]``
(mean, logvar); multiply the mean by ``scaling_factor`` to get diffusion latents.
"""

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import make_attention_core
from .configs import VAEConfig
from .resnet import Downsample2D, ResnetBlock2D, Upsample2D


class VAEAttention(nn.Module):
    """diffusers ``Attention`` as used by the VAE mid block: group_norm -> 1 head -> to_out.0 + residual."""

    def __init__(self, channels: int, groups: int = 32, eps: float = 1e-6, backend: str = "auto", device=None, dtype=None):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps, affine=True, **fk)
        self.to_q = nn.Linear(channels, channels, bias=True, **fk)
        self.to_k = nn.Linear(channels, channels, bias=True, **fk)
        self.to_v = nn.Linear(channels, channels, bias=True, **fk)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels, bias=True, **fk)])
        self.core = make_attention_core(backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        n, c, h, w = x.shape
        y = self.group_norm(x.view(n, c, h * w)).transpose(1, 2)  # [N, HW, C]
        q = self.to_q(y)[:, None]
        k = self.to_k(y)[:, None]
        v = self.to_v(y)[:, None]
        out = self.core(q, k, v)[:, 0]
        out = self.to_out[0](out)
        return out.transpose(1, 2).reshape(n, c, h, w) + residual


class VAEMidBlock(nn.Module):
    """resnets.0 -> attentions.0 -> resnets.1."""

    def __init__(self, channels: int, groups: int, eps: float, backend: str, fk):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, groups, eps, **fk) for _ in range(2)])
        self.attentions = nn.ModuleList([VAEAttention(channels, groups, eps, backend, **fk)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        return self.resnets[1](x)


class DownEncoderBlock2D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, add_downsample: bool, groups: int, eps: float, fk):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(in_channels if j == 0 else out_channels, out_channels, groups, eps, **fk) for j in range(num_layers)]
        )
        self.downsamplers = nn.ModuleList([Downsample2D(out_channels, **fk)] if add_downsample else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for r in self.resnets:
            x = r(x)
        for d in self.downsamplers:
            x = d(x)
        return x


class UpDecoderBlock2D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_layers: int, add_upsample: bool, groups: int, eps: float, fk):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(in_channels if j == 0 else out_channels, out_channels, groups, eps, **fk) for j in range(num_layers)]
        )
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, **fk)] if add_upsample else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for r in self.resnets:
            x = r(x)
        for u in self.upsamplers:
            x = u(x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig, fk):
        super().__init__()
        boc = list(cfg.block_out_channels)
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        self.conv_in = nn.Conv2d(cfg.in_channels, boc[0], kernel_size=3, stride=1, padding=1, **fk)
        blocks = []
        out_ch = boc[0]
        for i, ch in enumerate(boc):
            in_ch, out_ch = out_ch, ch
            blocks.append(DownEncoderBlock2D(in_ch, out_ch, cfg.layers_per_block, i < len(boc) - 1, g, eps, fk))
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = VAEMidBlock(boc[-1], g, eps, cfg.attention_backend, fk)
        self.conv_norm_out = nn.GroupNorm(g, boc[-1], eps=eps, affine=True, **fk)
        self.conv_out = nn.Conv2d(boc[-1], 2 * cfg.latent_channels, kernel_size=3, padding=1, **fk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig, fk):
        super().__init__()
        boc = list(cfg.block_out_channels)
        rev = list(reversed(boc))
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        self.conv_in = nn.Conv2d(cfg.latent_channels, boc[-1], kernel_size=3, stride=1, padding=1, **fk)
        self.mid_block = VAEMidBlock(boc[-1], g, eps, cfg.attention_backend, fk)
        blocks = []
        out_ch = rev[0]
        for i, ch in enumerate(rev):
            prev, out_ch = out_ch, ch
            blocks.append(UpDecoderBlock2D(prev, out_ch, cfg.layers_per_block + 1, i < len(rev) - 1, g, eps, fk))
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(g, boc[0], eps=eps, affine=True, **fk)
        self.conv_out = nn.Conv2d(boc[0], cfg.out_channels, kernel_size=3, padding=1, **fk)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(z)
        x = self.mid_block(x)
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, config: Optional[VAEConfig] = None, device=None, dtype=None):
        super().__init__()
        cfg = (config if config is not None else VAEConfig.sd15()).validate()
        self.config = cfg
        fk = {"device": device, "dtype": dtype}
        lc = cfg.latent_channels
        self.encoder = Encoder(cfg, fk)
        self.decoder = Decoder(cfg, fk)
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, kernel_size=1, **fk)
        self.post_quant_conv = nn.Conv2d(lc, lc, kernel_size=1, **fk)

    @property
    def scaling_factor(self) -> float:
        return self.config.scaling_factor

    def encode_moments(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder(x))

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_moments(x).chunk(2, dim=1)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the posterior mean (for tests)."""
        return self.decode(self.encode_mean(x))


class VAEDecoderModule(nn.Module):
    """Export wrapper: ``forward(latents [N, 4, h, w]) -> images [N, 3, 8h, 8w]`` (raw latents in, ~[-1, 1] out).

    Runs in the weights' dtype; the output has the dtype of ``latents``.
    Parameter names: ``post_quant_conv.*``, ``decoder.*`` (as in AutoencoderKL).
    """

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.post_quant_conv = vae.post_quant_conv
        self.decoder = vae.decoder

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        if latents.dim() != 4:
            raise RuntimeError("vae_decode: latents must be [N, C, h, w] (fold frames into N), got " + str(latents.dim()) + " dims")
        out_dtype = latents.dtype
        z = latents.to(self.post_quant_conv.weight.dtype)
        return self.decoder(self.post_quant_conv(z)).to(out_dtype)


class VAEEncoderModule(nn.Module):
    """Export wrapper: ``forward(images [N, 3, H, W] in [-1, 1]) -> latent mean [N, 4, H/8, W/8]`` (unscaled).

    ``moments(images) -> (mean, logvar)`` is exported too (for sampling the posterior later).
    Parameter names: ``encoder.*``, ``quant_conv.*``.
    """

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.encoder = vae.encoder
        self.quant_conv = vae.quant_conv

    def _moments(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise RuntimeError("vae_encode: images must be [N, 3, H, W], got " + str(images.dim()) + " dims")
        x = images.to(self.quant_conv.weight.dtype)
        return self.quant_conv(self.encoder(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        m = self._moments(images)
        half = m.shape[1] // 2
        return m[:, :half].to(images.dtype).contiguous()

    @torch.jit.export
    def moments(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = self._moments(images)
        half = m.shape[1] // 2
        mean = m[:, :half]
        logvar = torch.clamp(m[:, half:], -30.0, 20.0)
        return mean.to(images.dtype).contiguous(), logvar.to(images.dtype).contiguous()
