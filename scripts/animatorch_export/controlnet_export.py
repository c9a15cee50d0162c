"""ControlNet checkpoints -> our ControlNetModel -> a TorchScript folder with ``controlnet.yaml``
(SparseCtrl checkpoints are read by sparse_controlnet_load.py and written here too, ``kind: sparsectrl``).

Inputs (read with the safe loaders of weights.py: safetensors, or weights-only pickles):

* a diffusers ``ControlNetModel`` folder (config.json + diffusion_pytorch_model.*);
* a single ``.safetensors`` / ``.pth`` / ``.ckpt`` in the original ControlNet 1.0/1.1 layout, keys with
  or without ``control_model.`` (1.0 files also hold the whole SD model: its keys are ignored).
  The renaming follows diffusers' ``convert_original_controlnet_to_diffusers`` (via
  ``convert_ldm.unet_prefix_table`` for the UNet half) plus::

      input_hint_block.{0, 2.., last}  -> controlnet_cond_embedding.{conv_in, blocks.k, conv_out}
      zero_convs.k.0                   -> controlnet_down_blocks.k
      middle_block_out.0               -> controlnet_mid_block

Folder written by :func:`export_controlnet`::

    model.pt          torch.jit.script(ControlNetModel | SparseControlNetModel) (calling conventions:
                      controlnet.py, sparse_controlnet.py)
    config.json       our ControlNetConfig / SparseControlNetConfig (+ _class_name)
    controlnet.yaml   manifest, written last
"""

import os
from collections import OrderedDict
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

from . import __version__ as PACKAGE_VERSION
from .atomic_io import atomic_jit_save, atomic_write_json, atomic_write_text
from .controlnet import ControlNetBase, ControlNetConfig, ControlNetModel, config_dict, residual_channels
from .convert_diffusers import load_component, unet_config_from_diffusers
from .convert_ldm import _apply, _shape, unet_prefix_table
from .dtypes import can_run, dtype_name, parse_dtype
from .errors import ExportError
from .sparse_controlnet import SparseControlNetConfig, SparseControlNetModel
from .manifest import EXPORT_VERSION, FAMILY, _yaml_dump, file_entry
from .weights import WeightsError, load_into, load_state_dict, no_weight_init

CONTROLNET_FILE = "model.pt"
CONTROLNET_CONFIG_FILE = "config.json"
CONTROLNET_MANIFEST = "controlnet.yaml"
LDM_PREFIX = "control_model."


def diffusers_fields(cfg: Mapping, cls: str, where: str) -> Dict[str, Any]:
    """ControlNetConfig keyword arguments of a diffusers ControlNetModel / SparseControlNetModel config."""
    got = cfg.get("_class_name", cls)
    if got != cls:
        raise WeightsError(f"{where}: _class_name {got!r} is not {cls}")
    # The down half of a UNet: check it with the UNet's rules (up blocks mirrored).
    ups = ["CrossAttnUpBlock2D" if "CrossAttn" in t else "UpBlock2D" for t in reversed(list(cfg["down_block_types"]))]
    u = unet_config_from_diffusers({**cfg, "_class_name": "UNet2DConditionModel", "up_block_types": ups}, where)
    return dict(
        in_channels=u["in_channels"],
        block_out_channels=u["block_out_channels"],
        down_block_types=u["down_block_types"],
        layers_per_block=u["layers_per_block"],
        norm_num_groups=u["norm_num_groups"],
        norm_eps=u["norm_eps"],
        cross_attention_dim=u["cross_attention_dim"],
        attention_head_dim=u["attention_head_dim"],
        flip_sin_to_cos=u["flip_sin_to_cos"],
        freq_shift=u["freq_shift"],
        conditioning_embedding_out_channels=tuple(int(c) for c in cfg.get("conditioning_embedding_out_channels", (16, 32, 96, 256))),
        global_pool_conditions=bool(cfg.get("global_pool_conditions", False)),
        channel_order=cfg.get("controlnet_conditioning_channel_order", "rgb"),
    )


def config_from_diffusers(cfg: Mapping, where: str = "config.json") -> ControlNetConfig:
    fields = diffusers_fields(cfg, "ControlNetModel", where)
    return ControlNetConfig(conditioning_channels=int(cfg.get("conditioning_channels", 3)), **fields).validate()


def _strip_ldm(sd: Mapping[str, torch.Tensor], path: str) -> "OrderedDict[str, torch.Tensor]":
    if any(k.startswith(LDM_PREFIX) for k in sd):
        return OrderedDict((k[len(LDM_PREFIX):], v) for k, v in sd.items() if k.startswith(LDM_PREFIX))
    if "input_hint_block.0.weight" in sd:
        return OrderedDict(sd)
    raise WeightsError(f"{path}: not a ControlNet checkpoint (no input_hint_block / control_model. keys)")


def _hint_indices(sd: Mapping[str, torch.Tensor]):
    return sorted({int(k.split(".")[1]) for k in sd if k.startswith("input_hint_block.")})


