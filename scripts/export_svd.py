#!/usr/bin/python3
"""Stable Video Diffusion export (what ``animatorch export --svd`` runs): a diffusers SVD / SVD-XT
folder -> an animatorch model folder (TorchScript + model.yaml, ``family: svd``).

    python3 scripts/export_svd.py --svd stable-video-diffusion-img2vid-xt/ --out models/svd-xt \\
        [--dtype float32|float16|bfloat16] [--device cpu|cuda] [--attention-backend auto|math|sdpa]

    python3 scripts/export_svd.py --tiny-random SEED --out DIR     (tiny random SVD-shaped model, for tests)

The modules are our own (scripts/animatorch_export/svd_unet.py, svd_vae.py, clip_vision.py), loaded
strictly from the folder's safetensors (or weights-only pickles).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from animatorch_export.attention import resolve_backend  # noqa: E402
from animatorch_export.clip_vision import CLIPVisionModelWithProjection  # noqa: E402
from animatorch_export.errors import ExportError  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.svd_configs import CLIPVisionConfig, SVDUNetConfig, TemporalVAEConfig  # noqa: E402
from animatorch_export.svd_export import export_svd_model, load_svd_folder  # noqa: E402
from animatorch_export.svd_unet import UNetSpatioTemporalConditionModel  # noqa: E402
from animatorch_export.svd_vae import AutoencoderKLTemporalDecoder  # noqa: E402
from animatorch_export.weights import WeightsError  # noqa: E402


def tiny_random_models(seed: int, attention_backend: str = "auto"):
    """The tiny SVD-shaped models of the tests and of scripts/reference/stable_video_diffusion.py."""
    unet = randomize_weights_(UNetSpatioTemporalConditionModel(SVDUNetConfig.tiny(attention_backend=attention_backend)), seed)
    vae = randomize_weights_(AutoencoderKLTemporalDecoder(TemporalVAEConfig.tiny(attention_backend=attention_backend)), seed + 1)
    enc = randomize_weights_(CLIPVisionModelWithProjection(CLIPVisionConfig.tiny(attention_backend=attention_backend)), seed + 2)
    return unet.eval(), vae.eval(), enc.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--svd", help="diffusers StableVideoDiffusionPipeline folder (unet/, vae/, image_encoder/, scheduler/)")
    src.add_argument("--tiny-random", type=int, metavar="SEED", help="export a tiny random SVD-shaped model (tests)")
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--attention-backend", default="auto", choices=["auto", "math", "sdpa"])
    ap.add_argument("--name", default=None, help="model name in model.yaml (default: the folder name)")
    ap.add_argument("--no-verify", action="store_true", help="skip the scripted-vs-eager comparison")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.time()
    try:
        resolve_backend(args.attention_backend)
        if args.svd is not None:
            unet, vae, enc, scheduler, mean, std = load_svd_folder(args.svd, args.attention_backend, log)
            name = args.name
        else:
            unet, vae, enc = tiny_random_models(args.tiny_random, args.attention_backend)
            scheduler, mean, std = None, None, None
            name = args.name or f"random-svd-tiny-seed{args.tiny_random}"
        manifest = export_svd_model(unet, vae, enc, args.out, scheduler, mean, std, dtype=args.dtype, device=args.device,
                                    name=name, verify=not args.no_verify, log=log)
    except (ExportError, WeightsError, ValueError, FileNotFoundError, RuntimeError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    log(f"done in {time.time() - t0:.1f}s: {manifest['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
