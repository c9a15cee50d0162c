"""SparseCtrl checkpoints -> (SparseControlNetConfig, our state dict), read with the safe loaders of weights.py.

* the original AnimateDiff ``v3_sd15_sparsectrl_rgb.ckpt`` / ``_scribble.ckpt`` (optionally under ``state_dict``,
  or ``.safetensors``): its names are ours already (the SD half is diffusers-named, the motion modules carry
  AnimateDiff names); ``attention_blocks.0.pos_encoder.pe`` tables are dropped, their length giving
  ``motion_max_seq_length``. The shape of everything else is read off the weights: SD1.5 widths, RGB (one
  conv on latents + mask, ``controlnet_cond_embedding.weight``) or scribble (the ControlNet embedding on
  pixels + mask). The original's ``concate_conditioning_mask`` is assumed (both v3 releases have it).
* diffusers' ``SparseControlNetModel`` folders (what ``convert_animatediff_sparsectrl_to_diffusers.py`` writes):
  the motion modules are renamed as a MotionAdapter's (convert_diffusers.motion_diffusers_to_ours).

:func:`load_any_controlnet` tells a SparseCtrl from a plain ControlNet by its motion modules / ``_class_name``.
"""

import os
import re
from collections import OrderedDict
from typing import Dict, Mapping, Tuple

import torch

from .controlnet import ControlNetConfig
from .controlnet_export import CONTROLNET_MANIFEST, diffusers_fields, ldm_weights, load_controlnet_weights
from .convert_diffusers import load_component, motion_diffusers_to_ours, read_config, split_unet_motion
from .convert_ldm import _shape
from .manifest import MANIFEST_FILE as MODEL_MANIFEST
from .sparse_controlnet import SparseControlNetConfig
from .weights import WeightsError, format_keys, load_state_dict

_PE = re.compile(r"^(down_blocks\.\d+\.motion_modules\.\d+\.)temporal_transformer\.transformer_blocks\.\d+\.attention_blocks\.0\.pos_encoder\.pe$")


def is_sparse_state_dict(sd: Mapping[str, torch.Tensor]) -> bool:
    return any(".motion_modules." in k for k in sd) and any(k.startswith("controlnet_") for k in sd)


def _pe_length(lengths: Mapping[str, int], where: str) -> int:
    found = set(lengths.values())
    if len(found) > 1:
        raise WeightsError(f"{where}: motion modules with different positional-table lengths {sorted(found)}")
    return found.pop() if found else 32


def sparse_config_from_diffusers(cfg: Mapping, pe_lengths: Mapping[str, int], numerics: str, where: str) -> SparseControlNetConfig:
    bad = [f"{k}={cfg.get(k)!r}" for k, ok in (("temporal_transformer_layers_per_block", (None, 1)), ("transformer_layers_per_mid_block", (None, 1)))
           if (cfg.get(k) if not isinstance(cfg.get(k), list) else (cfg[k][0] if set(cfg[k]) == {1} else cfg[k])) not in ok]
    if bad:
        raise WeightsError(f"{where}: unsupported SparseControlNetModel settings: {', '.join(bad)}")
    heads = cfg.get("motion_num_attention_heads", 8)
    if isinstance(heads, list):
        if len(set(heads)) != 1:
            raise WeightsError(f"{where}: motion_num_attention_heads {heads} differ per block (not supported)")
        heads = heads[0]
    max_len = int(cfg.get("motion_max_seq_length", 32))
    if pe_lengths and _pe_length(pe_lengths, where) != max_len:
        raise WeightsError(f"{where}: pos_embed tables of {_pe_length(pe_lengths, where)} frames, config says motion_max_seq_length {max_len}")
    return SparseControlNetConfig(
        conditioning_channels=int(cfg.get("conditioning_channels", 4)),
        concat_conditioning_mask=bool(cfg.get("concat_conditioning_mask", True)),
        use_simplified_condition_embedding=bool(cfg.get("use_simplified_condition_embedding", True)),
        motion_num_attention_heads=int(heads),
        motion_max_seq_length=max_len,
        numerics=numerics,
        **diffusers_fields(cfg, "SparseControlNetModel", where),
    ).validate()


