"""ResNet blocks, GroupNorm over frames, up/down samplers (UNet and VAE).

Layout inside the UNet: activations stay folded as ``[(B*F), C, H, W]`` with frames
fastest (row ``b*F + f``), exactly AnimateDiff's ``(b f) c h w``. 2-D convolutions
therefore run per frame. Only the GroupNorms that normalise over the whole video
(AnimateDiff v1 resnets / conv_norm_out, diffusers' motion-module input norm) and the
temporal attention look across frames; they receive ``num_frames``.
"""

from typing import Final, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def fold_frames(x: torch.Tensor) -> torch.Tensor:
    """[B, C, F, H, W] -> [(B*F), C, H, W] (frames fastest)."""
    b, c, f, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def unfold_frames(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """[(B*F), C, H, W] -> [B, C, F, H, W]."""
    bf, c, h, w = x.shape
    return x.reshape(bf // num_frames, num_frames, c, h, w).permute(0, 2, 1, 3, 4)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm on folded frames ``[(B*F), C, H, W]``; parameters ``weight``/``bias`` as nn.GroupNorm.

    ``joint=False``: statistics per frame (AnimateDiff ``InflatedGroupNorm``).
    ``joint=True``:  statistics per (video, group) over C/G x F x H x W, i.e. ``nn.GroupNorm``
    applied to the 5-D ``[B, C, F, H, W]`` tensor (AnimateDiff v1 resnets, diffusers'
    motion-module norm).
    """

    joint: Final[bool]

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, joint: bool = False, device=None, dtype=None):
        super().__init__(num_groups, num_channels, eps=eps, affine=True, device=device, dtype=dtype)
        self.joint = joint

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:  # type: ignore[override]
        if self.joint and num_frames > 1:
            bf, c, h, w = x.shape
            x5 = x.view(bf // num_frames, num_frames, c, h, w).transpose(1, 2)
            y = F.group_norm(x5, self.num_groups, self.weight, self.bias, self.eps)
            return y.transpose(1, 2).reshape(bf, c, h, w)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", joint over frames" if self.joint else ", per frame")


class InflatedConv3d(nn.Conv2d):
    """2-D convolution applied to every frame. Accepts ``[B, C, F, H, W]`` or folded ``[(B*F), C, H, W]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if x.dim() == 5:
            f = x.shape[2]
            return unfold_frames(self._conv_forward(fold_frames(x), self.weight, self.bias), f)
        return self._conv_forward(x, self.weight, self.bias)


class ResnetBlock3D(nn.Module):
    """SD ResNet block on folded frames with timestep embedding.

    Names: ``norm1``, ``conv1``, ``time_emb_proj``, ``norm2``, ``conv2``, ``conv_shortcut`` (if C changes).
    ``forward(x [(B*F), Cin, H, W], temb [B, T], num_frames) -> [(B*F), Cout, H, W]``.
    """

    out_channels: Final[int]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_channels: int,
        groups: int = 32,
        eps: float = 1e-5,
        joint_groupnorm: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.out_channels = out_channels
        self.norm1 = FrameGroupNorm(groups, in_channels, eps=eps, joint=joint_groupnorm, **fk)
        self.conv1 = InflatedConv3d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, **fk)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels, **fk)
        self.norm2 = FrameGroupNorm(groups, out_channels, eps=eps, joint=joint_groupnorm, **fk)
        self.conv2 = InflatedConv3d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, **fk)
        if in_channels != out_channels:
            self.conv_shortcut = InflatedConv3d(in_channels, out_channels, kernel_size=1, stride=1, padding=0, **fk)
        else:
            self.conv_shortcut = None

    def forward(self, x: torch.Tensor, temb: torch.Tensor, num_frames: int) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, num_frames)))
        t = self.time_emb_proj(F.silu(temb))  # [B, C]
        bf, c, hh, ww = h.shape
        h = (h.view(bf // num_frames, num_frames, c, hh, ww) + t[:, None, :, None, None]).view(bf, c, hh, ww)
        h = self.conv2(F.silu(self.norm2(h, num_frames)))
        shortcut = x
        if self.conv_shortcut is not None:
            shortcut = self.conv_shortcut(x)
        return shortcut + h


class Downsample3D(nn.Module):
    """conv 3x3, stride 2, padding 1 (``conv``)."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        self.conv = InflatedConv3d(channels, channels, kernel_size=3, stride=2, padding=1, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _upsample_nearest(x: torch.Tensor, size: Optional[List[int]]) -> torch.Tensor:
    if size is None:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.interpolate(x, size=size, mode="nearest")


class Upsample3D(nn.Module):
    """nearest x2 (or to ``output_size``, the skip connection's H, W) then conv 3x3 (``conv``)."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        self.conv = InflatedConv3d(channels, channels, kernel_size=3, padding=1, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor, output_size: Optional[List[int]] = None) -> torch.Tensor:
        if x.shape[0] >= 64:
            x = x.contiguous()
        return self.conv(_upsample_nearest(x, output_size))


# ---------------------------------------------------------------------------------------------
# VAE (2-D, no timestep embedding, GroupNorm eps 1e-6)
# ---------------------------------------------------------------------------------------------


class ResnetBlock2D(nn.Module):
    """diffusers ResnetBlock2D without temb. Names: norm1, conv1, norm2, conv2, conv_shortcut."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 32, eps: float = 1e-6, device=None, dtype=None):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps, affine=True, **fk)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, **fk)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps, affine=True, **fk)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, **fk)
        if in_channels != out_channels:
            self.conv_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0, **fk)
        else:
            self.conv_shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = x
        if self.conv_shortcut is not None:
            shortcut = self.conv_shortcut(x)
        return shortcut + h


class Downsample2D(nn.Module):
    """VAE encoder downsampler: pad (0,1,0,1) with zeros, conv 3x3 stride 2 padding 0 (``conv``)."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, [0, 1, 0, 1], mode="constant", value=0.0))


class Upsample2D(nn.Module):
    """VAE decoder upsampler: nearest x2 then conv 3x3 (``conv``)."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= 64:
            x = x.contiguous()
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
