"""Architecture configurations of Stable Video Diffusion (SVD / SVD-XT), diffusers' key names.

* :class:`SVDUNetConfig`      - diffusers ``UNetSpatioTemporalConditionModel``
* :class:`TemporalVAEConfig`  - diffusers ``AutoencoderKLTemporalDecoder``
* :class:`CLIPVisionConfig`   - transformers ``CLIPVisionModelWithProjection`` (SVD: ViT-H/14)

``svd()`` presets are the released sizes (stabilityai/stable-video-diffusion-img2vid{,-xt}: the
same architecture, num_frames 14 or 25); ``tiny()`` presets are for tests. ``from_json`` reads a
diffusers / transformers ``config.json``, ignoring bookkeeping keys (``_class_name`` ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from .configs import ATTENTION_BACKENDS, _ConfigBase, _tuple


def _from_json(cls, data: Dict[str, Any], renames: Dict[str, str], ignore: Tuple[str, ...] = ()):
    names = {f.name for f in dataclasses.fields(cls)}
    kept: Dict[str, Any] = {}
    for k, v in data.items():
        k = renames.get(k, k)
        if k in names:
            kept[k] = _tuple(v)
    obj = cls(**kept)
    return obj.validate()


@dataclass
class SVDUNetConfig(_ConfigBase):
    in_channels: int = 8
    out_channels: int = 4
    down_block_types: Tuple[str, ...] = (
        "CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal",
    )
    up_block_types: Tuple[str, ...] = (
        "UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
    )
    block_out_channels: Tuple[int, ...] = (320, 640, 1280, 1280)
    addition_time_embed_dim: int = 256
    projection_class_embeddings_input_dim: int = 768
    layers_per_block: int = 2
    cross_attention_dim: int = 1024
    transformer_layers_per_block: int = 1
    num_attention_heads: Tuple[int, ...] = (5, 10, 20, 20)
    num_frames: int = 25
    sample_size: int = 96
    attention_backend: str = "auto"

    def validate(self) -> "SVDUNetConfig":
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n or len(self.num_attention_heads) != n:
            raise ValueError("SVDUNetConfig: down/up block types, block_out_channels and num_attention_heads must have one entry per level")
        for c, h in zip(self.block_out_channels, self.num_attention_heads):
            if c % h or c % 32:
                raise ValueError(f"SVDUNetConfig: channels {c} must divide by 32 and by its heads {h}")
        if self.projection_class_embeddings_input_dim != 3 * self.addition_time_embed_dim:
            raise ValueError("SVDUNetConfig: projection_class_embeddings_input_dim must be 3 x addition_time_embed_dim (fps, motion bucket, noise aug)")
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be one of {ATTENTION_BACKENDS}")
        return self

    @classmethod
    def svd(cls, **overrides: Any) -> "SVDUNetConfig":
        return cls(**overrides).validate()

    @classmethod
    def tiny(cls, **overrides: Any) -> "SVDUNetConfig":
        base: Dict[str, Any] = dict(
            block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), num_attention_heads=(2, 4),
            addition_time_embed_dim=32, projection_class_embeddings_input_dim=96, cross_attention_dim=32,
            layers_per_block=1, num_frames=4, sample_size=8,
        )
        base.update(overrides)
        return cls(**base).validate()

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "SVDUNetConfig":
        d = dict(data)
        for key in ("num_attention_heads",):
            if isinstance(d.get(key), int):
                d[key] = [d[key]] * len(d.get("block_out_channels", cls.block_out_channels))
        for key in ("layers_per_block", "transformer_layers_per_block", "cross_attention_dim"):
            v = d.get(key)
            if isinstance(v, (list, tuple)):
                if len(set(v)) != 1:
                    raise ValueError(f"SVD UNet config: per-level {key} {v} is not supported (one value for all levels)")
                d[key] = v[0]
        if d.get("sample_size") is None:
            d.pop("sample_size", None)
        return _from_json(cls, d, {})


@dataclass
class TemporalVAEConfig(_ConfigBase):
    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 4
    block_out_channels: Tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    norm_eps: float = 1e-6
    sample_size: int = 768
    scaling_factor: float = 0.18215
    attention_backend: str = "auto"

    def validate(self) -> "TemporalVAEConfig":
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be one of {ATTENTION_BACKENDS}")
        return self

    @classmethod
    def svd(cls, **overrides: Any) -> "TemporalVAEConfig":
        return cls(**overrides).validate()

    @classmethod
    def tiny(cls, **overrides: Any) -> "TemporalVAEConfig":
        base: Dict[str, Any] = dict(block_out_channels=(32, 32, 64, 64), layers_per_block=2, sample_size=64)
        base.update(overrides)
        return cls(**base).validate()

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "TemporalVAEConfig":
        types = data.get("down_block_types")
        if types is not None and any(t != "DownEncoderBlock2D" for t in types):
            raise ValueError(f"SVD VAE config: down_block_types {types} (only DownEncoderBlock2D is supported)")
        return _from_json(cls, data, {})

    def to_vae_config(self):
        """The encoder half is SD's: our VAEConfig with the same sizes."""
        from .configs import VAEConfig

        return VAEConfig(
            in_channels=self.in_channels, out_channels=self.out_channels, latent_channels=self.latent_channels,
            block_out_channels=self.block_out_channels, layers_per_block=self.layers_per_block,
            norm_num_groups=self.norm_num_groups, norm_eps=self.norm_eps, sample_size=self.sample_size,
            scaling_factor=self.scaling_factor, attention_backend=self.attention_backend,
        ).validate()


@dataclass
class CLIPVisionConfig(_ConfigBase):
    hidden_size: int = 1280
    intermediate_size: int = 5120
    num_hidden_layers: int = 32
    num_attention_heads: int = 16
    num_channels: int = 3
    image_size: int = 224
    patch_size: int = 14
    projection_dim: int = 1024
    layer_norm_eps: float = 1e-5
    hidden_act: str = "gelu"
    attention_backend: str = "auto"

    def validate(self) -> "CLIPVisionConfig":
        if self.hidden_act not in ("quick_gelu", "gelu"):
            raise ValueError(f"hidden_act must be quick_gelu or gelu, got {self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.image_size % self.patch_size:
            raise ValueError("image_size must be divisible by patch_size")
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be one of {ATTENTION_BACKENDS}")
        return self

    @property
    def num_positions(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1

    @classmethod
    def svd(cls, **overrides: Any) -> "CLIPVisionConfig":
        return cls(**overrides).validate()

    @classmethod
    def tiny(cls, **overrides: Any) -> "CLIPVisionConfig":
        base: Dict[str, Any] = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    image_size=224, patch_size=32, projection_dim=32)
        base.update(overrides)
        return cls(**base).validate()

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "CLIPVisionConfig":
        d = data.get("vision_config", data)  # a full CLIPConfig nests it
        d = dict(d)
        if "projection_dim" not in d and "projection_dim" in data:
            d["projection_dim"] = data["projection_dim"]
        return _from_json(cls, d, {})
