"""CLIP vision transformer with projection (HF ``CLIPVisionModelWithProjection`` names): SVD's image encoder.

Names::

    vision_model.embeddings.{class_embedding [D], patch_embedding.weight [D,3,P,P] (no bias),
                             position_embedding.weight [(S/P)^2 + 1, D]}
    vision_model.pre_layrnorm                         (sic, as in HF)
    vision_model.encoder.layers.N.{self_attn.{q_proj,k_proj,v_proj,out_proj}, layer_norm1, mlp.{fc1,fc2}, layer_norm2}
    vision_model.post_layernorm
    visual_projection.weight                          [projection_dim, D] (no bias)

``forward(pixel_values [N, 3, S, S] (CLIP-normalised)) -> image_embeds [N, projection_dim]``
= ``visual_projection(post_layernorm(last_hidden_state[:, 0]))``. Attention is bidirectional.
HF's ``position_ids`` buffer is not a weight (loaders drop it).
"""

from typing import Final, Optional

import torch
import torch.nn as nn

from .clip_text import CLIPEncoderLayer
from .svd_configs import CLIPVisionConfig


class CLIPVisionEncoder(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig, fk):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(cfg, fk, causal=False) for _ in range(cfg.num_hidden_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class CLIPVisionEmbeddings(nn.Module):
    patch_size: Final[int]
    image_size: Final[int]

    def __init__(self, cfg: CLIPVisionConfig, fk):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.image_size = cfg.image_size
        self.class_embedding = nn.Parameter(torch.zeros(cfg.hidden_size, **fk))
        self.patch_embedding = nn.Conv2d(cfg.num_channels, cfg.hidden_size, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False, **fk)
        self.position_embedding = nn.Embedding(cfg.num_positions, cfg.hidden_size, **fk)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.dim() != 4 or pixel_values.shape[2] != self.image_size or pixel_values.shape[3] != self.image_size:
            raise RuntimeError(
                "image_encoder: pixel_values must be [N, 3, " + str(self.image_size) + ", " + str(self.image_size)
                + "] (resized and CLIP-normalised), got " + str(pixel_values.shape)
            )
        n = pixel_values.shape[0]
        patches = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(n, 1, -1)
        x = torch.cat([cls, patches], dim=1)
        pos = torch.arange(x.shape[1], dtype=torch.long, device=x.device)
        return x + self.position_embedding(pos)[None]


class CLIPVisionTransformer(nn.Module):
    def __init__(self, cfg: CLIPVisionConfig, fk):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(cfg, fk)
        self.pre_layrnorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps, **fk)
        self.encoder = CLIPVisionEncoder(cfg, fk)
        self.post_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps, **fk)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.encoder(self.pre_layrnorm(self.embeddings(pixel_values)))
        return self.post_layernorm(x[:, 0])


class CLIPVisionModelWithProjection(nn.Module):
    def __init__(self, config: Optional[CLIPVisionConfig] = None, device=None, dtype=None):
        super().__init__()
        cfg = (config if config is not None else CLIPVisionConfig.svd()).validate()
        self.config = cfg
        fk = {"device": device, "dtype": dtype}
        self.vision_model = CLIPVisionTransformer(cfg, fk)
        self.visual_projection = nn.Linear(cfg.hidden_size, cfg.projection_dim, bias=False, **fk)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out_dtype = pixel_values.dtype
        return self.visual_projection(self.vision_model(pixel_values)).to(out_dtype)
