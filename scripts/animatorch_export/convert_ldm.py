"""Original single-file Stable Diffusion 1.x checkpoints (LDM names) -> our state dicts.

A single file holds three models under three prefixes:

* ``model.diffusion_model.*``          the UNet   -> diffusers UNet2DConditionModel names
* ``first_stage_model.*``              the VAE    -> diffusers AutoencoderKL names (new attention names)
* ``cond_stage_model.transformer.*``   CLIP-L     -> HF CLIPTextModel names (``text_model.*``)

The renaming follows diffusers' ``loaders/single_file_utils.py`` (facts sheet section 6), but is built
as a table of module-prefix pairs derived from the configuration's block types and
``layers_per_block``, so it works for any block count (the SD1.5 tables are the special case
4 blocks x 2 layers) and can be inverted (:func:`unet_ours_to_ldm` etc., used by tests).

Configs are diffusers ``config.json`` dicts (or objects with the same attribute names). For a single
file the shapes are inferred from the weights (:func:`infer_unet_config` ...) on top of SD1.5
presets for what weights do not tell (head counts, group counts, eps).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from .weights import WeightsError, format_keys

__all__ = [
    "UNET_PREFIX",
    "VAE_PREFIX",
    "CLIP_PREFIX",
    "SD15_UNET_CONFIG",
    "SD15_VAE_CONFIG",
    "SD15_TEXT_CONFIG",
    "split_ldm_checkpoint",
    "unet_prefix_table",
    "vae_prefix_table",
    "unet_ldm_to_ours",
    "unet_ours_to_ldm",
    "vae_ldm_to_ours",
    "vae_ours_to_ldm",
    "clip_ldm_to_ours",
    "clip_ours_to_ldm",
    "position_ids_warning",
    "infer_unet_config",
    "infer_vae_config",
    "infer_text_config",
    "convert_ldm_checkpoint",
]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."

# diffusers config.json contents of runwayml/stable-diffusion-v1-5 (unet/, vae/, text_encoder/)
SD15_UNET_CONFIG: Dict[str, object] = {
    "_class_name": "UNet2DConditionModel",
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 768,
    "norm_num_groups": 32,
    "norm_eps": 1e-05,
    "act_fn": "silu",
    "center_input_sample": False,
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "mid_block_scale_factor": 1,
}
SD15_VAE_CONFIG: Dict[str, object] = {
    "_class_name": "AutoencoderKL",
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "act_fn": "silu",
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
SD15_TEXT_CONFIG: Dict[str, object] = {
    "architectures": ["CLIPTextModel"],
    "model_type": "clip_text_model",
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-05,
    "projection_dim": 768,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}


def _get(config, name, default=None):
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def _per_block(value, n: int) -> List[int]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"layers_per_block {list(value)} does not have {n} entries")
        return [int(v) for v in value]
    return [int(value)] * n


def _has_attn(block_type: str) -> bool:
    return "CrossAttn" in block_type


# ---------------------------------------------------------------------------------------------
# prefix tables. Each row: (ldm_prefix, ours_prefix, kind) with kind "resnet" | "attn" | "plain"
# | "vae_resnet" | "vae_attn". Prefixes end with ".".

_UNET_RESNET_RENAMES = [
    ("in_layers.0.", "norm1."),
    ("in_layers.2.", "conv1."),
    ("emb_layers.1.", "time_emb_proj."),
    ("out_layers.0.", "norm2."),
    ("out_layers.3.", "conv2."),
    ("skip_connection.", "conv_shortcut."),
]
_VAE_RESNET_RENAMES = [
    ("norm1.", "norm1."),
    ("conv1.", "conv1."),
    ("norm2.", "norm2."),
    ("conv2.", "conv2."),
    ("nin_shortcut.", "conv_shortcut."),
]
_VAE_ATTN_RENAMES = [
    ("norm.", "group_norm."),
    ("q.", "to_q."),
    ("k.", "to_k."),
    ("v.", "to_v."),
    ("proj_out.", "to_out.0."),
]
_SUB_RENAMES = {"resnet": _UNET_RESNET_RENAMES, "vae_resnet": _VAE_RESNET_RENAMES, "vae_attn": _VAE_ATTN_RENAMES}


def unet_prefix_table(config) -> List[Tuple[str, str, str]]:
    """(ldm, ours, kind) module prefixes of the UNet (SD part) for a diffusers UNet config."""
    down = list(_get(config, "down_block_types"))
    up = list(_get(config, "up_block_types"))
    n = len(down)
    if len(up) != n:
        raise ValueError(f"{len(down)} down blocks but {len(up)} up blocks")
    lpb = _per_block(_get(config, "layers_per_block", 2), n)
    rows: List[Tuple[str, str, str]] = [
        ("time_embed.0.", "time_embedding.linear_1.", "plain"),
        ("time_embed.2.", "time_embedding.linear_2.", "plain"),
        ("input_blocks.0.0.", "conv_in.", "plain"),
    ]
    idx = 1
    for i, bt in enumerate(down):
        for j in range(lpb[i]):
            rows.append((f"input_blocks.{idx}.0.", f"down_blocks.{i}.resnets.{j}.", "resnet"))
            if _has_attn(bt):
                rows.append((f"input_blocks.{idx}.1.", f"down_blocks.{i}.attentions.{j}.", "attn"))
            idx += 1
        if i != n - 1:
            rows.append((f"input_blocks.{idx}.0.op.", f"down_blocks.{i}.downsamplers.0.conv.", "plain"))
            idx += 1
    mid = _get(config, "mid_block_type", "UNetMidBlock2DCrossAttn")
    if mid not in (None, "UNetMidBlock2DCrossAttn"):
        raise ValueError(f"mid_block_type {mid!r} is not supported (SD1.x uses UNetMidBlock2DCrossAttn)")
    rows += [
        ("middle_block.0.", "mid_block.resnets.0.", "resnet"),
        ("middle_block.1.", "mid_block.attentions.0.", "attn"),
        ("middle_block.2.", "mid_block.resnets.1.", "resnet"),
    ]
    rev_lpb = list(reversed(lpb))
    idx = 0
    for i, bt in enumerate(up):
        for j in range(rev_lpb[i] + 1):
            rows.append((f"output_blocks.{idx}.0.", f"up_blocks.{i}.resnets.{j}.", "resnet"))
            sub = 1
            if _has_attn(bt):
                rows.append((f"output_blocks.{idx}.1.", f"up_blocks.{i}.attentions.{j}.", "attn"))
                sub = 2
            if j == rev_lpb[i] and i != n - 1:
                rows.append((f"output_blocks.{idx}.{sub}.conv.", f"up_blocks.{i}.upsamplers.0.conv.", "plain"))
            idx += 1
    rows += [("out.0.", "conv_norm_out.", "plain"), ("out.2.", "conv_out.", "plain")]
    return rows


def vae_prefix_table(config) -> List[Tuple[str, str, str]]:
    """(ldm, ours, kind) module prefixes of the VAE (encoder and decoder)."""
    n = len(list(_get(config, "block_out_channels")))
    lpb = int(_get(config, "layers_per_block", 2))
    rows: List[Tuple[str, str, str]] = []
    for part in ("encoder", "decoder"):
        rows += [
            (f"{part}.conv_in.", f"{part}.conv_in.", "plain"),
            (f"{part}.conv_out.", f"{part}.conv_out.", "plain"),
            (f"{part}.norm_out.", f"{part}.conv_norm_out.", "plain"),
            (f"{part}.mid.block_1.", f"{part}.mid_block.resnets.0.", "vae_resnet"),
            (f"{part}.mid.block_2.", f"{part}.mid_block.resnets.1.", "vae_resnet"),
            (f"{part}.mid.attn_1.", f"{part}.mid_block.attentions.0.", "vae_attn"),
        ]
    for i in range(n):
        for j in range(lpb):
            rows.append((f"encoder.down.{i}.block.{j}.", f"encoder.down_blocks.{i}.resnets.{j}.", "vae_resnet"))
        if i != n - 1:
            rows.append((f"encoder.down.{i}.downsample.conv.", f"encoder.down_blocks.{i}.downsamplers.0.conv.", "plain"))
    for i in range(n):
        b = n - 1 - i
        for j in range(lpb + 1):
            rows.append((f"decoder.up.{b}.block.{j}.", f"decoder.up_blocks.{i}.resnets.{j}.", "vae_resnet"))
        if i != n - 1:
            rows.append((f"decoder.up.{b}.upsample.conv.", f"decoder.up_blocks.{i}.upsamplers.0.conv.", "plain"))
    rows += [("quant_conv.", "quant_conv.", "plain"), ("post_quant_conv.", "post_quant_conv.", "plain")]
    return rows


def _rename(key: str, rows, src: int, dst: int, what: str) -> Optional[str]:
    best = None
    for row in rows:
        p = row[src]
        if key.startswith(p) and (best is None or len(p) > len(best[src])):
            best = row
    if best is None:
        return None
    rest = key[len(best[src]):]
    kind = best[2]
    if kind in _SUB_RENAMES:
        for pair in _SUB_RENAMES[kind]:
            if rest.startswith(pair[src]):
                return best[dst] + pair[dst] + rest[len(pair[src]):]
        return None  # not a known leaf of this module kind
    return best[dst] + rest


def _apply(sd: Mapping[str, torch.Tensor], rows, src: int, dst: int, what: str) -> "OrderedDict[str, torch.Tensor]":
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    unknown = []
    for k, v in sd.items():
        nk = _rename(k, rows, src, dst, what)
        if nk is None:
            unknown.append(k)
            continue
        if nk in out:
            raise WeightsError(f"{what}: two keys map to {nk}")
        out[nk] = v
    if unknown:
        raise WeightsError(f"{what}: keys that do not belong to the expected architecture ({format_keys(unknown)})")
    return out


def unet_ldm_to_ours(sd: Mapping[str, torch.Tensor], config, what: str = "UNet") -> "OrderedDict[str, torch.Tensor]":
    """LDM UNet keys (without ``model.diffusion_model.``) -> our (diffusers) names."""
    return _apply(sd, unet_prefix_table(config), 0, 1, what)


def unet_ours_to_ldm(sd: Mapping[str, torch.Tensor], config, what: str = "UNet") -> "OrderedDict[str, torch.Tensor]":
    return _apply(sd, unet_prefix_table(config), 1, 0, what)


def _vae_attn_shapes(sd: "OrderedDict[str, torch.Tensor]", to_linear: bool) -> "OrderedDict[str, torch.Tensor]":
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in sd.items():
        if re.search(r"mid_block\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$", k) or re.search(
            r"mid\.attn_1\.(q|k|v|proj_out)\.weight$", k
        ):
            if to_linear and v.dim() > 2:
                v = v.reshape(v.shape[0], v.shape[1])
            elif not to_linear and v.dim() == 2:
                v = v.reshape(v.shape[0], v.shape[1], 1, 1)
        out[k] = v
    return out


def vae_ldm_to_ours(sd: Mapping[str, torch.Tensor], config, what: str = "VAE") -> "OrderedDict[str, torch.Tensor]":
    """LDM VAE keys (without ``first_stage_model.``) -> diffusers AutoencoderKL names; the mid
    attention's 1x1 conv weights [C,C,1,1] become linear weights [C,C]."""
    return _vae_attn_shapes(_apply(sd, vae_prefix_table(config), 0, 1, what), to_linear=True)


