"""diffusers folders -> our state dicts and configs.

Supported layouts:

* a pipeline folder (``model_index.json`` optional) with ``unet/``, ``vae/``, ``text_encoder/``;
  each holds ``config.json`` and ``diffusion_pytorch_model[.fp16].safetensors|.bin`` (UNet, VAE) or
  ``model[.fp16].safetensors`` / ``pytorch_model[.fp16].bin`` (text encoder), or a sharded
  ``*.index.json`` with its shards. ``unet/`` may be a UNet2DConditionModel or a UNetMotionModel
  (its motion modules are returned separately); an AnimateDiffPipeline folder's
  ``motion_adapter/`` is picked up too.
* a MotionAdapter folder (``config.json`` + weights), or a bare MotionAdapter weight file.

Name changes (everything else is already our naming):

* VAE: old attention names ``query/key/value/proj_attn`` -> ``to_q/to_k/to_v/to_out.0``, and 1x1
  conv attention weights [C,C,1,1] -> [C,C].
* CLIP: ``text_model.`` prefix added when missing (transformers >= 5.6 saves it flat);
  ``text_model.embeddings.position_ids`` dropped.
* motion modules: ``X.motion_modules.j.{...}`` -> ``X.motion_modules.j.temporal_transformer.{...}``
  with ``attn1/attn2 -> attention_blocks.0/1``, ``norm1/norm2 -> norms.0/1``, ``norm3 -> ff_norm``
  inside ``transformer_blocks``; ``pos_embed.pe`` dropped (its length is reported).
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from .convert_ldm import position_ids_warning
from .weights import WeightsError, format_keys, load_state_dict

__all__ = [
    "UNET_WEIGHT_NAMES",
    "TEXT_WEIGHT_NAMES",
    "read_config",
    "find_weight_files",
    "load_component",
    "is_diffusers_pipeline",
    "is_motion_adapter_folder",
    "vae_diffusers_to_ours",
    "clip_diffusers_to_ours",
    "split_unet_motion",
    "motion_diffusers_to_ours",
    "motion_ours_to_diffusers",
    "unet_config_from_diffusers",
    "vae_config_from_diffusers",
    "text_config_from_diffusers",
    "load_diffusers_pipeline",
    "load_motion_adapter",
]

UNET_WEIGHT_NAMES = ("diffusion_pytorch_model",)
TEXT_WEIGHT_NAMES = ("model", "pytorch_model")
_VARIANTS = ("", ".fp16", ".bf16", ".fp32")


def read_config(folder: str) -> Dict:
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise WeightsError(f"{folder}: no config.json (expected a diffusers model folder)")
    try:
        with open(path, "r", encoding="utf-8") as f:
            cfg = json.load(f)
    except ValueError as e:
        raise WeightsError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise WeightsError(f"{path}: expected a JSON object")
    return cfg


def find_weight_files(folder: str, stems=UNET_WEIGHT_NAMES + TEXT_WEIGHT_NAMES) -> List[str]:
    """Weight file(s) of a diffusers/transformers model folder: safetensors preferred over .bin,
    the plain file over variants (.fp16 ...); a sharded index yields all of its shards."""
    tried = []
    for variant in _VARIANTS:
        for ext in (".safetensors", ".bin"):
            for stem in stems:
                name = f"{stem}{variant}{ext}"
                tried.append(name)
                p = os.path.join(folder, name)
                if os.path.isfile(p):
                    return [p]
                idx = p + ".index.json"
                if os.path.isfile(idx):
                    try:
                        with open(idx, "r", encoding="utf-8") as f:
                            weight_map = json.load(f)["weight_map"]
                    except (ValueError, KeyError, TypeError) as e:
                        raise WeightsError(f"{idx}: not a valid shard index ({e})") from None
                    shards = sorted(set(weight_map.values()))
                    paths = [os.path.join(folder, s) for s in shards]
                    absent = [p for p in paths if not os.path.isfile(p)]
                    if absent:
                        raise WeightsError(f"{idx}: shard files missing: {', '.join(absent)}")
                    return paths
    raise WeightsError(f"{folder}: no weight file found (looked for {', '.join(tried[:8])}, ...)")


def load_component(folder: str, stems=UNET_WEIGHT_NAMES + TEXT_WEIGHT_NAMES) -> Tuple[Dict, "OrderedDict[str, torch.Tensor]"]:
    cfg = read_config(folder)
    sd: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for p in find_weight_files(folder, stems):
        part = load_state_dict(p)
        dup = set(part) & set(sd)
        if dup:
            raise WeightsError(f"{p}: keys also present in another shard ({format_keys(dup)})")
        sd.update(part)
    return cfg, sd


# ---------------------------------------------------------------------------------------------
# renames

_VAE_OLD_ATTN = [(".query.", ".to_q."), (".key.", ".to_k."), (".value.", ".to_v."), (".proj_attn.", ".to_out.0.")]


def vae_diffusers_to_ours(sd: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in sd.items():
        nk = k
        if ".attentions." in k:
            for old, new in _VAE_OLD_ATTN:
                nk = nk.replace(old, new)
            if re.search(r"\.(to_q|to_k|to_v|to_out\.0)\.weight$", nk) and v.dim() == 4:
                v = v.reshape(v.shape[0], v.shape[1])
        out[nk] = v
    return out


def clip_diffusers_to_ours(sd: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in sd.items():
        nk = k if k.startswith("text_model.") or k.startswith("text_projection.") else "text_model." + k
        if nk == "text_model.embeddings.position_ids":
            continue
        out[nk] = v
    return out


_MOTION_KEY = re.compile(r"^((?:down_blocks|up_blocks)\.\d+|mid_block)\.motion_modules\.(\d+)\.(.+)$")
_DIFF_TO_OURS_BLOCK = [("attn1.", "attention_blocks.0."), ("attn2.", "attention_blocks.1."),
                       ("norm1.", "norms.0."), ("norm2.", "norms.1."), ("norm3.", "ff_norm."), ("ff.", "ff.")]


def split_unet_motion(sd: Mapping[str, torch.Tensor]):
    """(spatial keys, motion-module keys) of a UNetMotionModel-style state dict."""
    spatial: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    motion: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in sd.items():
        (motion if ".motion_modules." in k else spatial)[k] = v
    return spatial, motion


def motion_diffusers_to_ours(
    sd: Mapping[str, torch.Tensor], what: str = "motion adapter"
) -> Tuple["OrderedDict[str, torch.Tensor]", Dict[str, int]]:
    """MotionAdapter names -> AnimateDiff names. Returns (state dict, {module prefix: pe length})."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    pe_lengths: Dict[str, int] = {}
    unknown = []
    for k, v in sd.items():
        m = _MOTION_KEY.match(k)
        if not m:
            unknown.append(k)
            continue
        block, j, rest = m.groups()
        prefix = f"{block}.motion_modules.{j}."
        if rest.startswith("temporal_transformer."):  # already original naming
            unknown.append(k)
            continue
        if rest.startswith(("norm.", "proj_in.", "proj_out.")):
            out[prefix + "temporal_transformer." + rest] = v
            continue
        mb = re.match(r"^transformer_blocks\.(\d+)\.(.+)$", rest)
        if not mb:
            unknown.append(k)
            continue
        t, leaf = mb.groups()
        if leaf == "pos_embed.pe":
            pe_lengths[prefix] = int(v.shape[1]) if v.dim() == 3 else int(v.shape[0])
            continue
        for old, new in _DIFF_TO_OURS_BLOCK:
            if leaf.startswith(old):
                out[f"{prefix}temporal_transformer.transformer_blocks.{t}.{new}{leaf[len(old):]}"] = v
                break
        else:
            unknown.append(k)
    if unknown:
        raise WeightsError(f"{what}: keys that are not diffusers motion-module weights ({format_keys(unknown)})")
    return out, pe_lengths


