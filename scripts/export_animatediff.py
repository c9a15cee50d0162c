#!/usr/bin/python3
"""The export command (what ``animatorch export`` runs): checkpoint files -> an animatorch model
folder (TorchScript + model.yaml). It reads and converts the weights; the library function it ends
with, ``animatorch_export.torchscript_export.export_model``, scripts modules already holding them.

    /usr/bin/python3 scripts/export_animatediff.py \\
        --base runwayml-stable-diffusion-v1-5/        (diffusers folder, or single-file .safetensors/.ckpt) \\
        --motion-module mm_sd_v15_v2.ckpt             (AnimateDiff .ckpt/.safetensors or a MotionAdapter folder) \\
        [--motion-lora v2_lora_ZoomIn.ckpt:0.8]...    (MotionLoRAs, alpha default 1.0) \\
        [--lora style.safetensors:0.8]...             (kohya image LoRAs, alpha default 0.8) \\
        [--adapter-lora v3_sd15_adapter.ckpt:1.0]     (v3 domain adapter, alpha default 1.0) \\
        [--numerics animatediff|diffusers] [--dtype float32|float16|bfloat16] [--device cpu|cuda] \\
        --out models/my-model [--name my-model]

Steps: read the base model (diffusers config.json, or SD1.5 presets + shapes inferred from a
single file), read the motion module and detect its version (v1/v2/v3), merge LoRAs in the
original AnimateDiff order (image LoRA, adapter, MotionLoRAs: ``W += alpha * up @ down``), load
everything STRICTLY into our modules (any missing/unexpected/mis-shaped key is an error that lists
them), then script and write the folder with torchscript_export.export_model.

Weight files are read with our safetensors reader or torch.load(weights_only=True): pickles that
need anything but tensors are refused, never executed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from animatorch_export import convert_diffusers as cd  # noqa: E402
from animatorch_export import convert_ldm as cl  # noqa: E402
from animatorch_export import lora as lo  # noqa: E402
from animatorch_export.configs import ATTENTION_BACKENDS, NUMERICS, CLIPTextConfig, UNet3DConfig, VAEConfig  # noqa: E402
from animatorch_export.motion_checkpoint import MotionModuleWeights, from_diffusers_converted, load_motion_module  # noqa: E402
from animatorch_export.weights import WeightsError, format_keys, load_into, load_state_dict, no_weight_init  # noqa: E402

__all__ = ["main", "load_base", "build_models", "export_animatediff"]


class UsageError(ValueError):
    pass


def _log(quiet: bool):
    return (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))


def load_base(path: str) -> Dict:
    """Base model -> dict(unet, vae, text_encoder state dicts; unet_config/vae_config/text_config
    as keyword arguments of our dataclasses; optional motion*; warnings; format)."""
    if not os.path.exists(path):
        raise UsageError(f"--base {path}: no such file or directory")
    if os.path.isdir(path):
        if not cd.is_diffusers_pipeline(path):
            raise UsageError(
                f"--base {path}: a directory but not a diffusers pipeline folder (expected unet/, vae/ and "
                "text_encoder/ subfolders, each with config.json and weights)"
            )
        res = cd.load_diffusers_pipeline(path)
        res["format"] = "diffusers"
        return res
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".safetensors", ".ckpt", ".pt", ".pth", ".bin"):
        raise UsageError(f"--base {path}: expected a diffusers folder or a .safetensors/.ckpt single file")
    sd = load_state_dict(path)
    res = cl.convert_ldm_checkpoint(sd, path=path)
    res["unet_config"] = cd.unet_config_from_diffusers(res["unet_config"], path)
    res["vae_config"] = cd.vae_config_from_diffusers(res["vae_config"], path)
    res["text_config"] = cd.text_config_from_diffusers(res["text_config"], path)
    res["format"] = "ldm-single-file"
    return res


def load_motion(path: Optional[str], base: Dict, version: Optional[str]) -> MotionModuleWeights:
    if path is not None:
        if not os.path.exists(path):
            raise UsageError(f"--motion-module {path}: no such file or directory")
        return load_motion_module(path, version=version)
    if "motion" in base:
        # UNetMotionModel / AnimateDiffPipeline folder: weights already in our names
        return from_diffusers_converted(
            base["motion"], base.get("motion_pe_lengths") or {}, base.get("motion_config") or {},
            base["motion_source"], version,
        )
    raise UsageError("a motion module is required: pass --motion-module PATH (AnimateDiff .ckpt/.safetensors "
                     "or a diffusers MotionAdapter folder)")


def build_configs(base: Dict, motion: MotionModuleWeights, numerics: str, attention_backend: str):
    try:
        ucfg = UNet3DConfig().replace(
            **base["unet_config"], **motion.config_overrides(), numerics=numerics, attention_backend=attention_backend
        )
        vcfg = VAEConfig(**base["vae_config"], attention_backend=attention_backend).validate()
        tcfg = CLIPTextConfig(**base["text_config"], attention_backend=attention_backend).validate()
    except (TypeError, ValueError) as e:
        raise WeightsError(f"the base model's configuration is not supported: {e}") from None
    return ucfg, vcfg, tcfg


def merge_loras(
    unet_sd: Dict,
    text_sd: Dict,
    ucfg: UNet3DConfig,
    image_loras: List[Tuple[str, float]],
    adapter_loras: List[Tuple[str, float]],
    motion_loras: List[Tuple[str, float]],
    log,
) -> List[Dict]:
    """Merge in the original order: image LoRAs, domain adapter, MotionLoRAs. Returns a record."""
    done = []
    for kind, items in (("lora", image_loras), ("adapter_lora", adapter_loras), ("motion_lora", motion_loras)):
        for path, alpha in items:
            if not os.path.isfile(path):
                raise UsageError(f"--{kind.replace('_', '-')} {path}: no such file")
            sd = lo.load_lora_file(path)
            fmt = lo.detect_lora_format(sd, path)
            if kind == "motion_lora" and fmt == "processor" and not any("motion_modules." in k for k in sd):
                log(f"note: {path} targets no motion module (is it an adapter/image LoRA?)")
            if fmt == "processor":
                merged = lo.merge_processor_lora(unet_sd, sd, alpha, what=path)
                n = len(merged)
            else:
                res = lo.merge_kohya_lora(unet_sd, text_sd, sd, alpha, unet_config=ucfg, what=path)
                n = len(res["unet"]) + len(res["text_encoder"])
            log(f"{kind}: merged {n} weights from {path} (alpha {alpha:g}, {fmt} format)")
            done.append({"kind": kind, "path": os.path.abspath(path), "alpha": float(alpha), "format": fmt, "weights": n})
    return done


def build_models(ucfg, vcfg, tcfg, unet_sd, vae_sd, text_sd, device: str, dtype: torch.dtype):
    """Our modules with every weight loaded strictly (construction skips random init)."""
    from animatorch_export.clip_text import CLIPTextModel
    from animatorch_export.unet3d import UNet3DConditionModel
    from animatorch_export.vae import AutoencoderKL

    with no_weight_init():
        unet = UNet3DConditionModel(ucfg, device=device, dtype=dtype)
    load_into(unet, unet_sd, "UNet (base model + motion module)")
    with no_weight_init():
        vae = AutoencoderKL(vcfg, device=device, dtype=dtype)
    load_into(vae, vae_sd, "VAE")
    with no_weight_init():
        text = CLIPTextModel(tcfg, device=device, dtype=dtype)
    load_into(text, text_sd, "text encoder")
    return unet.eval(), vae.eval(), text.eval()


def export_animatediff(args, log=None) -> Dict:
    from animatorch_export.dtypes import parse_dtype
    from animatorch_export.torchscript_export import export_model

    log = log or _log(False)
    t0 = time.time()
    dtype = parse_dtype(args.dtype)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available in this torch build / machine")

    log(f"base: {args.base}")
    base = load_base(args.base)
    for w in base.get("warnings", []):
        log("warning: " + w)
    motion = load_motion(args.motion_module, base, args.motion_version)
    if args.motion_module is not None and "motion" in base:
        log(f"note: --motion-module replaces the motion modules found in {base['motion_source']}")
    log(f"motion module: {motion.path} ({motion.source} layout, {motion.version}, "
        f"{'with' if motion.has_mid_block else 'no'} mid-block module, pe length {motion.pe_length})")
    if motion.ignored_keys:
        log(f"note: ignored {len(motion.ignored_keys)} non-motion keys of the motion file "
            f"({format_keys(motion.ignored_keys, 5)})")

    ucfg, vcfg, tcfg = build_configs(base, motion, args.numerics, args.attention_backend)

    unet_sd = OrderedDict(base["unet"])
    clash = set(unet_sd) & set(motion.state_dict)
    if clash:
        raise WeightsError(f"the base UNet already holds motion-module keys ({format_keys(clash)})")
    unet_sd.update(motion.state_dict)
    text_sd = OrderedDict(base["text_encoder"])
    vae_sd = base["vae"]

    parse = lo.parse_path_alpha
    loras = merge_loras(
        unet_sd,
        text_sd,
        ucfg,
        [parse(a, lo.DEFAULT_IMAGE_LORA_ALPHA) for a in args.lora],
        [parse(a, lo.DEFAULT_ADAPTER_LORA_ALPHA) for a in args.adapter_lora],
        [parse(a, lo.DEFAULT_MOTION_LORA_ALPHA) for a in args.motion_lora],
        log,
    )

    build_device = args.device
    log(f"building modules ({args.dtype} on {build_device}) and loading weights strictly")
    unet, vae, text = build_models(ucfg, vcfg, tcfg, unet_sd, vae_sd, text_sd, build_device, dtype)
    del unet_sd, text_sd, vae_sd, base

    extra = {
        "sources": {
            "base": {"path": os.path.abspath(args.base), "format": "diffusers" if os.path.isdir(args.base) else "ldm-single-file"},
            "motion_module": {
                "path": os.path.abspath(motion.path),
                "format": motion.source,
                "version": motion.version,
                "pe_length": motion.pe_length,
            },
            "loras": loras,
        }
    }
    manifest = export_model(
        unet,
        vae,
        text,
        args.out,
        dtype=dtype,
        device=args.device,
        name=args.name,
        verify=not args.no_verify,
        mapped_weights=args.mapped_weights,
        extra_manifest=extra,
        log=log,
    )
    log(f"done in {time.time() - t0:.1f}s: {os.path.join(os.path.abspath(args.out), 'model.yaml')}")
    return manifest


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="export_animatediff.py",
        description="Export AnimateDiff weights (SD1.5 base + motion module + LoRAs) to an animatorch model folder.",
    )
    ap.add_argument("--base", required=True, help="diffusers pipeline folder or single-file .safetensors/.ckpt")
    ap.add_argument("--motion-module", default=None,
                    help="AnimateDiff motion module (.ckpt/.safetensors) or diffusers MotionAdapter folder "
                         "(optional when --base is an AnimateDiff diffusers folder)")
    ap.add_argument("--motion-version", default=None, choices=["v1", "v2", "v3"],
                    help="override the detected motion module version (needed only for files without pe tables)")
    ap.add_argument("--motion-lora", action="append", default=[], metavar="PATH[:alpha]",
                    help=f"MotionLoRA (repeatable; alpha default {lo.DEFAULT_MOTION_LORA_ALPHA})")
    ap.add_argument("--lora", action="append", default=[], metavar="PATH[:alpha]",
                    help=f"kohya image LoRA (repeatable; alpha default {lo.DEFAULT_IMAGE_LORA_ALPHA}; .alpha entries ignored as in AnimateDiff)")
    ap.add_argument("--adapter-lora", action="append", default=[], metavar="PATH[:alpha]",
                    help=f"v3 domain adapter LoRA (alpha default {lo.DEFAULT_ADAPTER_LORA_ALPHA})")
    ap.add_argument("--numerics", default="animatediff", choices=NUMERICS)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--attention-backend", default="auto", choices=ATTENTION_BACKENDS)
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--name", default=None, help="model name in model.yaml (default: the folder name)")
    ap.add_argument("--no-verify", action="store_true", help="skip the scripted-vs-eager comparison")
    ap.add_argument("--mapped-weights", action=argparse.BooleanOptionalAction, default=True,
                    help="UNet weights in unet/model.weights.bin, memory-mapped and released block by block on CPU: "
                    "a render holds one UNet block's weights, not all of them (default; --no-mapped-weights keeps "
                    "them in unet/model.pt)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    if not (args.device == "cpu" or args.device.startswith("cuda")):
        ap.error(f"--device must be cpu or cuda[:N], got {args.device!r}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    log = _log(args.quiet)
    try:
        export_animatediff(args, log)
    except (UsageError, WeightsError, FileNotFoundError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # ExportError and friends
        if args.debug:
            raise
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
