"""The UNet3DConditionModel's parts: timestep embedding and the down / mid / up blocks (unet3d.py assembles them).

Each block folds the video to ``[(B*F), C, h, w]`` (frames fastest) and runs, per layer, a resnet, a spatial
transformer (cross-attention blocks) and a motion module; names as in unet3d.py's docstring.
"""

import math
from typing import Final, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import SpatialTransformer
from .configs import UNet3DConfig
from .motion_module import MotionArgs, NoMotionModule, VanillaTemporalModule
from .resnet import Downsample3D, ResnetBlock3D, Upsample3D


class Timesteps(nn.Module):
    """Sinusoidal timestep features (diffusers ``get_timestep_embedding``), float32."""

    num_channels: Final[int]
    flip_sin_to_cos: Final[bool]
    downscale_freq_shift: Final[float]

    def __init__(self, num_channels: int, flip_sin_to_cos: bool = True, downscale_freq_shift: float = 0.0):
        super().__init__()
        self.num_channels = num_channels
        self.flip_sin_to_cos = flip_sin_to_cos
        self.downscale_freq_shift = float(downscale_freq_shift)

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.num_channels // 2
        exponent = -math.log(10000.0) * torch.arange(0, half, dtype=torch.float32, device=timesteps.device)
        exponent = exponent / (half - self.downscale_freq_shift)
        freqs = torch.exp(exponent)
        args = timesteps[:, None].to(torch.float32) * freqs[None, :]
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
        if self.flip_sin_to_cos:
            emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
        if self.num_channels % 2 == 1:
            emb = F.pad(emb, [0, 1, 0, 0])
        return emb


class TimestepEmbedding(nn.Module):
    """``linear_1`` -> SiLU -> ``linear_2``."""

    def __init__(self, in_channels: int, time_embed_dim: int, device=None, dtype=None):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim, device=device, dtype=dtype)
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


def _motion_module(cfg: UNet3DConfig, channels: int, enabled: bool, fk) -> nn.Module:
    if not enabled:
        return NoMotionModule()
    return VanillaTemporalModule(
        channels,
        num_attention_heads=cfg.motion_num_attention_heads,
        num_transformer_block=cfg.motion_num_transformer_blocks,
        max_len=cfg.motion_max_seq_length,
        norm_num_groups=cfg.norm_num_groups,
        joint_groupnorm=cfg.numerics == "diffusers",
        backend=cfg.attention_backend,
        num_attention_blocks=cfg.motion_attention_blocks,
        **fk,
    )


def _resnet_joint_gn(cfg: UNet3DConfig) -> bool:
    """Whole-video GroupNorm in resnets / conv_norm_out: only AnimateDiff numerics without inflated GN (v1)."""
    return cfg.numerics == "animatediff" and not cfg.use_inflated_groupnorm


def _resnet(cfg: UNet3DConfig, in_channels: int, out_channels: int, fk) -> ResnetBlock3D:
    return ResnetBlock3D(
        in_channels,
        out_channels,
        cfg.time_embed_dim,
        groups=cfg.norm_num_groups,
        eps=cfg.norm_eps,
        joint_groupnorm=_resnet_joint_gn(cfg),
        **fk,
    )


def _down_resnets(cfg: UNet3DConfig, in_channels: int, out_channels: int, fk) -> nn.ModuleList:
    """A down block's ``resnets``: the first takes ``in_channels``, the rest ``out_channels``."""
    return nn.ModuleList([_resnet(cfg, in_channels if j == 0 else out_channels, out_channels, fk) for j in range(cfg.layers_per_block)])


def _up_resnets(cfg: UNet3DConfig, in_channels: int, out_channels: int, prev_output_channel: int, fk) -> nn.ModuleList:
    """An up block's ``resnets`` (``layers_per_block + 1``): each takes its input concatenated with a skip;
    the first input comes from the previous up block, the last skip from the block's ``in_channels``."""
    n = cfg.layers_per_block + 1
    resnets = []
    for j in range(n):
        skip = in_channels if j == n - 1 else out_channels
        res_in = prev_output_channel if j == 0 else out_channels
        resnets.append(_resnet(cfg, res_in + skip, out_channels, fk))
    return nn.ModuleList(resnets)


def _attentions(cfg: UNet3DConfig, channels: int, n: int, fk) -> nn.ModuleList:
    return nn.ModuleList(
        [
            SpatialTransformer(
                channels,
                cfg.attention_head_dim,
                cfg.cross_attention_dim,
                norm_num_groups=cfg.norm_num_groups,
                backend=cfg.attention_backend,
                **fk,
            )
            for _ in range(n)
        ]
    )


def _motion_modules(cfg: UNet3DConfig, channels: int, use_motion: bool, n: int, fk) -> nn.ModuleList:
    return nn.ModuleList([_motion_module(cfg, channels, use_motion, fk) for _ in range(n)])


class CrossAttnDownBlock3D(nn.Module):
    has_downsampler: Final[bool]

    def __init__(self, cfg: UNet3DConfig, in_channels: int, out_channels: int, add_downsample: bool, use_motion: bool, fk):
        super().__init__()
        n = cfg.layers_per_block
        self.resnets = _down_resnets(cfg, in_channels, out_channels, fk)
        self.attentions = _attentions(cfg, out_channels, n, fk)
        self.motion_modules = _motion_modules(cfg, out_channels, use_motion, n, fk)
        self.has_downsampler = add_downsample
        self.downsamplers = nn.ModuleList([Downsample3D(out_channels, **fk)] if add_downsample else [])

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int, margs: MotionArgs) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        outputs: List[torch.Tensor] = []
        for resnet, attn, motion in zip(self.resnets, self.attentions, self.motion_modules):
            x = resnet(x, temb, num_frames)
            x = attn(x, context, num_frames)
            x = motion(x, num_frames, margs)
            outputs.append(x)
        for down in self.downsamplers:
            x = down(x)
            outputs.append(x)
        return x, outputs