def motion_ours_to_diffusers(
    sd: Mapping[str, torch.Tensor], pe: Optional[Mapping[str, torch.Tensor]] = None
) -> "OrderedDict[str, torch.Tensor]":
    """Inverse of :func:`motion_diffusers_to_ours`; ``pe`` maps a module prefix
    (``down_blocks.0.motion_modules.0.``) to its ``pos_embed.pe`` tensor."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in sd.items():
        m = _MOTION_KEY.match(k)
        if not m or not m.group(3).startswith("temporal_transformer."):
            raise ValueError(f"not an AnimateDiff motion-module key: {k}")
        block, j, rest = m.groups()
        rest = rest[len("temporal_transformer."):]
        mb = re.match(r"^transformer_blocks\.(\d+)\.(.+)$", rest)
        if mb:
            t, leaf = mb.groups()
            for old, new in _DIFF_TO_OURS_BLOCK:
                if leaf.startswith(new):
                    leaf = old + leaf[len(new):]
                    break
            rest = f"transformer_blocks.{t}.{leaf}"
        out[f"{block}.motion_modules.{j}.{rest}"] = v
    for prefix, t in (pe or {}).items():
        out[prefix + "transformer_blocks.0.pos_embed.pe"] = t
    return out


# ---------------------------------------------------------------------------------------------
# configs

_BLOCK_TYPES = {
    "CrossAttnDownBlock2D": "CrossAttnDownBlock3D",
    "DownBlock2D": "DownBlock3D",
    "CrossAttnUpBlock2D": "CrossAttnUpBlock3D",
    "UpBlock2D": "UpBlock3D",
    "CrossAttnDownBlockMotion": "CrossAttnDownBlock3D",
    "DownBlockMotion": "DownBlock3D",
    "CrossAttnUpBlockMotion": "CrossAttnUpBlock3D",
    "UpBlockMotion": "UpBlock3D",
    "CrossAttnDownBlock3D": "CrossAttnDownBlock3D",
    "DownBlock3D": "DownBlock3D",
    "CrossAttnUpBlock3D": "CrossAttnUpBlock3D",
    "UpBlock3D": "UpBlock3D",
}


def _single_int(value, name, where):
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise WeightsError(f"{where}: per-block {name} {list(value)} is not supported")
        return int(value[0])
    return int(value)


def unet_config_from_diffusers(cfg: Mapping, where: str = "unet/config.json") -> Dict:
    """diffusers UNet2DConditionModel / UNetMotionModel config -> keyword arguments of our
    ``UNet3DConfig`` (SD part only; motion fields come from the motion module)."""
    cls = cfg.get("_class_name", "UNet2DConditionModel")
    if cls not in ("UNet2DConditionModel", "UNetMotionModel", "UNet3DConditionModel"):
        raise WeightsError(f"{where}: _class_name {cls!r} is not a Stable Diffusion 1.x UNet")
    unsupported = []
    for key, ok in (
        ("use_linear_projection", (None, False)),
        ("class_embed_type", (None,)),
        ("addition_embed_type", (None,)),
        ("encoder_hid_dim", (None,)),
        ("time_cond_proj_dim", (None,)),
        ("num_class_embeds", (None,)),
        ("dual_cross_attention", (None, False)),
        ("only_cross_attention", (None, False)),
        ("upcast_attention", (None, False)),
        ("resnet_time_scale_shift", (None, "default")),
        ("time_embedding_type", (None, "positional")),
        ("center_input_sample", (None, False)),
        ("act_fn", (None, "silu")),
        ("mid_block_type", (None, "UNetMidBlock2DCrossAttn")),
        ("conv_in_kernel", (None, 3)),
        ("conv_out_kernel", (None, 3)),
        ("downsample_padding", (None, 1)),
        ("mid_block_scale_factor", (None, 1, 1.0)),
        ("attention_type", (None, "default")),
        ("class_embeddings_concat", (None, False)),
        ("cross_attention_norm", (None,)),
        ("resnet_out_scale_factor", (None, 1, 1.0)),
        ("resnet_skip_time_act", (None, False)),
        ("time_embedding_act_fn", (None,)),
        ("time_embedding_dim", (None,)),
        ("timestep_post_act", (None,)),
        ("mid_block_only_cross_attention", (None, False)),
        ("mid_block_layers", (None, 1)),
        ("encoder_hid_dim_type", (None,)),
    ):
        if cfg.get(key) not in ok:
            unsupported.append(f"{key}={cfg.get(key)!r}")
    tl = cfg.get("transformer_layers_per_block", 1)
    if tl not in (None, 1) and not (isinstance(tl, list) and set(tl) == {1}):
        unsupported.append(f"transformer_layers_per_block={tl!r}")
    if unsupported:
        raise WeightsError(f"{where}: not an SD1.x-style UNet; unsupported settings: {', '.join(unsupported)}")
    types_down = [_BLOCK_TYPES.get(t) for t in cfg["down_block_types"]]
    types_up = [_BLOCK_TYPES.get(t) for t in cfg["up_block_types"]]
    if None in types_down or None in types_up:
        raise WeightsError(
            f"{where}: unsupported block types {cfg['down_block_types']} / {cfg['up_block_types']}"
        )
    heads = cfg.get("num_attention_heads")
    if heads is None:
        heads = cfg.get("attention_head_dim", 8)  # legacy meaning: number of heads
    out = {
        "in_channels": int(cfg.get("in_channels", 4)),
        "out_channels": int(cfg.get("out_channels", 4)),
        "block_out_channels": tuple(int(c) for c in cfg["block_out_channels"]),
        "down_block_types": tuple(types_down),
        "up_block_types": tuple(types_up),
        "layers_per_block": _single_int(cfg.get("layers_per_block", 2), "layers_per_block", where),
        "norm_num_groups": int(cfg.get("norm_num_groups", 32)),
        "norm_eps": float(cfg.get("norm_eps", 1e-5)),
        "cross_attention_dim": _single_int(cfg.get("cross_attention_dim", 768), "cross_attention_dim", where),
        "attention_head_dim": _single_int(heads, "attention heads", where),
        "flip_sin_to_cos": bool(cfg.get("flip_sin_to_cos", True)),
        "freq_shift": int(cfg.get("freq_shift", 0)),
    }
    if cfg.get("sample_size") is not None:
        ss = cfg["sample_size"]
        out["sample_size"] = int(ss[0] if isinstance(ss, (list, tuple)) else ss)
    return out


def vae_config_from_diffusers(cfg: Mapping, where: str = "vae/config.json") -> Dict:
    cls = cfg.get("_class_name", "AutoencoderKL")
    if cls != "AutoencoderKL":
        raise WeightsError(f"{where}: _class_name {cls!r} is not AutoencoderKL")
    bad = [t for t in list(cfg.get("down_block_types", [])) + list(cfg.get("up_block_types", []))
           if t not in ("DownEncoderBlock2D", "UpDecoderBlock2D")]
    if bad or cfg.get("act_fn", "silu") != "silu" or cfg.get("mid_block_add_attention", True) is not True:
        raise WeightsError(f"{where}: unsupported AutoencoderKL settings")
    out = {
        "in_channels": int(cfg.get("in_channels", 3)),
        "out_channels": int(cfg.get("out_channels", 3)),
        "latent_channels": int(cfg.get("latent_channels", 4)),
        "block_out_channels": tuple(int(c) for c in cfg["block_out_channels"]),
        "layers_per_block": int(cfg.get("layers_per_block", 2)),
        "norm_num_groups": int(cfg.get("norm_num_groups", 32)),
    }
    if cfg.get("sample_size") is not None:
        ss = cfg["sample_size"]
        out["sample_size"] = int(ss[0] if isinstance(ss, (list, tuple)) else ss)
    if cfg.get("scaling_factor") is not None:
        out["scaling_factor"] = float(cfg["scaling_factor"])
    if cfg.get("use_quant_conv") is False or cfg.get("use_post_quant_conv") is False:
        raise WeightsError(f"{where}: VAEs without quant_conv/post_quant_conv are not supported")
    if cfg.get("shift_factor") not in (None, 0, 0.0) or cfg.get("latents_mean") is not None:
        raise WeightsError(f"{where}: VAEs with shift_factor/latents_mean are not supported")
    return out


def text_config_from_diffusers(cfg: Mapping, where: str = "text_encoder/config.json") -> Dict:
    arch = cfg.get("architectures") or ["CLIPTextModel"]
    if not any(a in ("CLIPTextModel", "CLIPTextModelWithProjection") for a in arch):
        raise WeightsError(f"{where}: architectures {arch} is not a CLIP text model")
    act = cfg.get("hidden_act", "quick_gelu")
    return {
        "vocab_size": int(cfg.get("vocab_size", 49408)),
        "hidden_size": int(cfg.get("hidden_size", 768)),
        "intermediate_size": int(cfg.get("intermediate_size", 3072)),
        "num_hidden_layers": int(cfg.get("num_hidden_layers", 12)),
        "num_attention_heads": int(cfg.get("num_attention_heads", 12)),
        "max_position_embeddings": int(cfg.get("max_position_embeddings", 77)),
        "layer_norm_eps": float(cfg.get("layer_norm_eps", 1e-5)),
        "hidden_act": act,
    }


# ---------------------------------------------------------------------------------------------
# folders


def is_diffusers_pipeline(path: str) -> bool:
    return os.path.isdir(path) and all(
        os.path.isdir(os.path.join(path, c)) for c in ("unet", "vae", "text_encoder")
    )


def is_motion_adapter_folder(path: str) -> bool:
    if not (os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))):
        return False
    try:
        cfg = read_config(path)
    except WeightsError:
        return False
    return cfg.get("_class_name") == "MotionAdapter" or "motion_max_seq_length" in cfg


def load_diffusers_pipeline(folder: str) -> Dict:
    """A diffusers pipeline folder -> dict with our state dicts ``unet`` (SD part), ``vae``,
    ``text_encoder``, config kwargs ``unet_config``/``vae_config``/``text_config`` and, when the
    UNet is a UNetMotionModel or a ``motion_adapter/`` folder exists, ``motion`` (our names),
    ``motion_pe_lengths`` and ``motion_config`` (the diffusers dict)."""
    if not os.path.isdir(folder):
        raise WeightsError(f"{folder}: not a directory")
    missing = [c for c in ("unet", "vae", "text_encoder") if not os.path.isdir(os.path.join(folder, c))]
    if missing:
        raise WeightsError(f"{folder}: not a diffusers pipeline folder (no {', '.join(c + '/' for c in missing)})")
    ucfg, usd = load_component(os.path.join(folder, "unet"), UNET_WEIGHT_NAMES)
    vcfg, vsd = load_component(os.path.join(folder, "vae"), UNET_WEIGHT_NAMES)
    tcfg, tsd = load_component(os.path.join(folder, "text_encoder"), TEXT_WEIGHT_NAMES)
    out = {
        "unet_config": unet_config_from_diffusers(ucfg, os.path.join(folder, "unet", "config.json")),
        "vae_config": vae_config_from_diffusers(vcfg, os.path.join(folder, "vae", "config.json")),
        "text_config": text_config_from_diffusers(tcfg, os.path.join(folder, "text_encoder", "config.json")),
        "warnings": [w for w in (position_ids_warning(tsd, os.path.join(folder, "text_encoder")),) if w],
        "vae": vae_diffusers_to_ours(vsd),
        "text_encoder": clip_diffusers_to_ours(tsd),
    }
    spatial, motion = split_unet_motion(usd)
    out["unet"] = spatial
    if motion:
        where = os.path.join(folder, "unet")
        sd, pe = motion_diffusers_to_ours(motion, what=where)
        out["motion"] = sd
        out["motion_pe_lengths"] = pe
        out["motion_config"] = {
            "motion_max_seq_length": ucfg.get("motion_max_seq_length", 32),
            "use_motion_mid_block": ucfg.get("use_motion_mid_block", True),
            "motion_num_attention_heads": ucfg.get("motion_num_attention_heads", 8),
        }
        out["motion_source"] = where
    elif os.path.isdir(os.path.join(folder, "motion_adapter")):
        sd, pe, mcfg = load_motion_adapter(os.path.join(folder, "motion_adapter"))
        out["motion"] = sd
        out["motion_pe_lengths"] = pe
        out["motion_config"] = mcfg
        out["motion_source"] = os.path.join(folder, "motion_adapter")
    return out


def load_motion_adapter(folder: str):
    """A MotionAdapter folder -> (our state dict, {module: pe length}, config dict)."""
    cfg = read_config(folder)
    if cfg.get("conv_in_channels"):
        raise WeightsError(f"{folder}: MotionAdapters with conv_in (PIA / SparseCtrl-style) are not supported")
    sd = OrderedDict()
    for p in find_weight_files(folder, UNET_WEIGHT_NAMES):
        sd.update(load_state_dict(p))
    if any(k.startswith("conv_in.") for k in sd):
        raise WeightsError(f"{folder}: MotionAdapters with conv_in are not supported")
    out, pe = motion_diffusers_to_ours(sd, what=folder)
    return out, pe, cfg