def infer_ldm_config(sd: Mapping[str, torch.Tensor], path: str) -> ControlNetConfig:
    """ControlNet config from LDM-layout weights (keys without ``control_model.``); heads and groups: SD1.5."""
    what = "ControlNet"
    ids = sorted({int(k.split(".")[1]) for k in sd if k.startswith("input_blocks.")})
    blocks = [[]]
    for i in ids[1:]:
        if f"input_blocks.{i}.0.op.weight" in sd:
            blocks.append([])
        else:
            blocks[-1].append(i)
    lpb = {len(b) for b in blocks}
    if len(lpb) != 1 or 0 in lpb:
        raise WeightsError(f"{path}: {what}: unequal or empty down blocks are not supported")
    channels = tuple(_shape(sd, f"input_blocks.{b[0]}.0.out_layers.3.weight", path, what)[0] for b in blocks)
    down = tuple("CrossAttnDownBlock3D" if f"input_blocks.{b[0]}.1.proj_in.weight" in sd else "DownBlock3D" for b in blocks)
    cross = next((tuple(v.shape)[1] for k, v in sd.items() if k.endswith("attn2.to_k.weight")), 768)
    hint = _hint_indices(sd)
    # conv_in's outputs, then every second conv (the stride-2 ones) before conv_out
    emb = [_shape(sd, f"input_hint_block.{hint[0]}.weight", path, what)[0]]
    emb += [_shape(sd, f"input_hint_block.{i}.weight", path, what)[0] for i in hint[2:-1:2]]
    return ControlNetConfig(
        in_channels=_shape(sd, "input_blocks.0.0.weight", path, what)[1],
        conditioning_channels=_shape(sd, f"input_hint_block.{hint[0]}.weight", path, what)[1],
        block_out_channels=channels,
        down_block_types=down,
        layers_per_block=lpb.pop(),
        cross_attention_dim=int(cross),
        conditioning_embedding_out_channels=tuple(emb),
    ).validate()


def ldm_table(cfg: ControlNetConfig, hint: Sequence[int]):
    """(ldm, ours, kind) prefix rows: the UNet's down half (convert_ldm) plus the ControlNet's own modules.
    ``hint`` holds the input_hint_block conv indices (0, 2, .., 14 for SD1.5)."""
    table = [r for r in unet_prefix_table(cfg.unet_config()) if not r[0].startswith(("output_blocks.", "out."))]
    table += [(f"input_hint_block.{hint[0]}.", "controlnet_cond_embedding.conv_in.", "plain"),
              (f"input_hint_block.{hint[-1]}.", "controlnet_cond_embedding.conv_out.", "plain")]
    table += [(f"input_hint_block.{i}.", f"controlnet_cond_embedding.blocks.{k}.", "plain") for k, i in enumerate(hint[1:-1])]
    table += [(f"zero_convs.{k}.0.", f"controlnet_down_blocks.{k}.", "plain") for k in range(cfg.num_down_residuals)]
    table.append(("middle_block_out.0.", "controlnet_mid_block.", "plain"))
    return table


def ldm_to_ours(sd: Mapping[str, torch.Tensor], cfg: ControlNetConfig, path: str) -> "OrderedDict[str, torch.Tensor]":
    return _apply(sd, ldm_table(cfg, _hint_indices(sd)), 0, 1, f"{path}: ControlNet")


def ours_to_ldm(sd: Mapping[str, torch.Tensor], cfg: ControlNetConfig) -> "OrderedDict[str, torch.Tensor]":
    """Our names -> the original layout (without ``control_model.``); tests and conversions back."""
    hint = [2 * k for k in range(2 * len(cfg.conditioning_embedding_out_channels))]
    return _apply(sd, ldm_table(cfg, hint), 1, 0, "ControlNet")


def load_controlnet_weights(path: str) -> Tuple[ControlNetConfig, "OrderedDict[str, torch.Tensor]", str]:
    """(config, our state dict, format) of a diffusers folder or an original single file."""
    if not os.path.exists(path):
        raise WeightsError(f"--controlnet {path}: no such file or directory")
    if os.path.isdir(path):
        raw, sd = load_component(path)
        return config_from_diffusers(raw, os.path.join(path, "config.json")), OrderedDict(sd), "diffusers"
    return ldm_weights(load_state_dict(path), path)


def ldm_weights(raw: Mapping[str, torch.Tensor], path: str) -> Tuple[ControlNetConfig, "OrderedDict[str, torch.Tensor]", str]:
    """(config, our state dict, "ldm") of a loaded original-layout ControlNet file."""
    sd = _strip_ldm(raw, path)
    cfg = infer_ldm_config(sd, path)
    return cfg, ldm_to_ours(sd, cfg, path), "ldm"


def build_controlnet(cfg: ControlNetConfig, sd: Mapping[str, torch.Tensor], what: str) -> ControlNetBase:
    """A ControlNetModel, or a SparseControlNetModel for a SparseControlNetConfig, holding ``sd`` (strictly)."""
    cls = SparseControlNetModel if isinstance(cfg, SparseControlNetConfig) else ControlNetModel
    with no_weight_init():
        model = cls(cfg)
    return load_into(model, sd, what)


