"""AnimateDiff v3 SparseCtrl (diffusers ``SparseControlNetModel``): a ControlNet whose down blocks carry motion
modules, steered by a few keyframes plus a mask saying which frames hold one.

Parameter names are ours = the original AnimateDiff ``v3_sd15_sparsectrl_*.ckpt`` names: ControlNet's
(controlnet.py) with ``down_blocks.i.motion_modules.j.temporal_transformer.*`` (motion_module.py) whose blocks
hold ONE temporal self-attention (``attention_blocks.0``, ``norms.0``; the UNet's hold two); no motion module in
the mid block. ``controlnet_cond_embedding`` is one 3x3 conv on VAE latents + mask for RGB
(``use_simplified_condition_embedding``) or ControlNet's conditioning embedding on pixels + mask (scribble).

``forward(sample [B, 4, F, h, w], timestep [B] | [], encoder_hidden_states [B, T, C], controlnet_cond
[Bc, Cc, F, H, W], conditioning_mask [Bc, 1, F, H, W], conditioning_scale: float, guess_mode: bool)
-> List[Tensor]``: as ControlNetModel's, with Bc = B or 1 (one condition for the whole batch, as diffusers
broadcasts it). As diffusers (and the original with ``set_noisy_sample_input_to_zero``), the noisy sample is
replaced by zeros: only its shape, the timestep, the text and the condition matter.
"""

import dataclasses
from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn as nn

from .configs import NUMERICS, UNet3DConfig
from .controlnet import ControlNetBase, ControlNetConditioningEmbedding, ControlNetConfig
from .resnet import fold_frames


@dataclass
class SparseControlNetConfig(ControlNetConfig):
    """diffusers' SparseControlNetModel config in our names. ``conditioning_channels`` excludes the mask
    (4 latent channels for RGB, 3 for scribble); ``numerics`` as UNet3DConfig's (motion-module GroupNorm)."""

    conditioning_channels: int = 4
    concat_conditioning_mask: bool = True
    use_simplified_condition_embedding: bool = True
    motion_num_attention_heads: int = 8
    motion_max_seq_length: int = 32
    numerics: str = "animatediff"

    def validate(self) -> "SparseControlNetConfig":
        if self.numerics not in NUMERICS:
            raise ValueError(f"numerics must be one of {NUMERICS}, got {self.numerics!r}")
        super().validate()
        return self

    def unet_config(self) -> UNet3DConfig:
        return dataclasses.replace(
            super().unet_config(),
            use_motion_module=True,
            motion_module_version="v3",
            motion_module_mid_block=False,
            motion_num_attention_heads=self.motion_num_attention_heads,
            motion_max_seq_length=self.motion_max_seq_length,
            motion_attention_blocks=1,
            numerics=self.numerics,
        ).validate()

    @property
    def embedding_in_channels(self) -> int:
        return self.conditioning_channels + (1 if self.concat_conditioning_mask else 0)

    # tiny(): ControlNetConfig.tiny() builds this class: RGB unless use_simplified_condition_embedding=False, conditioning_channels=3


class SparseControlNetModel(ControlNetBase):
    """See the module docstring for names and the calling convention."""

    def __init__(self, config: Optional[SparseControlNetConfig] = None, device=None, dtype=None):
        cfg = (config if config is not None else SparseControlNetConfig()).validate()
        fk = {"device": device, "dtype": dtype}
        super().__init__(cfg, True, fk)
        self.concat_mask = cfg.concat_conditioning_mask
        self.latent_condition = cfg.use_simplified_condition_embedding
        boc0 = cfg.block_out_channels[0]
        if cfg.use_simplified_condition_embedding:
            self.controlnet_cond_embedding: nn.Module = nn.Conv2d(cfg.embedding_in_channels, boc0, kernel_size=3, padding=1, **fk)
        else:
            self.controlnet_cond_embedding = ControlNetConditioningEmbedding(
                boc0, cfg.embedding_in_channels, tuple(cfg.conditioning_embedding_out_channels), **fk
            )

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_mask: torch.Tensor,
        conditioning_scale: float = 1.0,
        guess_mode: bool = False,
    ) -> List[torch.Tensor]:
        if sample.dim() != 5 or controlnet_cond.dim() != 5 or conditioning_mask.dim() != 5:
            raise RuntimeError("sparsectrl: sample, controlnet_cond and conditioning_mask must be [B, C, F, H, W]")
        b, c, f, h, w = sample.shape
        bc = controlnet_cond.shape[0]
        if (bc != b and bc != 1) or controlnet_cond.shape[2] != f or conditioning_mask.shape[0] != bc or conditioning_mask.shape[2] != f:
            raise RuntimeError(
                "sparsectrl: controlnet_cond and conditioning_mask must have the frames of sample and its batch (or 1), got "
                + str(controlnet_cond.shape)
                + " and "
                + str(conditioning_mask.shape)
                + " for "
                + str(sample.shape)
            )
        dtype = self.conv_in.weight.dtype
        emb = self.time_emb(timestep, b, sample.device)
        cond = controlnet_cond.to(dtype)
        if self.bgr:
            cond = torch.flip(cond, dims=[1])
        if self.concat_mask:
            cond = torch.cat([cond, conditioning_mask.to(dtype)], dim=1)
        e = self.controlnet_cond_embedding(fold_frames(cond))
        x = self.conv_in(torch.zeros([b * f, c, h, w], dtype=dtype, device=sample.device))
        if e.shape[-2:] != x.shape[-2:]:
            raise RuntimeError(
                "sparsectrl: the condition's embedding is " + str(e.shape[-2:]) + " where the latents are " + str(x.shape[-2:])
                + (" (RGB SparseCtrl takes VAE latents)" if self.latent_condition else " (scribble SparseCtrl takes pixels, 8x the latents)")
            )
        x = (x.view(b, f, x.shape[1], h, w) + e.view(bc, f, e.shape[1], h, w)).reshape(b * f, x.shape[1], h, w)
        return self.residuals(x, emb, encoder_hidden_states.to(dtype), f, conditioning_scale, guess_mode)

