"""Merging LoRAs into our state dicts (``W += alpha * up @ down``), as the original AnimateDiff does.

Two file formats (facts sheet section 5):

* AnimateDiff / old diffusers attention-processor LoRAs: MotionLoRAs (``v2_lora_*.ckpt``) and the v3
  domain adapter (``v3_sd15_adapter.ckpt``). Keys ``<module>.processor.<proj>_lora.{down,up}.weight``
  with ``proj`` in to_q/to_k/to_v/to_out; the target is ``<module>.<proj>`` (``to_out`` ->
  ``to_out.0``) in our UNet names (original AnimateDiff names, which is what these files use).
  No rank or network-alpha scaling.
* kohya image LoRAs: ``lora_unet_<path>`` / ``lora_te_<path>`` with ``.lora_down.weight``,
  ``.lora_up.weight`` and ``.alpha``. ``<path>`` is a module path with dots written as
  underscores; diffusers-style (``down_blocks_0_attentions_0_...``) and LDM-style
  (``input_blocks_1_1_...``) paths are both resolved. As in the original AnimateDiff
  (``convert_lora``) the ``.alpha`` entries are ignored: ``W += alpha * up @ down`` with the
  user's alpha (default 0.8). Conv LoRAs (4-D down/up) are merged through their flattened
  matrices.

Targets that do not exist raise :class:`WeightsError` listing them; so do LoRA flavours we do not
implement (LoHa, LoKr, DoRA, ...).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, MutableMapping, Optional, Tuple

import torch

from .weights import WeightsError, format_keys, load_state_dict

__all__ = [
    "DEFAULT_IMAGE_LORA_ALPHA",
    "DEFAULT_MOTION_LORA_ALPHA",
    "DEFAULT_ADAPTER_LORA_ALPHA",
    "parse_path_alpha",
    "load_lora_file",
    "detect_lora_format",
    "lora_delta",
    "merge_processor_lora",
    "merge_kohya_lora",
    "kohya_index",
]

DEFAULT_IMAGE_LORA_ALPHA = 0.8
DEFAULT_MOTION_LORA_ALPHA = 1.0
DEFAULT_ADAPTER_LORA_ALPHA = 1.0

_PROC_KEY = re.compile(r"^(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$")
_KOHYA_KEY = re.compile(r"^(lora_unet|lora_te)_(.+?)\.(lora_down\.weight|lora_up\.weight|alpha)$")


def parse_path_alpha(arg: str, default: float) -> Tuple[str, float]:
    """``PATH[:alpha]`` -> (path, alpha). A path that exists as given wins over a split."""
    if os.path.exists(arg) or ":" not in arg:
        return arg, float(default)
    head, tail = arg.rsplit(":", 1)
    try:
        return head, float(tail)
    except ValueError:
        return arg, float(default)


def load_lora_file(path: str) -> "OrderedDict[str, torch.Tensor]":
    """Tensors of a LoRA file (top-level ``state_dict`` unwrapped, ``animatediff_config`` dropped)."""
    return load_state_dict(path)


def detect_lora_format(sd: Mapping[str, torch.Tensor], path: str = "<lora>") -> str:
    """``"processor"`` (MotionLoRA / v3 adapter) or ``"kohya"``; anything else raises."""
    keys = list(sd)
    if keys and all(_PROC_KEY.match(k) for k in keys):
        return "processor"
    if any(k.startswith(("lora_unet_", "lora_te_")) for k in keys):
        return "kohya"
    if any(k.startswith(("lora_te1_", "lora_te2_")) for k in keys):
        raise WeightsError(f"{path}: an SDXL LoRA (lora_te1_/lora_te2_ keys); only SD1.x LoRAs are supported")
    bad = [k for k in keys if not _PROC_KEY.match(k)]
    if any(_PROC_KEY.match(k) for k in keys):
        raise WeightsError(f"{path}: keys that are not attention-processor LoRA weights ({format_keys(bad)})")
    if any(".lora_A." in k or ".lora_B." in k for k in keys):
        raise WeightsError(
            f"{path}: a PEFT-format LoRA (lora_A/lora_B); only AnimateDiff MotionLoRA/adapter and kohya "
            "formats are supported"
        )
    if any("motion_modules." in k for k in keys):
        raise WeightsError(f"{path}: this looks like a motion module, not a LoRA (pass it as --motion-module)")
    raise WeightsError(f"{path}: not a recognised LoRA format (keys: {format_keys(keys, 5)})")


def lora_delta(up: torch.Tensor, down: torch.Tensor, weight_shape: torch.Size, name: str) -> torch.Tensor:
    """``up @ down`` (float32) reshaped to the target weight's shape."""
    up2 = up.to(torch.float32).reshape(up.shape[0], -1)
    down2 = down.to(torch.float32).reshape(down.shape[0], -1)
    if up2.shape[1] != down2.shape[0]:
        raise WeightsError(f"{name}: LoRA ranks differ (up {tuple(up.shape)}, down {tuple(down.shape)})")
    delta = up2 @ down2
    numel = 1
    for s in weight_shape:
        numel *= int(s)
    if delta.numel() != numel or delta.shape[0] != weight_shape[0]:
        raise WeightsError(
            f"{name}: LoRA product {tuple(delta.shape)} (up {tuple(up.shape)}, down {tuple(down.shape)}) "
            f"does not fit weight {tuple(weight_shape)}"
        )
    return delta.reshape(weight_shape)