def vae_ours_to_ldm(sd: Mapping[str, torch.Tensor], config, what: str = "VAE") -> "OrderedDict[str, torch.Tensor]":
    return _vae_attn_shapes(_apply(sd, vae_prefix_table(config), 1, 0, what), to_linear=False)


CLIP_DROP_KEYS = ("text_model.embeddings.position_ids",)


def clip_ldm_to_ours(sd: Mapping[str, torch.Tensor], what: str = "text encoder") -> "OrderedDict[str, torch.Tensor]":
    """Keys after ``cond_stage_model.transformer.`` -> ``text_model.*``; position_ids dropped."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in sd.items():
        nk = k if k.startswith("text_model.") else "text_model." + k  # transformers < 4.x layout
        if nk in CLIP_DROP_KEYS:
            continue
        out[nk] = v
    return out


def position_ids_warning(sd: Mapping[str, torch.Tensor], where: str) -> Optional[str]:
    """A warning when a stored ``position_ids`` table is not 0..L-1. We always use 0..L-1 (as
    diffusers does); transformers 4.25 (original AnimateDiff) would use the stored ids."""
    for k, v in sd.items():
        if k.endswith("embeddings.position_ids"):
            ids = v.reshape(-1)
            ref = torch.arange(ids.numel(), dtype=torch.float64)
            if ids.numel() and not torch.equal(ids.to(torch.float64), ref):
                if ids.is_floating_point():
                    ids_l = ids.to(torch.int64)
                    note = f"float ids, truncating to {ids_l.tolist()[:3]}...{ids_l.tolist()[-3:]}"
                else:
                    note = f"{ids.tolist()[:3]}...{ids.tolist()[-3:]}"
                return (
                    f"{where}: {k} is not 0..{ids.numel() - 1} ({note}); the export uses 0..{ids.numel() - 1}, "
                    "original AnimateDiff (transformers 4.25) would use the stored ids, so text embeddings may differ"
                )
    return None


def clip_ours_to_ldm(sd: Mapping[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((k, v) for k, v in sd.items())


# ---------------------------------------------------------------------------------------------
# splitting a single file


def split_ldm_checkpoint(
    sd: Mapping[str, torch.Tensor], path: str = "<checkpoint>"
) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """(unet, vae, clip) key->tensor maps with the LDM prefixes removed.

    Other entries (``model_ema.*``, ``alphas_cumprod``, ``betas``, ...) are schedule tables or EMA
    copies and are ignored, like diffusers does by default."""
    keys = list(sd)
    if any(k.startswith("conditioner.embedders.") for k in keys):
        raise WeightsError(f"{path}: this is an SDXL checkpoint; only Stable Diffusion 1.x is supported")
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise WeightsError(f"{path}: this is an SD 2.x (OpenCLIP) checkpoint; only Stable Diffusion 1.x is supported")
    unet = {k[len(UNET_PREFIX):]: v for k, v in sd.items() if k.startswith(UNET_PREFIX)}
    vae = {k[len(VAE_PREFIX):]: v for k, v in sd.items() if k.startswith(VAE_PREFIX)}
    clip = {k[len(CLIP_PREFIX):]: v for k, v in sd.items() if k.startswith(CLIP_PREFIX)}
    missing = [name for name, part in (("UNet (model.diffusion_model.*)", unet), ("VAE (first_stage_model.*)", vae),
                                       ("text encoder (cond_stage_model.transformer.*)", clip)) if not part]
    if missing:
        hint = ""
        if any("motion_modules." in k for k in keys):
            hint = " (it looks like an AnimateDiff motion module: pass it as --motion-module)"
        elif any(k.startswith("lora_") for k in keys):
            hint = " (it looks like a LoRA: pass it as --lora)"
        raise WeightsError(
            f"{path}: not a complete Stable Diffusion single-file checkpoint: no {', no '.join(missing)}{hint}"
        )
    return unet, vae, clip


# ---------------------------------------------------------------------------------------------
# configs from weights


def _shape(sd, key, path, what):
    if key not in sd:
        raise WeightsError(f"{path}: {what}: expected key {key!r} is missing")
    return tuple(sd[key].shape)


def infer_unet_config(unet: Mapping[str, torch.Tensor], base: Optional[Mapping] = None, path: str = "<checkpoint>"):
    """UNet config (diffusers dict) from LDM UNet weights; non-shape fields from ``base`` (SD1.5)."""
    cfg = dict(SD15_UNET_CONFIG if base is None else base)
    what = "UNet"
    conv_in = _shape(unet, "input_blocks.0.0.weight", path, what)
    cfg["in_channels"] = conv_in[1]
    cfg["out_channels"] = _shape(unet, "out.2.weight", path, what)[0]
    ids = sorted({int(k.split(".")[1]) for k in unet if k.startswith("input_blocks.")})
    out_ids = sorted({int(k.split(".")[1]) for k in unet if k.startswith("output_blocks.")})
    # input_blocks 1.. : resnets until a downsampler ("op")
    blocks: List[List[int]] = [[]]
    for i in ids[1:]:
        if f"input_blocks.{i}.0.op.weight" in unet:
            blocks.append([])
        else:
            blocks[-1].append(i)
    if not blocks[-1]:
        raise WeightsError(f"{path}: {what}: the last down block has no layers")
    n = len(blocks)
    lpb = [len(b) for b in blocks]
    if len(set(lpb)) != 1:
        raise WeightsError(f"{path}: {what}: unequal layers per down block {lpb} are not supported")
    channels = [_shape(unet, f"input_blocks.{b[0]}.0.out_layers.3.weight", path, what)[0] for b in blocks]
    down_types = [
        "CrossAttnDownBlock2D" if f"input_blocks.{b[0]}.1.proj_in.weight" in unet else "DownBlock2D" for b in blocks
    ]
    if len(out_ids) != n * (lpb[0] + 1):
        raise WeightsError(
            f"{path}: {what}: {len(out_ids)} output blocks do not match {n} blocks x {lpb[0] + 1} layers"
        )
    up_types = []
    for i in range(n):
        first = i * (lpb[0] + 1)
        up_types.append("CrossAttnUpBlock2D" if f"output_blocks.{first}.1.proj_in.weight" in unet else "UpBlock2D")
    cfg.update(
        down_block_types=down_types,
        up_block_types=up_types,
        block_out_channels=channels,
        layers_per_block=lpb[0],
    )
    for k in unet:
        if k.endswith("attn2.to_k.weight"):
            cfg["cross_attention_dim"] = tuple(unet[k].shape)[1]
            break
    # SD1.x: proj_in is a 1x1 conv. A linear proj_in means SD 2.x.
    for k in unet:
        if k.endswith(".1.proj_in.weight") and unet[k].dim() == 2:
            raise WeightsError(f"{path}: {what}: linear proj_in (SD 2.x layout) is not supported")
    return cfg


def infer_vae_config(vae: Mapping[str, torch.Tensor], base: Optional[Mapping] = None, path: str = "<checkpoint>"):
    cfg = dict(SD15_VAE_CONFIG if base is None else base)
    what = "VAE"
    cfg["in_channels"] = _shape(vae, "encoder.conv_in.weight", path, what)[1]
    cfg["out_channels"] = _shape(vae, "decoder.conv_out.weight", path, what)[0]
    cfg["latent_channels"] = _shape(vae, "post_quant_conv.weight", path, what)[0]
    n = len({k.split(".")[2] for k in vae if k.startswith("encoder.down.")})
    lpb = len({k.split(".")[4] for k in vae if k.startswith("encoder.down.0.block.")})
    channels = [_shape(vae, f"encoder.down.{i}.block.0.conv2.weight", path, what)[0] for i in range(n)]
    cfg.update(
        block_out_channels=channels,
        layers_per_block=lpb,
        down_block_types=["DownEncoderBlock2D"] * n,
        up_block_types=["UpDecoderBlock2D"] * n,
    )
    return cfg


def infer_text_config(clip: Mapping[str, torch.Tensor], base: Optional[Mapping] = None, path: str = "<checkpoint>"):
    cfg = dict(SD15_TEXT_CONFIG if base is None else base)
    what = "text encoder"
    sd = clip_ldm_to_ours(clip)
    vocab, hidden = _shape(sd, "text_model.embeddings.token_embedding.weight", path, what)
    cfg["vocab_size"] = vocab
    cfg["max_position_embeddings"] = _shape(sd, "text_model.embeddings.position_embedding.weight", path, what)[0]
    layers = {int(k.split(".")[3]) for k in sd if k.startswith("text_model.encoder.layers.")}
    cfg["num_hidden_layers"] = len(layers)
    cfg["intermediate_size"] = _shape(sd, "text_model.encoder.layers.0.mlp.fc1.weight", path, what)[0]
    if hidden != cfg.get("hidden_size"):
        cfg["hidden_size"] = hidden
        cfg["projection_dim"] = hidden
        cfg["num_attention_heads"] = max(1, hidden // 64)
    return cfg


def convert_ldm_checkpoint(
    sd: Mapping[str, torch.Tensor],
    unet_config=None,
    vae_config=None,
    text_config=None,
    path: str = "<checkpoint>",
):
    """Whole single file -> dict with ``unet``, ``vae``, ``text_encoder`` (state dicts in our names)
    and ``unet_config``, ``vae_config``, ``text_config`` (diffusers dicts, inferred when not given)."""
    unet, vae, clip = split_ldm_checkpoint(sd, path)
    warnings = [w for w in (position_ids_warning(clip, path),) if w]
    unet_config = unet_config if unet_config is not None else infer_unet_config(unet, path=path)
    vae_config = vae_config if vae_config is not None else infer_vae_config(vae, path=path)
    text_config = text_config if text_config is not None else infer_text_config(clip, path=path)
    return {
        "unet": unet_ldm_to_ours(unet, unet_config, what=f"{path}: UNet"),
        "vae": vae_ldm_to_ours(vae, vae_config, what=f"{path}: VAE"),
        "text_encoder": clip_ldm_to_ours(clip, what=f"{path}: text encoder"),
        "unet_config": unet_config,
        "vae_config": vae_config,
        "text_config": text_config,
        "warnings": warnings,
    }