def infer_sparse_config(sd: Mapping[str, torch.Tensor], max_len: int, numerics: str, path: str) -> SparseControlNetConfig:
    what = "SparseCtrl"
    ids = sorted({int(k.split(".")[1]) for k in sd if k.startswith("down_blocks.")})
    if not ids:
        raise WeightsError(f"{path}: {what}: no down_blocks")
    layers = {len({k.split(".")[3] for k in sd if k.startswith(f"down_blocks.{i}.resnets.")}) for i in ids}
    if len(layers) != 1:
        raise WeightsError(f"{path}: {what}: down blocks with different numbers of layers")
    channels = tuple(_shape(sd, f"down_blocks.{i}.resnets.0.conv1.weight", path, what)[0] for i in ids)
    down = tuple("CrossAttnDownBlock3D" if f"down_blocks.{i}.attentions.0.proj_in.weight" in sd else "DownBlock3D" for i in ids)
    cross = next((tuple(v.shape)[1] for k, v in sd.items() if k.endswith("attn2.to_k.weight")), 768)
    simple = "controlnet_cond_embedding.weight" in sd
    if simple:
        cond_in, emb = _shape(sd, "controlnet_cond_embedding.weight", path, what)[1], (16, 32, 96, 256)
    else:
        cond_in = _shape(sd, "controlnet_cond_embedding.conv_in.weight", path, what)[1]
        n = len({k.split(".")[2] for k in sd if k.startswith("controlnet_cond_embedding.blocks.")})
        emb = (_shape(sd, "controlnet_cond_embedding.conv_in.weight", path, what)[0],)
        emb += tuple(_shape(sd, f"controlnet_cond_embedding.blocks.{k}.weight", path, what)[0] for k in range(1, n, 2))
    heads = 8 if channels[0] % 8 == 0 else 1  # not in the weights; AnimateDiff's value
    return SparseControlNetConfig(
        in_channels=_shape(sd, "conv_in.weight", path, what)[1],
        conditioning_channels=cond_in - 1,
        block_out_channels=channels,
        down_block_types=down,
        layers_per_block=layers.pop(),
        cross_attention_dim=int(cross),
        conditioning_embedding_out_channels=emb,
        use_simplified_condition_embedding=simple,
        motion_num_attention_heads=heads,
        motion_max_seq_length=max_len,
        numerics=numerics,
    ).validate()


def original_to_ours(sd: Mapping[str, torch.Tensor], path: str) -> Tuple["OrderedDict[str, torch.Tensor]", int]:
    """Drops the positional tables (returning their length); refuses what is not SparseCtrl."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    lengths: Dict[str, int] = {}
    for k, v in sd.items():
        m = _PE.match(k)
        if m:
            lengths[m.group(1)] = int(v.shape[-2])
        else:
            out[k] = v
    two = [k for k in out if ".attention_blocks.1." in k]
    if two:
        raise WeightsError(f"{path}: motion modules with two attentions are a motion module, not SparseCtrl ({format_keys(two)})")
    return out, _pe_length(lengths, path)


def load_sparse_weights(path: str, numerics: str = "animatediff") -> Tuple[SparseControlNetConfig, "OrderedDict[str, torch.Tensor]", str]:
    """(config, our state dict, format) of a diffusers SparseControlNetModel folder or an original checkpoint."""
    if os.path.isdir(path):
        raw, sd = load_component(path)
        spatial, motion = split_unet_motion(sd)
        ours, pe = motion_diffusers_to_ours(motion, f"{path}: SparseControlNetModel")
        cfg = sparse_config_from_diffusers(raw, pe, numerics, os.path.join(path, "config.json"))
        return cfg, OrderedDict(list(spatial.items()) + list(ours.items())), "diffusers"
    return _from_original(load_state_dict(path), numerics, path)


def _from_original(raw: Mapping[str, torch.Tensor], numerics: str, path: str):
    sd, max_len = original_to_ours(raw, path)
    return infer_sparse_config(sd, max_len, numerics, path), sd, "animatediff"


def refuse_animatorch_export(path: str) -> None:
    """An animatorch export (``controlnet.yaml`` / ``model.yaml``) is output, not input: say so before any loading,
    instead of failing later on a missing diffusers weight file."""
    if os.path.isfile(os.path.join(path, CONTROLNET_MANIFEST)):
        with open(os.path.join(path, CONTROLNET_MANIFEST), encoding="utf-8") as f:
            m = re.search(r"^kind:\s*(\w+)", f.read(), re.M)
        what = "SparseCtrl" if m and m.group(1) == "sparsectrl" else "ControlNet"
        raise WeightsError(
            f"--controlnet {path}: this folder is already an animatorch {what} export (it has {CONTROLNET_MANIFEST}); "
            f"use it directly: render --controlnet path={path},... (or generate({{ controlnet }})). "
            "export --controlnet takes an original checkpoint (.safetensors/.pth/.ckpt) or a diffusers folder")
    if os.path.isfile(os.path.join(path, MODEL_MANIFEST)):
        raise WeightsError(
            f"--controlnet {path}: this folder is an animatorch model export (it has {MODEL_MANIFEST}), not a ControlNet; "
            f"render with it as render --model {path}, and give --controlnet path=DIR,... an exported ControlNet. "
            "export --controlnet takes an original ControlNet/SparseCtrl checkpoint (.safetensors/.pth/.ckpt) or a diffusers folder")


def load_any_controlnet(path: str, numerics: str = "animatediff") -> Tuple[ControlNetConfig, "OrderedDict[str, torch.Tensor]", str]:
    """A ControlNet or a SparseCtrl, told apart by ``_class_name`` (folders) or motion-module keys (files)."""
    if not os.path.exists(path):
        raise WeightsError(f"--controlnet {path}: no such file or directory")
    if os.path.isdir(path):
        refuse_animatorch_export(path)
        sparse = read_config(path).get("_class_name") == "SparseControlNetModel"
        return load_sparse_weights(path, numerics) if sparse else load_controlnet_weights(path)
    sd = load_state_dict(path)
    return _from_original(sd, numerics, path) if is_sparse_state_dict(sd) else ldm_weights(sd, path)