def _merge(target: MutableMapping[str, torch.Tensor], key: str, delta: torch.Tensor, alpha: float) -> None:
    """``target[key] = W + alpha * delta`` as a new tensor in float32 (float64 stays float64): the
    original merges into float32 weights, and the export casts once to its dtype afterwards."""
    w = target[key]
    dt = torch.promote_types(w.dtype, torch.float32)
    target[key] = w.to(dt) + float(alpha) * delta.to(device=w.device, dtype=dt)


def merge_processor_lora(
    target: MutableMapping[str, torch.Tensor],
    lora: Mapping[str, torch.Tensor],
    alpha: float,
    what: str = "LoRA",
) -> List[str]:
    """Merge a MotionLoRA / v3 adapter into ``target`` (our UNet names, SD part + motion modules).
    Returns the merged weight keys. Every target must exist."""
    pairs: Dict[str, Dict[str, torch.Tensor]] = OrderedDict()
    bad = []
    for k, v in lora.items():
        m = _PROC_KEY.match(k)
        if not m:
            bad.append(k)
            continue
        module, proj, which = m.groups()
        tkey = f"{module}.{proj}{'.0' if proj == 'to_out' else ''}.weight"
        pairs.setdefault(tkey, {})[which] = v
    if bad:
        raise WeightsError(f"{what}: keys that are not attention-processor LoRA weights ({format_keys(bad)})")
    incomplete = [k for k, p in pairs.items() if set(p) != {"down", "up"}]
    if incomplete:
        raise WeightsError(f"{what}: LoRA layers without both down and up weights ({format_keys(incomplete)})")
    unknown = [k[: -len(".weight")] for k in pairs if k not in target]
    if unknown:
        raise WeightsError(f"{what}: LoRA targets modules the model does not have ({format_keys(unknown)})")
    for tkey, p in pairs.items():
        _merge(target, tkey, lora_delta(p["up"], p["down"], target[tkey].shape, f"{what}: {tkey}"), alpha)
    return list(pairs)


def _modules(sd: Mapping[str, torch.Tensor]) -> Iterable[str]:
    for k in sd:
        if k.endswith(".weight"):
            yield k[: -len(".weight")]


def kohya_index(
    unet: Optional[Mapping[str, torch.Tensor]] = None,
    text: Optional[Mapping[str, torch.Tensor]] = None,
    unet_config=None,
) -> Dict[str, Tuple[str, str]]:
    """{kohya name: (component, weight key)} for our modules. With ``unet_config`` the LDM-style
    names of the SD part (``lora_unet_input_blocks_1_1_proj_in``) are indexed as well."""
    index: Dict[str, Tuple[str, str]] = {}

    def add(name: str, comp: str, key: str) -> None:
        prev = index.get(name)
        if prev is not None and prev != (comp, key):
            raise WeightsError(f"kohya name {name} is ambiguous: {prev[1]} and {key}")
        index[name] = (comp, key)

    if unet is not None:
        rows = None
        if unet_config is not None:
            from .convert_ldm import _rename, unet_prefix_table

            rows = unet_prefix_table(unet_config)
        for mod in _modules(unet):
            add("lora_unet_" + mod.replace(".", "_"), "unet", mod + ".weight")
            if rows is not None and ".motion_modules." not in mod:
                ldm = _rename(mod + ".weight", rows, 1, 0, "UNet")
                if ldm is not None:
                    add("lora_unet_" + ldm[: -len(".weight")].replace(".", "_"), "unet", mod + ".weight")
    if text is not None:
        for mod in _modules(text):
            add("lora_te_" + mod.replace(".", "_"), "text_encoder", mod + ".weight")
    return index


def merge_kohya_lora(
    unet: Optional[MutableMapping[str, torch.Tensor]],
    text: Optional[MutableMapping[str, torch.Tensor]],
    lora: Mapping[str, torch.Tensor],
    alpha: float = DEFAULT_IMAGE_LORA_ALPHA,
    unet_config=None,
    what: str = "LoRA",
) -> Dict[str, List[str]]:
    """Merge a kohya LoRA into our UNet and/or text-encoder state dicts (in place: entries are
    replaced by new tensors). ``.alpha`` entries are ignored (original AnimateDiff behaviour).
    Returns {component: merged weight keys}."""
    pairs: Dict[str, Dict[str, torch.Tensor]] = OrderedDict()
    bad = []
    for k, v in lora.items():
        m = _KOHYA_KEY.match(k)
        if not m:
            bad.append(k)
            continue
        prefix, name, leaf = m.groups()
        if leaf == "alpha":
            continue
        pairs.setdefault(f"{prefix}_{name}", {})["down" if leaf.startswith("lora_down") else "up"] = v
    if bad:
        kinds = sorted({k.split(".", 1)[1] if "." in k else k for k in bad})[:8]
        raise WeightsError(
            f"{what}: unsupported LoRA entries (only lora_down/lora_up/alpha are implemented; found "
            f"{', '.join(kinds)}) ({format_keys(bad)})"
        )
    incomplete = [k for k, p in pairs.items() if set(p) != {"down", "up"}]
    if incomplete:
        raise WeightsError(f"{what}: LoRA layers without both lora_down and lora_up ({format_keys(incomplete)})")
    index = kohya_index(unet, text, unet_config)
    unknown = [name for name in pairs if name not in index]
    if unknown:
        raise WeightsError(f"{what}: LoRA targets modules the model does not have ({format_keys(unknown)})")
    comps = {"unet": unet, "text_encoder": text}
    merged: Dict[str, List[str]] = {"unet": [], "text_encoder": []}
    for name, p in pairs.items():
        comp, key = index[name]
        target = comps[comp]
        _merge(target, key, lora_delta(p["up"], p["down"], target[key].shape, f"{what}: {name}"), alpha)
        merged[comp].append(key)
    return merged
