#!/usr/bin/python3
"""Our UNet against diffusers' UNetMotionModel: same random weights, same input; numerics and speed.

    VENV/bin/python scripts/compare_diffusers.py \\
        [--preset sd15-v2] [--device cuda] [--dtype float16] [--frames 16] [--size 512] \\
        [--reps 10] [--compile] [--attention-backend auto] [--json report.json]

diffusers is not a dependency of the package and is never downloaded at run time. Run it with the
venv of scripts/requirements-torch2.txt (diffusers pinned there), or on Debian's torch 1.13 with a
diffusers checkout's ``src/`` on PYTHONPATH (it needs huggingface_hub, safetensors, regex, requests,
filelock, Pillow).

What it does:
1. builds our ``UNet3DConditionModel`` for the preset (``--numerics diffusers``) with the seeded
   random weights that ``export_random_model.py`` gives (every weight non-zero, motion modules
   included), then diffusers' ``UNet2DConditionModel`` + ``MotionAdapter`` -> ``UNetMotionModel``
   of the same shape, and loads the same weights into it (our names -> diffusers names);
2. runs both on one input (guidance batch ``--batch``, ``--frames``, ``--size`` pixels) and prints
   the largest difference;
3. times diffusers eager, diffusers ``torch.compile`` (``--compile``; compile time reported) and our
   TorchScript file as the addon loads it (scripted, saved, ``torch.jit.load``ed), each the median
   of ``--reps`` calls after warm-up, with peak CUDA memory per runner on a GPU.

The addon side (the exported file, Node against Python) is ``bench/unet-step.mjs``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import OrderedDict
from typing import Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from animatorch_export import convert_diffusers as cd  # noqa: E402
from animatorch_export.configs import ATTENTION_BACKENDS, PRESET_NAMES, UNet3DConfig, get_preset  # noqa: E402
from animatorch_export.dtypes import parse_dtype  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.torchscript_export import script  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402
from animatorch_export.weights import format_keys  # noqa: E402

# our block names -> UNet2DConditionModel's: the inverse of the importer's mapping
_TO_2D = {ours: theirs for theirs, ours in cd._BLOCK_TYPES.items() if theirs.endswith("2D")}


def import_diffusers():
    try:
        import diffusers  # noqa: F401
        from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
    except ImportError as e:
        raise SystemExit(
            f"error: diffusers is not importable ({e}). Use the venv of scripts/requirements-torch2.txt, or put "
            "a diffusers checkout's src/ on PYTHONPATH (its own needs: huggingface_hub, safetensors, regex, "
            "requests, filelock, Pillow)."
        ) from None
    return diffusers.__version__, UNet2DConditionModel, MotionAdapter, UNetMotionModel


def diffusers_unet(cfg: UNet3DConfig, UNet2DConditionModel, MotionAdapter, UNetMotionModel):
    """A UNetMotionModel with the shape of our config (weights still diffusers' random init)."""
    unet2d = UNet2DConditionModel(
        sample_size=cfg.sample_size,
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels,
        down_block_types=tuple(_TO_2D[t] for t in cfg.down_block_types),
        up_block_types=tuple(_TO_2D[t] for t in cfg.up_block_types),
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups,
        norm_eps=cfg.norm_eps,
        cross_attention_dim=cfg.cross_attention_dim,
        attention_head_dim=cfg.attention_head_dim,  # legacy meaning in both: the number of heads
        flip_sin_to_cos=cfg.flip_sin_to_cos,
        freq_shift=cfg.freq_shift,
    )
    adapter = MotionAdapter(
        block_out_channels=tuple(cfg.block_out_channels),
        motion_layers_per_block=cfg.layers_per_block,
        motion_num_attention_heads=cfg.motion_num_attention_heads,
        motion_norm_num_groups=cfg.norm_num_groups,
        motion_max_seq_length=cfg.motion_max_seq_length,
        use_motion_mid_block=cfg.motion_module_mid_block,
    )
    return UNetMotionModel.from_unet2d(unet2d, adapter)


def diffusers_vae(ours_vae, v, AutoencoderKL):
    """diffusers' AutoencoderKL of VAEConfig ``v`` holding our VAE's weights (diffusers names already)."""
    n = len(v.block_out_channels)
    vae = AutoencoderKL(in_channels=v.in_channels, out_channels=v.out_channels, latent_channels=v.latent_channels,
                        block_out_channels=tuple(v.block_out_channels), layers_per_block=v.layers_per_block,
                        norm_num_groups=v.norm_num_groups, sample_size=v.sample_size, scaling_factor=v.scaling_factor,
                        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n)
    ours_sd = {k: t for k, t in ours_vae.state_dict().items() if not k.split(".")[-2:-1] == ["core"]}
    missing, unexpected = vae.load_state_dict(ours_sd, strict=False)
    if missing or unexpected:
        raise SystemExit(f"error: VAE weights do not map onto diffusers' AutoencoderKL: missing {missing[:5]}; unexpected {unexpected[:5]}")
    return vae.eval()


def per_frame_context(Motion, ctx: torch.Tensor, frames: int) -> torch.Tensor:
    """The encoder_hidden_states UNetMotionModel.forward wants: diffusers up to ~0.3x repeated
    them per frame inside forward; later versions leave that to the pipeline
    (AnimateDiffPipeline repeats prompt_embeds with repeat_interleave(num_frames))."""
    import inspect

    if "encoder_hidden_states.repeat_interleave" in inspect.getsource(Motion.forward):
        return ctx
    return ctx.repeat_interleave(frames, dim=0)


def ours_to_diffusers(sd: Dict[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    spatial, motion = cd.split_unet_motion(sd)
    out = OrderedDict(spatial)  # spatial names are diffusers' already
    out.update(cd.motion_ours_to_diffusers(motion))
    return out


def load_same_weights(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    missing, unexpected = theirs.load_state_dict(ours_to_diffusers(ours.state_dict()), strict=False)
    # pos_embed.pe is a buffer diffusers computes at construction with the formula ours uses.
    missing = [k for k in missing if not k.endswith("pos_embed.pe")]
    if missing or unexpected:
        raise SystemExit(f"error: weights do not map onto diffusers' UNetMotionModel: missing "
                         f"{format_keys(missing)}; unexpected {format_keys(unexpected)}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runner(fn: Callable[[], torch.Tensor], device: torch.device, reps: int, warmup: int = 2) -> Dict[str, float]:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        fn()
    sync(device)
    times: List[float] = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    res = {"ms": statistics.median(times), "ms_min": min(times)}
    if device.type == "cuda":
        res["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="compare_diffusers.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny-v2", choices=PRESET_NAMES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"],
                    help="default: float16 on CUDA, float32 on CPU")
    ap.add_argument("--batch", type=int, default=2, help="2 = one prompt with classifier-free guidance")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=None, help="pixels (default: 512 for sd15, 64 for tiny)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--compile", action="store_true", help="also time diffusers under torch.compile (torch >= 2)")
    ap.add_argument("--attention-backend", default="auto", choices=ATTENTION_BACKENDS)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)

    if args.compile and not hasattr(torch, "compile"):
        ap.error(f"--compile needs torch >= 2.0 (this is {torch.__version__})")
    version, UNet2D, Adapter, Motion = import_diffusers()
    device = torch.device(args.device)
    dtype = parse_dtype(args.dtype or ("float16" if device.type == "cuda" else "float32"))
    size = args.size or (512 if args.preset.startswith("sd15") else 64)
    if size % 8:
        ap.error("--size must be a multiple of 8")

    cfg = get_preset(args.preset, numerics="diffusers", attention_backend=args.attention_backend).unet
    ours = randomize_weights_(UNet3DConditionModel(cfg), args.seed)
    theirs = diffusers_unet(cfg, UNet2D, Adapter, Motion)
    load_same_weights(ours, theirs)
    ours = ours.to(device=device, dtype=dtype).eval()
    theirs = theirs.to(device=device, dtype=dtype).eval()

    g = torch.Generator().manual_seed(args.seed + 1)
    h = size // 8
    sample = torch.randn(args.batch, cfg.in_channels, args.frames, h, h, generator=g).to(device, dtype)
    t = torch.full((args.batch,), 500, dtype=torch.int64, device=device)
    ctx = torch.randn(args.batch, 77, cfg.cross_attention_dim, generator=g).to(device, dtype)
    their_ctx = per_frame_context(Motion, ctx, args.frames)

    with tempfile.TemporaryDirectory(prefix="animatorch-compare-") as tmp:
        path = os.path.join(tmp, "unet.pt")
        script(ours).save(path)
        scripted = torch.jit.load(path, map_location=device)

    runners = {
        f"diffusers {version} eager": lambda: theirs(sample, t, encoder_hidden_states=their_ctx).sample,
        "animatorch TorchScript (the file the addon loads)": lambda: scripted(sample, t, ctx),
    }
    report: Dict = {"preset": args.preset, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
                    "batch": args.batch, "frames": args.frames, "size": size, "torch": torch.__version__,
                    "diffusers": version, "runners": {}}
    with torch.inference_mode():
        ref = theirs(sample, t, encoder_hidden_states=their_ctx).sample.float()
        got = scripted(sample, t, ctx).float()
        diff = float((ref - got).abs().max())
        report["max_abs_diff"] = diff
        report["max_abs_ref"] = float(ref.abs().max())
        if args.compile:
            compiled = torch.compile(theirs)
            t0 = time.perf_counter()
            compiled(sample, t, encoder_hidden_states=their_ctx)
            sync(device)
            report["compile_s"] = time.perf_counter() - t0
            runners["diffusers torch.compile"] = lambda: compiled(sample, t, encoder_hidden_states=their_ctx).sample
        for name, fn in runners.items():
            report["runners"][name] = time_runner(fn, device, args.reps)

    print(f"\nUNet step, {args.preset} random weights (seed {args.seed}), {report['dtype']} on {device}, batch {args.batch}, "
          f"{args.frames} frames, {size}x{size}; torch {torch.__version__}, diffusers {version}")
    print(f"numerics: max |ours - diffusers| = {diff:.3g} (max |diffusers| = {report['max_abs_ref']:.3g})")
    if "compile_s" in report:
        print(f"torch.compile: first call {report['compile_s']:.1f} s")
    peak = device.type == "cuda"
    print("| runner | ms/step (median) | min |" + (" peak GiB |" if peak else ""))
    print("| --- | ---: | ---: |" + (" ---: |" if peak else ""))
    for name, r in report["runners"].items():
        print(f"| {name} | {r['ms']:.1f} | {r['ms_min']:.1f} |" + (f" {r['peak_gib']:.2f} |" if peak else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
