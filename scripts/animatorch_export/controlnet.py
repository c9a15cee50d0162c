"""SD1.5 ControlNet (diffusers ``ControlNetModel``) applied to every frame of a video.

Parameter names are diffusers' ControlNetModel names::

    conv_in, time_embedding.linear_{1,2}, controlnet_cond_embedding.{conv_in,blocks.k,conv_out}
    down_blocks.i.{resnets.j,attentions.j,downsamplers.0.conv}, mid_block.{resnets.{0,1},attentions.0}
    controlnet_down_blocks.k (1x1 convs, one per UNet skip), controlnet_mid_block

The blocks are the UNet's own (unet_blocks.py) without motion modules: diffusers' AnimateDiffControlNetPipeline
runs the 2-D ControlNet on the frames folded into the batch, which is what our folded blocks do.

``forward(sample [B, 4, F, h, w], timestep [B] | [], encoder_hidden_states [B, T, C],
controlnet_cond [B, Cc, F, 8h, 8w], conditioning_scale: float, guess_mode: bool) -> List[Tensor]``:
the down residuals (one per UNet skip) then the mid residual, each folded ``[(B*F), C, h', w']``
(frames fastest), in the weights' dtype: exactly what the UNet's optional residual inputs take.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Final, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .configs import UNet3DConfig, _ConfigBase
from .motion_module import MotionArgs
from .resnet import fold_frames
from .unet_blocks import CrossAttnDownBlock3D, DownBlock3D, TimestepEmbedding, Timesteps, UNetMidBlock3DCrossAttn


@dataclass
class ControlNetConfig(_ConfigBase):
    """Shapes of an SD1.x ControlNet (diffusers ControlNetModel config, in our block names)."""

    in_channels: int = 4
    conditioning_channels: int = 3
    block_out_channels: Tuple[int, ...] = (320, 640, 1280, 1280)
    down_block_types: Tuple[str, ...] = ("CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D", "DownBlock3D")
    layers_per_block: int = 2
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    cross_attention_dim: int = 768
    attention_head_dim: int = 8  # legacy name: number of heads
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    conditioning_embedding_out_channels: Tuple[int, ...] = (16, 32, 96, 256)
    global_pool_conditions: bool = False
    channel_order: str = "rgb"
    attention_backend: str = "auto"

    def validate(self) -> "ControlNetConfig":
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")
        if len(self.down_block_types) != len(self.block_out_channels):
            raise ValueError("down_block_types must have one entry per block_out_channels")
        if len(self.conditioning_embedding_out_channels) < 1:
            raise ValueError("conditioning_embedding_out_channels must not be empty")
        self.unet_config()
        return self

    def unet_config(self) -> UNet3DConfig:
        """The UNet config whose down/mid blocks these are (no motion modules, per-frame GroupNorm)."""
        ups = tuple("CrossAttnUpBlock3D" if "CrossAttn" in t else "UpBlock3D" for t in reversed(self.down_block_types))
        return UNet3DConfig(
            in_channels=self.in_channels,
            block_out_channels=tuple(self.block_out_channels),
            down_block_types=tuple(self.down_block_types),
            up_block_types=ups,
            layers_per_block=self.layers_per_block,
            norm_num_groups=self.norm_num_groups,
            norm_eps=self.norm_eps,
            cross_attention_dim=self.cross_attention_dim,
            attention_head_dim=self.attention_head_dim,
            flip_sin_to_cos=self.flip_sin_to_cos,
            freq_shift=self.freq_shift,
            use_motion_module=False,
            numerics="diffusers",
            attention_backend=self.attention_backend,
        ).validate()

    @property
    def num_down_residuals(self) -> int:
        n = len(self.block_out_channels)
        return 1 + n * self.layers_per_block + (n - 1)

    @classmethod
    def tiny(cls, **overrides: Any) -> "ControlNetConfig":
        """Matches UNet3DConfig.tiny(): two levels (32, 64), one layer per block, text width 32."""
        cfg = cls(
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
            layers_per_block=1,
            cross_attention_dim=32,
            conditioning_embedding_out_channels=(8, 16, 16, 32),
        )
        return dataclasses.replace(cfg, **overrides).validate()


class ControlNetConditioningEmbedding(nn.Module):
    """conv_in -> SiLU -> (conv, SiLU, conv stride 2, SiLU) per level -> conv_out (zero-initialised in training)."""

    def __init__(self, embedding_channels: int, conditioning_channels: int, block_out_channels: Tuple[int, ...], device=None, dtype=None):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        boc = list(block_out_channels)
        self.conv_in = nn.Conv2d(conditioning_channels, boc[0], kernel_size=3, padding=1, **fk)
        blocks = []
        for i in range(len(boc) - 1):
            blocks.append(nn.Conv2d(boc[i], boc[i], kernel_size=3, padding=1, **fk))
            blocks.append(nn.Conv2d(boc[i], boc[i + 1], kernel_size=3, padding=1, stride=2, **fk))
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Conv2d(boc[-1], embedding_channels, kernel_size=3, padding=1, **fk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(x)


_DOWN = {"CrossAttnDownBlock3D": CrossAttnDownBlock3D, "DownBlock3D": DownBlock3D}


class ControlNetBase(nn.Module):
    """What ControlNetModel and SparseControlNetModel share: conv_in, the time embedding, the UNet's down and
    mid blocks, the 1x1 heads (``controlnet_down_blocks``, ``controlnet_mid_block``) and the residual scaling.
    Subclasses add ``controlnet_cond_embedding`` and a forward that calls :meth:`residuals`."""

    bgr: Final[bool]
    global_pool: Final[bool]
    num_residuals: Final[int]

    def __init__(self, cfg: ControlNetConfig, use_motion: bool, fk: Dict[str, Any]):
        super().__init__()
        self.config = cfg
        ucfg = cfg.unet_config()
        boc = list(cfg.block_out_channels)
        self.bgr = cfg.channel_order == "bgr"
        self.global_pool = cfg.global_pool_conditions
        self.num_residuals = cfg.num_down_residuals

        self.conv_in = nn.Conv2d(cfg.in_channels, boc[0], kernel_size=3, padding=1, **fk)
        self.time_proj = Timesteps(boc[0], cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(boc[0], ucfg.time_embed_dim, **fk)

        down = []
        heads = [nn.Conv2d(boc[0], boc[0], kernel_size=1, **fk)]
        out_ch = boc[0]
        for i, kind in enumerate(cfg.down_block_types):
            in_ch, out_ch = out_ch, boc[i]
            last = i == len(boc) - 1
            down.append(_DOWN[kind](ucfg, in_ch, out_ch, not last, use_motion, fk))
            n = cfg.layers_per_block + (0 if last else 1)
            heads += [nn.Conv2d(out_ch, out_ch, kernel_size=1, **fk) for _ in range(n)]
        self.down_blocks = nn.ModuleList(down)
        self.controlnet_down_blocks = nn.ModuleList(heads)
        self.mid_block = UNetMidBlock3DCrossAttn(ucfg, boc[-1], False, fk)  # no motion module here in SparseCtrl either
        self.controlnet_mid_block = nn.Conv2d(boc[-1], boc[-1], kernel_size=1, **fk)

    def time_emb(self, timestep: torch.Tensor, b: int, device: torch.device) -> torch.Tensor:
        t = timestep.to(device)
        if t.dim() == 0:
            t = t[None]
        t = t.expand(b)
        return self.time_embedding(self.time_proj(t).to(self.conv_in.weight.dtype))

    def residuals(
        self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, f: int, conditioning_scale: float, guess_mode: bool
    ) -> List[torch.Tensor]:
        """The down/mid blocks on ``x`` (conv_in output + conditioning embedding, folded), then the heads and scaling."""
        skips: List[torch.Tensor] = [x]
        plain: MotionArgs = (1.0, None, None)
        for block in self.down_blocks:
            x, res = block(x, emb, context, f, plain)
            skips.extend(res)
        x = self.mid_block(x, emb, context, f, plain)

        outs: List[torch.Tensor] = []
        i = 0
        for head in self.controlnet_down_blocks:
            outs.append(head(skips[i]))
            i += 1
        outs.append(self.controlnet_mid_block(x))
        if guess_mode and not self.global_pool:
            # diffusers: logspace(-1, 0) over the down residuals and the mid one, times the scale
            scales = torch.logspace(-1.0, 0.0, len(outs), device=x.device) * conditioning_scale
            outs = [o * scales[k] for k, o in enumerate(outs)]
        else:
            outs = [o * conditioning_scale for o in outs]
        if self.global_pool:
            outs = [torch.mean(o, dim=(2, 3), keepdim=True) for o in outs]
        return outs


class ControlNetModel(ControlNetBase):
    """See the module docstring for names and the calling convention."""

    def __init__(self, config: Optional[ControlNetConfig] = None, device=None, dtype=None):
        cfg = (config if config is not None else ControlNetConfig()).validate()
        fk = {"device": device, "dtype": dtype}
        super().__init__(cfg, False, fk)
        self.controlnet_cond_embedding = ControlNetConditioningEmbedding(
            cfg.block_out_channels[0], cfg.conditioning_channels, tuple(cfg.conditioning_embedding_out_channels), **fk
        )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_scale: float = 1.0,
        guess_mode: bool = False,
    ) -> List[torch.Tensor]:
        if sample.dim() != 5 or controlnet_cond.dim() != 5:
            raise RuntimeError("controlnet: sample and controlnet_cond must be [B, C, F, H, W]")
        b, c, f, h, w = sample.shape
        if controlnet_cond.shape[0] != b or controlnet_cond.shape[2] != f:
            raise RuntimeError(
                "controlnet: controlnet_cond must have the batch and frames of sample, got "
                + str(controlnet_cond.shape)
                + " for "
                + str(sample.shape)
            )
        dtype = self.conv_in.weight.dtype
        emb = self.time_emb(timestep, b, sample.device)
        cond = fold_frames(controlnet_cond.to(dtype))
        if self.bgr:
            cond = torch.flip(cond, dims=[1])
        x = self.conv_in(fold_frames(sample.to(dtype))) + self.controlnet_cond_embedding(cond)
        return self.residuals(x, emb, encoder_hidden_states.to(dtype), f, conditioning_scale, guess_mode)


def residual_channels(cfg: ControlNetConfig) -> List[int]:
    """Channels of each down residual then the mid residual (what the UNet's skips have)."""
    boc = list(cfg.block_out_channels)
    out = [boc[0]]
    for i, ch in enumerate(boc):
        out += [ch] * (cfg.layers_per_block + (0 if i == len(boc) - 1 else 1))
    return out + [boc[-1]]


def config_dict(cfg: ControlNetConfig) -> Dict[str, Any]:
    """config.json of an export: ours, named by the diffusers class it mirrors."""
    cls = "ControlNetModel" if type(cfg) is ControlNetConfig else "SparseControlNetModel"
    return {"_class_name": cls, **cfg.to_dict()}
