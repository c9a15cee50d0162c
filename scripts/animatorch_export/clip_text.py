"""CLIP text transformer (HF ``CLIPTextModel`` names), causal, quick_gelu, LayerNorm eps 1e-5.

Names::

    text_model.embeddings.token_embedding.weight      [vocab, D]
    text_model.embeddings.position_embedding.weight   [77, D]
    text_model.encoder.layers.N.self_attn.{q_proj,k_proj,v_proj,out_proj}.{weight,bias}
    text_model.encoder.layers.N.layer_norm1 / mlp.fc1 / mlp.fc2 / layer_norm2
    text_model.final_layer_norm

HF's ``text_model.embeddings.position_ids`` buffer is not a weight: we use ``arange``
and keep no such buffer (loaders drop the key).

``forward(input_ids int64 [B, L<=77], clip_skip: int = 0) -> [B, L, D]``
= ``final_layer_norm(hidden_states[-(clip_skip + 1)])``; hidden_states holds the embeddings
plus every layer's output, so clip_skip 0 is ``last_hidden_state`` (diffusers' clip_skip;
A1111 "CLIP skip N" = N - 1).
"""

from typing import Final, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import make_attention_core
from .configs import CLIPTextConfig


class CLIPAttention(nn.Module):
    heads: Final[int]

    def __init__(self, dim: int, heads: int, backend: str, fk, causal: bool = True):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, **fk)
        self.k_proj = nn.Linear(dim, dim, **fk)
        self.v_proj = nn.Linear(dim, dim, **fk)
        self.out_proj = nn.Linear(dim, dim, **fk)
        # causal for the text encoder; the vision encoder (clip_vision.py) attends both ways
        self.core = make_attention_core(backend, causal=causal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        hd = d // self.heads
        q = self.q_proj(x).view(b, l, self.heads, hd).transpose(1, 2)
        k = self.k_proj(x).view(b, l, self.heads, hd).transpose(1, 2)
        v = self.v_proj(x).view(b, l, self.heads, hd).transpose(1, 2)
        out = self.core(q, k, v).transpose(1, 2).reshape(b, l, d)
        return self.out_proj(out)


class CLIPMLP(nn.Module):
    quick_gelu: Final[bool]

    def __init__(self, dim: int, inner: int, act: str, fk):
        super().__init__()
        self.quick_gelu = act == "quick_gelu"
        self.fc1 = nn.Linear(dim, inner, **fk)
        self.fc2 = nn.Linear(inner, dim, **fk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        if self.quick_gelu:
            h = h * torch.sigmoid(1.702 * h)
        else:
            h = F.gelu(h)
        return self.fc2(h)


class CLIPEncoderLayer(nn.Module):
    # cfg: a CLIPTextConfig, or clip_vision's CLIPVisionConfig (same fields) with causal=False
    def __init__(self, cfg: CLIPTextConfig, fk, causal: bool = True):
        super().__init__()
        d = cfg.hidden_size
        self.self_attn = CLIPAttention(d, cfg.num_attention_heads, cfg.attention_backend, fk, causal=causal)
        self.layer_norm1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps, **fk)
        self.mlp = CLIPMLP(d, cfg.intermediate_size, cfg.hidden_act, fk)
        self.layer_norm2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps, **fk)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, cfg: CLIPTextConfig, fk):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(cfg, fk) for _ in range(cfg.num_hidden_layers)])

    def forward(self, x: torch.Tensor, num_layers: int) -> torch.Tensor:
        """Runs the first ``num_layers`` layers."""
        i = 0
        for layer in self.layers:
            if i < num_layers:
                x = layer(x)
            i += 1
        return x


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, cfg: CLIPTextConfig, fk):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_size, **fk)
        self.position_embedding = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size, **fk)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        l = input_ids.shape[1]
        pos = torch.arange(l, dtype=torch.long, device=input_ids.device)
        return self.token_embedding(input_ids) + self.position_embedding(pos)[None]


class CLIPTextTransformer(nn.Module):
    num_layers: Final[int]
    max_length: Final[int]

    def __init__(self, cfg: CLIPTextConfig, fk):
        super().__init__()
        self.num_layers = cfg.num_hidden_layers
        self.max_length = cfg.max_position_embeddings
        self.embeddings = CLIPTextEmbeddings(cfg, fk)
        self.encoder = CLIPEncoder(cfg, fk)
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps, **fk)

    def forward(self, input_ids: torch.Tensor, clip_skip: int = 0) -> torch.Tensor:
        if input_ids.dim() != 2:
            raise RuntimeError("text_encoder: input_ids must be [B, L], got " + str(input_ids.dim()) + " dims")
        if input_ids.shape[1] > self.max_length:
            raise RuntimeError(
                "text_encoder: sequence length " + str(input_ids.shape[1]) + " > " + str(self.max_length)
            )
        if clip_skip < 0 or clip_skip > self.num_layers:
            raise RuntimeError(
                "text_encoder: clip_skip must be in [0, " + str(self.num_layers) + "], got " + str(clip_skip)
            )
        x = self.embeddings(input_ids.to(torch.long))
        x = self.encoder(x, self.num_layers - clip_skip)
        return self.final_layer_norm(x)


class CLIPTextModel(nn.Module):
    """``text_model`` wrapper so names start with ``text_model.`` as in HF."""

    def __init__(self, config: Optional[CLIPTextConfig] = None, device=None, dtype=None):
        super().__init__()
        cfg = (config if config is not None else CLIPTextConfig.sd15()).validate()
        self.config = cfg
        self.text_model = CLIPTextTransformer(cfg, {"device": device, "dtype": dtype})

    def forward(self, input_ids: torch.Tensor, clip_skip: int = 0) -> torch.Tensor:
        return self.text_model(input_ids, clip_skip)
