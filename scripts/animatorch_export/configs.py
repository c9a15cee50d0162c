"""Architecture configurations for the AnimateDiff (SD1.5) models we export.

Three dataclasses, one per component:

* :class:`UNet3DConfig`  - the AnimateDiff UNet (SD1.5 UNet + motion modules)
* :class:`VAEConfig`     - the SD1.5 AutoencoderKL
* :class:`CLIPTextConfig` - the CLIP ViT-L/14 text transformer

Each has ``sd15*()`` presets (the real sizes) and ``tiny*()`` presets (for tests:
random weights, a few hundred kB).  :func:`get_preset` returns all three by name
(``sd15-v1``, ``sd15-v2``, ``sd15-v3``, ``tiny-v1``, ``tiny-v2``, ``tiny-v3``).

Facts behind the numbers: /work/shared/docs/animatediff-facts.md (sections 2-4, 7-9).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

MOTION_MODULE_VERSIONS = ("v1", "v2", "v3")
NUMERICS = ("animatediff", "diffusers")
ATTENTION_BACKENDS = ("auto", "math", "sdpa")

# Per motion-module version: (mid-block motion module, inflated (per-frame) GroupNorm, pe length).
_VERSION_TRAITS = {
    "v1": (False, False, 24),
    "v2": (True, True, 32),
    "v3": (False, True, 32),
}


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class _ConfigBase:
    """to_dict / from_dict shared by the three configs (tuples become lists in dicts)."""

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
        obj = cls(**{k: _tuple(v) for k, v in data.items()})
        obj.validate()  # type: ignore[attr-defined]
        return obj

    def replace(self, **changes: Any):
        obj = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        obj.validate()
        return obj


@dataclass
class UNet3DConfig(_ConfigBase):
    """AnimateDiff UNet3DConditionModel.

    ``attention_head_dim`` keeps the legacy diffusers meaning: it is the NUMBER of
    heads of the spatial transformers (SD1.5: 8), head_dim = channels / heads.

    ``numerics``:
      * ``"animatediff"`` (default): the original AnimateDiff code. Motion-module input
        GroupNorm per frame; resnet / conv_norm_out GroupNorm per frame when
        ``use_inflated_groupnorm`` (v2, v3) and over the whole video otherwise (v1).
      * ``"diffusers"``: diffusers' UNetMotionModel. Motion-module GroupNorm jointly
        over (C/G, F, H, W); resnet / conv_norm_out GroupNorm always per frame.
    """

    sample_size: int = 64  # default latent height = width (512 px / 8)
    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: Tuple[int, ...] = (320, 640, 1280, 1280)
    down_block_types: Tuple[str, ...] = (
        "CrossAttnDownBlock3D",
        "CrossAttnDownBlock3D",
        "CrossAttnDownBlock3D",
        "DownBlock3D",
    )
    up_block_types: Tuple[str, ...] = (
        "UpBlock3D",
        "CrossAttnUpBlock3D",
        "CrossAttnUpBlock3D",
        "CrossAttnUpBlock3D",
    )
    layers_per_block: int = 2
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    cross_attention_dim: int = 768
    attention_head_dim: int = 8  # legacy name: number of heads
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    # motion modules
    use_motion_module: bool = True
    motion_module_version: str = "v2"
    motion_module_resolutions: Tuple[int, ...] = (1, 2, 4, 8)
    motion_module_mid_block: bool = True
    use_inflated_groupnorm: bool = True
    motion_num_attention_heads: int = 8
    motion_num_transformer_blocks: int = 1
    motion_max_seq_length: int = 32
    motion_attention_blocks: int = 2  # temporal self-attentions per block: 2 in motion modules, 1 in SparseCtrl
    # runtime choices (not part of the checkpoint)
    numerics: str = "animatediff"
    attention_backend: str = "auto"

    def validate(self) -> "UNet3DConfig":
        if self.motion_module_version not in MOTION_MODULE_VERSIONS:
            raise ValueError(
                f"motion_module_version must be one of {MOTION_MODULE_VERSIONS}, got {self.motion_module_version!r}"
            )
        if self.numerics not in NUMERICS:
            raise ValueError(f"numerics must be one of {NUMERICS}, got {self.numerics!r}")
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(
                f"attention_backend must be one of {ATTENTION_BACKENDS}, got {self.attention_backend!r}"
            )
        n = len(self.block_out_channels)
        if len(self.down_block_types) != n or len(self.up_block_types) != n:
            raise ValueError("down_block_types / up_block_types must have one entry per block_out_channels")
        for c in self.block_out_channels:
            if c % self.norm_num_groups:
                raise ValueError(f"channels {c} not divisible by norm_num_groups {self.norm_num_groups}")
            if c % self.attention_head_dim:
                raise ValueError(f"channels {c} not divisible by attention_head_dim (heads) {self.attention_head_dim}")
            if self.use_motion_module and c % self.motion_num_attention_heads:
                raise ValueError(f"channels {c} not divisible by motion heads {self.motion_num_attention_heads}")
        if self.motion_max_seq_length < 1:
            raise ValueError("motion_max_seq_length must be >= 1")
        if self.motion_attention_blocks < 1:
            raise ValueError("motion_attention_blocks must be >= 1")
        return self

    @property
    def time_embed_dim(self) -> int:
        return self.block_out_channels[0] * 4

    # ---- presets -------------------------------------------------------------
    @classmethod
    def sd15(cls, version: str = "v2", numerics: str = "animatediff", **overrides: Any) -> "UNet3DConfig":
        if version not in _VERSION_TRAITS:
            raise ValueError(f"unknown motion module version {version!r} (expected one of {MOTION_MODULE_VERSIONS})")
        mid, inflated, max_len = _VERSION_TRAITS[version]
        cfg = cls(
            motion_module_version=version,
            motion_module_mid_block=mid,
            use_inflated_groupnorm=inflated,
            motion_max_seq_length=max_len,
            numerics=numerics,
        )
        return cfg.replace(**overrides) if overrides else cfg.validate()

    @classmethod
    def sd15_v1(cls, **kw: Any) -> "UNet3DConfig":
        return cls.sd15("v1", **kw)

    @classmethod
    def sd15_v2(cls, **kw: Any) -> "UNet3DConfig":
        return cls.sd15("v2", **kw)

    @classmethod
    def sd15_v3(cls, **kw: Any) -> "UNet3DConfig":
        return cls.sd15("v3", **kw)

    @classmethod
    def tiny(cls, version: str = "v2", numerics: str = "animatediff", **overrides: Any) -> "UNet3DConfig":
        """Two levels (32, 64), 1 layer per block, 8 spatial heads of 4, text width 32."""
        base = cls.sd15(version, numerics)
        cfg = dataclasses.replace(
            base,
            sample_size=8,
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
            up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
            layers_per_block=1,
            cross_attention_dim=32,
        )
        return cfg.replace(**overrides) if overrides else cfg.validate()

    @classmethod
    def tiny_v1(cls, **kw: Any) -> "UNet3DConfig":
        return cls.tiny("v1", **kw)

    @classmethod
    def tiny_v2(cls, **kw: Any) -> "UNet3DConfig":
        return cls.tiny("v2", **kw)

    @classmethod
    def tiny_v3(cls, **kw: Any) -> "UNet3DConfig":
        return cls.tiny("v3", **kw)


@dataclass
class VAEConfig(_ConfigBase):
    """diffusers AutoencoderKL (SD1.5: 4 levels, 128..512 channels, 8x spatial factor)."""

    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 4
    block_out_channels: Tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    norm_eps: float = 1e-6
    sample_size: int = 512
    scaling_factor: float = 0.18215
    attention_backend: str = "auto"

    def validate(self) -> "VAEConfig":
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be one of {ATTENTION_BACKENDS}")
        for c in self.block_out_channels:
            if c % self.norm_num_groups:
                raise ValueError(f"channels {c} not divisible by norm_num_groups {self.norm_num_groups}")
        return self

    @property
    def downscale_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @classmethod
    def sd15(cls, **overrides: Any) -> "VAEConfig":
        return cls().replace(**overrides) if overrides else cls().validate()

    @classmethod
    def tiny(cls, **overrides: Any) -> "VAEConfig":
        """Keeps 4 levels (so the 8x factor of the real VAE) with 32/64 channels, 1 layer."""
        cfg = cls(block_out_channels=(32, 32, 64, 64), layers_per_block=1, sample_size=64)
        return cfg.replace(**overrides) if overrides else cfg.validate()


@dataclass
class CLIPTextConfig(_ConfigBase):
    """HF CLIPTextModel (SD1.5: openai/clip-vit-large-patch14 text tower)."""

    vocab_size: int = 49408
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    max_position_embeddings: int = 77
    layer_norm_eps: float = 1e-5
    hidden_act: str = "quick_gelu"
    attention_backend: str = "auto"

    def validate(self) -> "CLIPTextConfig":
        if self.hidden_act not in ("quick_gelu", "gelu"):
            raise ValueError(f"hidden_act must be quick_gelu or gelu, got {self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.attention_backend not in ATTENTION_BACKENDS:
            raise ValueError(f"attention_backend must be one of {ATTENTION_BACKENDS}")
        return self

    @classmethod
    def sd15(cls, **overrides: Any) -> "CLIPTextConfig":
        return cls().replace(**overrides) if overrides else cls().validate()

    @classmethod
    def tiny(cls, **overrides: Any) -> "CLIPTextConfig":
        cfg = cls(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        return cfg.replace(**overrides) if overrides else cfg.validate()


@dataclass
class ModelPreset:
    name: str
    unet: UNet3DConfig
    vae: VAEConfig
    text_encoder: CLIPTextConfig = field(default_factory=CLIPTextConfig)


PRESET_NAMES = ("sd15-v1", "sd15-v2", "sd15-v3", "tiny-v1", "tiny-v2", "tiny-v3")


def get_preset(name: str, numerics: str = "animatediff", attention_backend: str = "auto") -> ModelPreset:
    """``sd15-v1|v2|v3`` (full size) or ``tiny-v1|v2|v3`` (test size)."""
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESET_NAMES)}")
    size, version = name.split("-")
    if size == "sd15":
        unet = UNet3DConfig.sd15(version, numerics, attention_backend=attention_backend)
        vae = VAEConfig.sd15(attention_backend=attention_backend)
        text = CLIPTextConfig.sd15(attention_backend=attention_backend)
    else:
        unet = UNet3DConfig.tiny(version, numerics, attention_backend=attention_backend)
        vae = VAEConfig.tiny(attention_backend=attention_backend)
        text = CLIPTextConfig.tiny(attention_backend=attention_backend)
    return ModelPreset(name=name, unet=unet, vae=vae, text_encoder=text)


def sd15(version: str = "v2", numerics: str = "animatediff") -> ModelPreset:
    return get_preset(f"sd15-{version}", numerics)


def sd15_v1(numerics: str = "animatediff") -> ModelPreset:
    return sd15("v1", numerics)


def sd15_v2(numerics: str = "animatediff") -> ModelPreset:
    return sd15("v2", numerics)


def sd15_v3(numerics: str = "animatediff") -> ModelPreset:
    return sd15("v3", numerics)


def tiny(version: str = "v2", numerics: str = "animatediff") -> ModelPreset:
    return get_preset(f"tiny-{version}", numerics)


__all__ = [
    "UNet3DConfig",
    "VAEConfig",
    "CLIPTextConfig",
    "ModelPreset",
    "PRESET_NAMES",
    "get_preset",
    "sd15",
    "sd15_v1",
    "sd15_v2",
    "sd15_v3",
    "tiny",
    "MOTION_MODULE_VERSIONS",
    "NUMERICS",
    "ATTENTION_BACKENDS",
]
