"""AnimateDiff UNet3DConditionModel (SD1.5 UNet inflated to video + motion modules).

Parameter names are the ORIGINAL AnimateDiff names, which for the SD parts equal
diffusers' UNet2DConditionModel names::

    conv_in, time_embedding.linear_{1,2}, conv_norm_out, conv_out
    down_blocks.i.resnets.j.{norm1,conv1,time_emb_proj,norm2,conv2,conv_shortcut}
    down_blocks.i.attentions.j.{norm,proj_in,proj_out,transformer_blocks.0.{norm1,attn1,norm2,attn2,norm3,ff}}
    down_blocks.i.downsamplers.0.conv
    mid_block.{resnets.{0,1},attentions.0}
    up_blocks.i.{resnets.j,attentions.j,upsamplers.0.conv}
    {down_blocks.i|up_blocks.i|mid_block}.motion_modules.j.temporal_transformer.*   (see motion_module.py)

``forward(sample [B, 4, F, h, w], timestep [B] | [] (float or int), encoder_hidden_states [B, T, C_text] or
[B*F, T, C_text] (per frame), down_block_additional_residuals = None, mid_block_additional_residual = None,
motion_scale = 1.0, free_noise_windows = None, free_noise_weights = None) -> eps [B, 4, F, h, w]`` in the dtype of
``sample``; computation runs in the weights' dtype. The optional ControlNet residuals are folded
``[(B*F), C, h', w']`` (controlnet.py), one per skip connection, then one for the mid block; the motion inputs
(motion_module.MotionArgs) reach every motion module. model.yaml lists the optional inputs under ``unet.inputs``.

Internally the video is folded once to ``[(B*F), C, h, w]`` (frames fastest).
"""

from typing import Final, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .configs import UNet3DConfig
from .motion_module import MotionArgs, VanillaTemporalModule
from .resnet import FrameGroupNorm, InflatedConv3d, fold_frames, unfold_frames
from .unet_blocks import _DOWN_BLOCKS, _UP_BLOCKS, TimestepEmbedding, Timesteps, UNetMidBlock3DCrossAttn, _resnet_joint_gn