class DownBlock3D(nn.Module):
    has_downsampler: Final[bool]

    def __init__(self, cfg: UNet3DConfig, in_channels: int, out_channels: int, add_downsample: bool, use_motion: bool, fk):
        super().__init__()
        n = cfg.layers_per_block
        self.resnets = _down_resnets(cfg, in_channels, out_channels, fk)
        self.motion_modules = _motion_modules(cfg, out_channels, use_motion, n, fk)
        self.has_downsampler = add_downsample
        self.downsamplers = nn.ModuleList([Downsample3D(out_channels, **fk)] if add_downsample else [])

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int, margs: MotionArgs) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        outputs: List[torch.Tensor] = []
        for resnet, motion in zip(self.resnets, self.motion_modules):
            x = resnet(x, temb, num_frames)
            x = motion(x, num_frames, margs)
            outputs.append(x)
        for down in self.downsamplers:
            x = down(x)
            outputs.append(x)
        return x, outputs


class UNetMidBlock3DCrossAttn(nn.Module):
    """resnets.0 -> attentions.0 -> motion_modules.0 (v2 only) -> resnets.1."""

    def __init__(self, cfg: UNet3DConfig, channels: int, use_motion: bool, fk, num_layers: int = 1):
        super().__init__()
        if num_layers != 1:
            raise ValueError("UNetMidBlock3DCrossAttn: only num_layers=1 (SD1.5) is supported")
        self.resnets = nn.ModuleList([_resnet(cfg, channels, channels, fk) for _ in range(num_layers + 1)])
        self.attentions = _attentions(cfg, channels, num_layers, fk)
        self.motion_modules = _motion_modules(cfg, channels, use_motion, num_layers, fk)

    def forward(self, x: torch.Tensor, temb: torch.Tensor, context: torch.Tensor, num_frames: int, margs: MotionArgs) -> torch.Tensor:
        x = self.resnets[0](x, temb, num_frames)
        x = self.attentions[0](x, context, num_frames)
        x = self.motion_modules[0](x, num_frames, margs)
        x = self.resnets[1](x, temb, num_frames)
        return x


class CrossAttnUpBlock3D(nn.Module):
    num_layers: Final[int]

    def __init__(
        self,
        cfg: UNet3DConfig,
        in_channels: int,
        out_channels: int,
        prev_output_channel: int,
        add_upsample: bool,
        use_motion: bool,
        fk,
    ):
        super().__init__()
        n = cfg.layers_per_block + 1
        self.num_layers = n
        self.resnets = _up_resnets(cfg, in_channels, out_channels, prev_output_channel, fk)
        self.attentions = _attentions(cfg, out_channels, n, fk)
        self.motion_modules = _motion_modules(cfg, out_channels, use_motion, n, fk)
        self.upsamplers = nn.ModuleList([Upsample3D(out_channels, **fk)] if add_upsample else [])

    def forward(
        self,
        x: torch.Tensor,
        skips: List[torch.Tensor],
        temb: torch.Tensor,
        context: torch.Tensor,
        num_frames: int,
        upsample_size: Optional[List[int]],
        margs: MotionArgs,
    ) -> torch.Tensor:
        k = len(skips)
        for resnet, attn, motion in zip(self.resnets, self.attentions, self.motion_modules):
            k -= 1
            x = torch.cat([x, skips[k]], dim=1)
            x = resnet(x, temb, num_frames)
            x = attn(x, context, num_frames)
            x = motion(x, num_frames, margs)
        for up in self.upsamplers:
            x = up(x, upsample_size)
        return x


class UpBlock3D(nn.Module):
    num_layers: Final[int]

    def __init__(
        self,
        cfg: UNet3DConfig,
        in_channels: int,
        out_channels: int,
        prev_output_channel: int,
        add_upsample: bool,
        use_motion: bool,
        fk,
    ):
        super().__init__()
        n = cfg.layers_per_block + 1
        self.num_layers = n
        self.resnets = _up_resnets(cfg, in_channels, out_channels, prev_output_channel, fk)
        self.motion_modules = _motion_modules(cfg, out_channels, use_motion, n, fk)
        self.upsamplers = nn.ModuleList([Upsample3D(out_channels, **fk)] if add_upsample else [])

    def forward(
        self,
        x: torch.Tensor,
        skips: List[torch.Tensor],
        temb: torch.Tensor,
        context: torch.Tensor,
        num_frames: int,
        upsample_size: Optional[List[int]],
        margs: MotionArgs,
    ) -> torch.Tensor:
        k = len(skips)
        for resnet, motion in zip(self.resnets, self.motion_modules):
            k -= 1
            x = torch.cat([x, skips[k]], dim=1)
            x = resnet(x, temb, num_frames)
            x = motion(x, num_frames, margs)
        for up in self.upsamplers:
            x = up(x, upsample_size)
        return x


_DOWN_BLOCKS = {"CrossAttnDownBlock3D": CrossAttnDownBlock3D, "DownBlock3D": DownBlock3D}
_UP_BLOCKS = {"CrossAttnUpBlock3D": CrossAttnUpBlock3D, "UpBlock3D": UpBlock3D}