def _probe(model: ControlNetBase, b: int, f: int, h: int, w: int, device, dtype):
    cfg = model.config
    g = torch.Generator().manual_seed(77)
    sample = torch.randn(b, cfg.in_channels, f, h, w, generator=g).to(device=device, dtype=dtype)
    t = torch.tensor([981, 1][:b], dtype=torch.int64, device=device)
    text = torch.randn(b, 77, cfg.cross_attention_dim, generator=g).to(device=device, dtype=dtype)
    if not isinstance(model, SparseControlNetModel):
        cond = torch.rand(b, cfg.conditioning_channels, f, 8 * h, 8 * w, generator=g).to(device=device, dtype=dtype)
        return sample, t, text, cond
    s = 1 if cfg.use_simplified_condition_embedding else 8
    cond = torch.randn(1, cfg.conditioning_channels, f, s * h, s * w, generator=g).to(device=device, dtype=dtype)
    mask = torch.zeros(1, 1, f, s * h, s * w, dtype=dtype, device=device)
    mask[:, :, 0] = 1
    return sample, t, text, cond * mask, mask


def verify_controlnet(eager: ControlNetBase, scripted, device, dtype) -> None:
    tol_base = 1e-4 if dtype == torch.float32 else 2e-2
    with torch.no_grad():
        for (b, f, h, w), scale, guess in (((1, 2, 8, 8), 1.0, False), ((2, 3, 5, 7), 0.5, True)):
            args = _probe(eager, b, f, h, w, device, dtype)
            ref, got = eager(*args, scale, guess), scripted(*args, scale, guess)
            for k, (r, g) in enumerate(zip(ref, got)):
                diff = float((r.float() - g.float()).abs().max())
                tol = tol_base * max(1.0, float(r.float().abs().max()))
                if r.shape != g.shape or not diff <= tol:
                    raise ExportError(f"controlnet residual {k} at B={b} F={f} {h}x{w}: scripted differs from eager by {diff:.3g}")


def _manifest_fields(model: ControlNetBase) -> Dict[str, Any]:
    cfg = model.config
    if not isinstance(cfg, SparseControlNetConfig):
        return {"kind": "controlnet"}
    return {
        "kind": "sparsectrl",
        # RGB SparseCtrl takes VAE latents of the keyframes, scribble takes their pixels
        "condition": "latents" if cfg.use_simplified_condition_embedding else "pixels",
        "concat_conditioning_mask": cfg.concat_conditioning_mask,
        "max_frames": cfg.motion_max_seq_length,
        "numerics": cfg.numerics,
    }


def export_controlnet(
    model: ControlNetBase,
    out_dir: str,
    dtype: Union[str, torch.dtype] = torch.float32,
    device: Union[str, torch.device] = "cpu",
    name: Optional[str] = None,
    verify: bool = True,
    source: Optional[Mapping[str, Any]] = None,
    log: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Scripts ``model`` (converted in place to ``dtype`` on ``device``) into ``out_dir``; returns the manifest."""
    say = log or (lambda msg: None)
    dt, dev = parse_dtype(dtype), torch.device(device)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, CONTROLNET_MANIFEST)
    if os.path.exists(manifest_path):
        os.unlink(manifest_path)
    for p in model.parameters():
        p.requires_grad_(False)
    model = model.to(device=dev, dtype=dt).eval()
    say("controlnet: scripting")
    scripted = torch.jit.script(model)
    if verify and can_run(dt, dev):
        verify_controlnet(model, scripted, dev, dt)
    atomic_jit_save(scripted, os.path.join(out_dir, CONTROLNET_FILE))
    cfg = model.config
    atomic_write_json(os.path.join(out_dir, CONTROLNET_CONFIG_FILE), config_dict(cfg))
    fields = _manifest_fields(model)
    manifest: Dict[str, Any] = {
        "name": name or os.path.basename(out_dir.rstrip(os.sep)) or "controlnet",
        "family": FAMILY,
        "kind": fields.pop("kind"),
        "dtype": dtype_name(dt),
        "file": CONTROLNET_FILE,
        "format": "torchscript",
        "in_channels": cfg.in_channels,
        "conditioning_channels": cfg.conditioning_channels,
        "cross_attention_dim": cfg.cross_attention_dim,
        "residual_channels": residual_channels(cfg),
        "global_pool_conditions": cfg.global_pool_conditions,
        **fields,
        "files": {rel: file_entry(out_dir, rel) for rel in (CONTROLNET_FILE, CONTROLNET_CONFIG_FILE)},
        "animatorch_export_version": EXPORT_VERSION,
        "export": {"torch_version": str(torch.__version__), "package_version": PACKAGE_VERSION, "device": str(dev)},
    }
    if source:
        manifest["source"] = dict(source)
    header = "# animatorch ControlNet manifest (written by scripts/animatorch_export/controlnet_export.py)\n"
    atomic_write_text(manifest_path, header + _yaml_dump(manifest))
    say(f"wrote {manifest_path}")
    return manifest
