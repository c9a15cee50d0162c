"""AnimateDiff motion-module checkpoints -> our (original AnimateDiff) names + detected version.

Accepted sources:

* original files (``mm_sd_v14.ckpt``, ``mm_sd_v15.ckpt``, ``mm_sd_v15_v2.ckpt``,
  ``v3_sd15_mm.ckpt``, or their ``.safetensors`` conversions): keys
  ``{down_blocks.i|up_blocks.i|mid_block}.motion_modules.j.temporal_transformer.*``; a top-level
  ``state_dict`` is unwrapped and non-tensor entries (``animatediff_config``) dropped. As in the
  original loader only keys containing ``motion_modules.`` are kept (others are reported in
  ``ignored_keys``) and ``pos_encoder.pe`` tables are dropped (their length is reported).
* a diffusers MotionAdapter folder, or a bare MotionAdapter weight file (diffusers names).

Version (facts sheet section 3, same rule as diffusers): a mid-block module -> v2; else a
positional table of length 24 -> v1; else v3.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import torch

from . import convert_diffusers as cd
from .weights import WeightsError, format_keys, load_state_dict

__all__ = [
    "MotionModuleWeights",
    "VERSION_TRAITS",
    "convert_motion_state_dict",
    "from_diffusers_converted",
    "load_motion_module",
    "detect_version",
]

# version -> (mid-block module, inflated (per-frame) GroupNorm, positional table length in the file)
VERSION_TRAITS = {"v1": (False, False, 24), "v2": (True, True, 32), "v3": (False, True, 32)}

_OURS_KEY = re.compile(
    r"^(?:down_blocks\.\d+|up_blocks\.\d+|mid_block)\.motion_modules\.\d+\.temporal_transformer\."
    r"(?:norm|proj_in|proj_out|transformer_blocks\.\d+\.(?:attention_blocks\.[01]\.(?:to_q|to_k|to_v|to_out\.0)"
    r"|norms\.[01]|ff_norm|ff\.net\.0\.proj|ff\.net\.2))\.(?:weight|bias)$"
)
_PE_KEY = re.compile(
    r"^((?:down_blocks\.\d+|up_blocks\.\d+|mid_block)\.motion_modules\.\d+)\.temporal_transformer\."
    r"transformer_blocks\.\d+\.attention_blocks\.[01]\.pos_encoder\.pe$"
)


@dataclass
class MotionModuleWeights:
    state_dict: "OrderedDict[str, torch.Tensor]"
    version: str
    pe_length: Optional[int]
    source: str  # "animatediff" | "diffusers"
    path: str = ""
    ignored_keys: List[str] = field(default_factory=list)
    num_attention_heads: Optional[int] = None  # from a diffusers config; AnimateDiff files use 8

    @property
    def num_transformer_blocks(self) -> int:
        ids = {int(m.group(1)) for k in self.state_dict for m in [re.search(r"\.transformer_blocks\.(\d+)\.", k)] if m}
        return max(ids) + 1 if ids else 1

    @property
    def has_mid_block(self) -> bool:
        return any(k.startswith("mid_block.") for k in self.state_dict)

    @property
    def use_inflated_groupnorm(self) -> bool:
        return VERSION_TRAITS[self.version][1]

    def config_overrides(self) -> Dict[str, object]:
        """Motion fields of our UNet3DConfig for this checkpoint."""
        out: Dict[str, object] = {
            "use_motion_module": True,
            "motion_module_version": self.version,
            "motion_module_mid_block": self.has_mid_block,
            "use_inflated_groupnorm": self.use_inflated_groupnorm,
            "motion_max_seq_length": int(self.pe_length or VERSION_TRAITS[self.version][2]),
            "motion_num_transformer_blocks": self.num_transformer_blocks,
        }
        if self.num_attention_heads is not None:
            out["motion_num_attention_heads"] = int(self.num_attention_heads)
        return out


def detect_version(has_mid_block: bool, pe_length: Optional[int], path: str = "", override: Optional[str] = None) -> str:
    if override is not None:
        if override not in VERSION_TRAITS:
            raise ValueError(f"unknown motion module version {override!r} (expected v1, v2 or v3)")
        if VERSION_TRAITS[override][0] != has_mid_block:
            raise WeightsError(
                f"{path}: motion module version {override} {'has' if VERSION_TRAITS[override][0] else 'has no'} "
                f"mid-block module, but the file {'has' if has_mid_block else 'has none'}"
            )
        return override
    if has_mid_block:
        return "v2"
    if pe_length is None:
        raise WeightsError(
            f"{path}: cannot tell motion module v1 from v3: the file has no mid-block module and no "
            "positional tables (pos_encoder.pe); pass the version explicitly (--motion-version v1|v3)"
        )
    return "v1" if pe_length == 24 else "v3"


def _pe_length(lengths: Mapping[str, int], path: str) -> Optional[int]:
    values = set(lengths.values())
    if len(values) > 1:
        raise WeightsError(f"{path}: positional tables of different lengths {sorted(values)}")
    return values.pop() if values else None


def convert_motion_state_dict(sd: Mapping[str, torch.Tensor], path: str = "<motion module>", version: Optional[str] = None) -> MotionModuleWeights:
    """Original-named or diffusers-named motion module tensors -> MotionModuleWeights."""
    motion = OrderedDict((k, v) for k, v in sd.items() if "motion_modules." in k)
    ignored = [k for k in sd if "motion_modules." not in k]
    if not motion:
        hint = ""
        if any(k.startswith("model.diffusion_model.") for k in sd):
            hint = " (it looks like a Stable Diffusion checkpoint: pass it as --base)"
        elif any(k.startswith("lora_") or "_lora." in k for k in sd):
            hint = " (it looks like a LoRA)"
        raise WeightsError(f"{path}: no motion-module weights (no key contains 'motion_modules.'){hint}")
    if any(".temporal_transformer." in k for k in motion):
        out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        lengths: Dict[str, int] = {}
        unknown = []
        for k, v in motion.items():
            m = _PE_KEY.match(k)
            if m:
                if v.dim() != 3 or v.shape[0] != 1:
                    raise WeightsError(f"{path}: {k} has shape {tuple(v.shape)}, expected [1, L, C]")
                lengths[m.group(1)] = int(v.shape[1])
                continue
            if not _OURS_KEY.match(k):
                unknown.append(k)
            out[k] = v
        if unknown:
            raise WeightsError(f"{path}: unrecognised motion-module keys ({format_keys(unknown)})")
        source = "animatediff"
    else:
        out, pe = cd.motion_diffusers_to_ours(motion, what=path)
        lengths = dict(pe)
        source = "diffusers"
    pe_length = _pe_length(lengths, path)
    has_mid = any(k.startswith("mid_block.") for k in out)
    v = detect_version(has_mid, pe_length, path, version)
    return MotionModuleWeights(out, v, pe_length, source, path, ignored)


def from_diffusers_converted(
    sd: "OrderedDict[str, torch.Tensor]", pe_lengths: Mapping[str, int], cfg: Mapping, path: str, version: Optional[str] = None
) -> MotionModuleWeights:
    """Motion weights already converted from diffusers names (MotionAdapter / UNetMotionModel) plus
    their pe lengths and diffusers config -> MotionModuleWeights (config and weights cross-checked)."""
    pe_length = _pe_length(pe_lengths, path)
    if pe_length is None:
        pe_length = cfg.get("motion_max_seq_length")
    has_mid = any(k.startswith("mid_block.") for k in sd)
    if "use_motion_mid_block" in cfg and bool(cfg["use_motion_mid_block"]) != has_mid:
        raise WeightsError(f"{path}: config use_motion_mid_block={cfg.get('use_motion_mid_block')} but the weights "
                           f"{'have' if has_mid else 'lack'} a mid-block module")
    v = detect_version(has_mid, pe_length, path, version)
    heads = cfg.get("motion_num_attention_heads")
    if isinstance(heads, (list, tuple)):
        if len(set(heads)) != 1:
            raise WeightsError(f"{path}: per-block motion_num_attention_heads {list(heads)} are not supported")
        heads = heads[0]
    return MotionModuleWeights(sd, v, pe_length, "diffusers", path, [], int(heads) if heads is not None else None)


def load_motion_module(path: str, version: Optional[str] = None) -> MotionModuleWeights:
    """Load a motion module file (.ckpt/.pt/.pth/.bin/.safetensors) or a MotionAdapter folder."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        if not cd.is_motion_adapter_folder(path):
            raise WeightsError(f"{path}: a directory that is not a diffusers MotionAdapter folder (config.json with motion_* fields)")
        sd, pe, cfg = cd.load_motion_adapter(path)
        return from_diffusers_converted(sd, pe, cfg, path, version)
    return convert_motion_state_dict(load_state_dict(path), path, version)