class UNet3DConditionModel(nn.Module):
    """AnimateDiff UNet. See the module docstring for names and the calling convention."""

    max_frames: Final[int]
    in_channels: Final[int]
    cross_attention_dim: Final[int]
    # mapped weights (mapped_weights.py): release each segment's pages after it runs; set before scripting
    release_weights: Final[bool]

    def __init__(self, config: Optional[UNet3DConfig] = None, device=None, dtype=None):
        super().__init__()
        cfg = (config if config is not None else UNet3DConfig.sd15()).validate()
        self.config = cfg
        fk = {"device": device, "dtype": dtype}
        boc = list(cfg.block_out_channels)
        nblocks = len(boc)
        self.in_channels = cfg.in_channels
        self.cross_attention_dim = cfg.cross_attention_dim
        self.max_frames = cfg.motion_max_seq_length if cfg.use_motion_module else 0
        self.release_weights = False

        self.conv_in = InflatedConv3d(cfg.in_channels, boc[0], kernel_size=3, padding=1, **fk)
        self.time_proj = Timesteps(boc[0], cfg.flip_sin_to_cos, cfg.freq_shift)
        self.time_embedding = TimestepEmbedding(boc[0], cfg.time_embed_dim, **fk)

        resolutions = set(cfg.motion_module_resolutions)
        down = []
        out_ch = boc[0]
        for i, kind in enumerate(cfg.down_block_types):
            in_ch, out_ch = out_ch, boc[i]
            use_motion = cfg.use_motion_module and (2**i) in resolutions
            down.append(_DOWN_BLOCKS[kind](cfg, in_ch, out_ch, i < nblocks - 1, use_motion, fk))
        self.down_blocks = nn.ModuleList(down)

        self.mid_block = UNetMidBlock3DCrossAttn(cfg, boc[-1], cfg.use_motion_module and cfg.motion_module_mid_block, fk)

        rev = list(reversed(boc))
        up = []
        out_ch = rev[0]
        for i, kind in enumerate(cfg.up_block_types):
            prev_out, out_ch = out_ch, rev[i]
            in_ch = rev[min(i + 1, nblocks - 1)]
            use_motion = cfg.use_motion_module and (2 ** (nblocks - 1 - i)) in resolutions
            up.append(_UP_BLOCKS[kind](cfg, in_ch, out_ch, prev_out, i < nblocks - 1, use_motion, fk))
        self.up_blocks = nn.ModuleList(up)

        self.conv_norm_out = FrameGroupNorm(cfg.norm_num_groups, boc[0], eps=cfg.norm_eps, joint=_resnet_joint_gn(cfg), **fk)
        self.conv_out = InflatedConv3d(boc[0], cfg.out_channels, kernel_size=3, padding=1, **fk)

    def _release(self, x: torch.Tensor, segment: int) -> torch.Tensor:
        """With mapped weights, the addon drops the pages of weights segment ``segment`` (it has run); x unchanged."""
        if self.release_weights:  # a constant: without mapped weights the op is not even compiled in
            return torch.ops.animatorch.release_weights(x, segment)
        return x

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        down_block_additional_residuals: Optional[List[torch.Tensor]] = None,
        mid_block_additional_residual: Optional[torch.Tensor] = None,
        motion_scale: float = 1.0,
        free_noise_windows: Optional[List[int]] = None,
        free_noise_weights: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        if sample.dim() != 5:
            raise RuntimeError("unet: sample must be [B, C, F, H, W], got " + str(sample.dim()) + " dims")
        b, c, f, h, w = sample.shape
        if self.max_frames > 0 and f > self.max_frames and free_noise_windows is None:
            raise RuntimeError(
                "unet: "
                + str(f)
                + " frames exceed the motion module's maximum of "
                + str(self.max_frames)
                + " (its positional encoding length); use context windows of at most "
                + str(self.max_frames)
                + " frames"
            )
        if encoder_hidden_states.dim() != 3 or (encoder_hidden_states.shape[0] != b and encoder_hidden_states.shape[0] != b * f):
            raise RuntimeError(
                "unet: encoder_hidden_states must be [B, T, C] with B = " + str(b) + " (one row per video) or [B*F, T, C] (one per frame)"
            )
        out_dtype = sample.dtype
        dtype = self.conv_in.weight.dtype

        t = timestep.to(sample.device)
        if t.dim() == 0:
            t = t[None]
        t = t.expand(b)
        emb = self.time_embedding(self.time_proj(t).to(dtype))
        context = encoder_hidden_states.to(dtype)

        margs: MotionArgs = (motion_scale, free_noise_windows, free_noise_weights)
        x = self.conv_in(fold_frames(sample.to(dtype)))
        segment = 0  # mapped_weights.unet_segments order
        x = self._release(x, segment)
        skips: List[torch.Tensor] = [x]
        for block in self.down_blocks:
            x, res = block(x, emb, context, f, margs)
            segment += 1
            x = self._release(x, segment)
            skips.extend(res)

        if down_block_additional_residuals is not None:  # ControlNet: added to every skip (diffusers)
            if len(down_block_additional_residuals) != len(skips):
                raise RuntimeError("unet: expected " + str(len(skips)) + " down block residuals, got " + str(len(down_block_additional_residuals)))
            skips = [s + r.to(dtype) for s, r in zip(skips, down_block_additional_residuals)]

        x = self.mid_block(x, emb, context, f, margs)
        segment += 1
        x = self._release(x, segment)
        if mid_block_additional_residual is not None:
            x = x + mid_block_additional_residual.to(dtype)

        n_up = len(self.up_blocks)
        i = 0
        for block in self.up_blocks:
            n = block.num_layers
            res = skips[len(skips) - n :]
            skips = skips[: len(skips) - n]
            size: Optional[List[int]] = None
            if i < n_up - 1 and len(skips) > 0:
                size = [skips[-1].shape[2], skips[-1].shape[3]]
            x = block(x, res, emb, context, f, size, margs)
            segment += 1
            x = self._release(x, segment)
            i += 1

        x = self.conv_out(F.silu(self.conv_norm_out(x, f)))
        x = self._release(x, segment + 1)
        return unfold_frames(x, f).to(out_dtype).contiguous()


def count_motion_modules(model: nn.Module) -> int:
    return sum(1 for m in model.modules() if isinstance(m, VanillaTemporalModule))


def motion_module_parameters(model: nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if ".motion_modules." in n)
