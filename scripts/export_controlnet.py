#!/usr/bin/python3
"""The ControlNet export command (what ``animatorch export --controlnet`` runs): a ControlNet or an AnimateDiff
SparseCtrl -> a folder with ``controlnet.yaml`` and a TorchScript ``model.pt`` that generate({ controlnet }) loads.

    /usr/bin/python3 scripts/export_controlnet.py --controlnet control_v11p_sd15_canny.pth --out models/canny
    /usr/bin/python3 scripts/export_controlnet.py --controlnet lllyasviel-sd-controlnet-canny/ --out models/canny
    /usr/bin/python3 scripts/export_controlnet.py --controlnet v3_sd15_sparsectrl_rgb.ckpt --out models/sparsectrl-rgb
    /usr/bin/python3 scripts/export_controlnet.py --random-tiny --seed 0 --out DIR     (tests: a random tiny ControlNet)
    /usr/bin/python3 scripts/export_controlnet.py --random-tiny-sparse rgb --seed 0 --out DIR   (tests: SparseCtrl)

Inputs: a diffusers ControlNetModel folder, or one .safetensors/.pth/.ckpt in the original ControlNet
1.0/1.1 layout (see animatorch_export/controlnet_export.py); SparseCtrl as the original AnimateDiff v3
.ckpt or a diffusers SparseControlNetModel folder (animatorch_export/sparse_controlnet_load.py). Weights
are loaded strictly; pickles are read weights-only (nothing but tensors is accepted, no pickle code runs).
--numerics (SparseCtrl only) picks the motion modules' GroupNorm as for the model (export_animatediff.py).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from animatorch_export.controlnet import ControlNetConfig, ControlNetModel  # noqa: E402
from animatorch_export.configs import NUMERICS  # noqa: E402
from animatorch_export.controlnet_export import build_controlnet, export_controlnet  # noqa: E402
from animatorch_export.sparse_controlnet import SparseControlNetConfig, SparseControlNetModel  # noqa: E402
from animatorch_export.sparse_controlnet_load import load_any_controlnet  # noqa: E402
from animatorch_export.errors import ExportError  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.weights import WeightsError  # noqa: E402


def random_tiny_controlnet(seed: int) -> ControlNetModel:
    """The tests' ControlNet: ControlNetConfig.tiny() (fits the tiny presets) with seeded random weights."""
    return randomize_weights_(ControlNetModel(ControlNetConfig.tiny()), seed).eval()


def random_tiny_sparsectrl(kind: str, seed: int, numerics: str = "animatediff") -> SparseControlNetModel:
    """The tests' SparseCtrl: RGB (VAE latents + mask) or scribble (pixels + mask), fitting the tiny presets."""
    extra = {} if kind == "rgb" else {"use_simplified_condition_embedding": False, "conditioning_channels": 3}
    return randomize_weights_(SparseControlNetModel(SparseControlNetConfig.tiny(numerics=numerics, **extra)), seed).eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--controlnet", help="diffusers ControlNetModel folder or original .safetensors/.pth/.ckpt")
    src.add_argument("--random-tiny", action="store_true", help="a random tiny ControlNet (tests)")
    src.add_argument("--random-tiny-sparse", choices=["rgb", "scribble"], help="a random tiny SparseCtrl (tests)")
    ap.add_argument("--seed", type=int, default=0, help="with --random-tiny / --random-tiny-sparse")
    ap.add_argument("--numerics", choices=NUMERICS, default=None,
                    help="SparseCtrl: motion-module GroupNorm of the original AnimateDiff (default) or of diffusers")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--name", default=None)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-verify", action="store_true", help="skip the scripted-vs-eager comparison")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        numerics = args.numerics or "animatediff"
        if args.random_tiny:
            if args.numerics:
                raise ValueError("--numerics applies to SparseCtrl only")
            model, source = random_tiny_controlnet(args.seed), {"random_tiny_seed": args.seed}
        elif args.random_tiny_sparse:
            model = random_tiny_sparsectrl(args.random_tiny_sparse, args.seed, numerics)
            source = {"random_tiny_seed": args.seed, "sparsectrl": args.random_tiny_sparse}
        else:
            log(f"reading {args.controlnet}")
            cfg, sd, fmt = load_any_controlnet(args.controlnet, numerics)
            if args.numerics and not isinstance(cfg, SparseControlNetConfig):
                raise ValueError("--numerics applies to SparseCtrl only (a ControlNet has no motion modules)")
            kind = "SparseCtrl" if isinstance(cfg, SparseControlNetConfig) else "ControlNet"
            model = build_controlnet(cfg, sd, f"{args.controlnet}: {kind}")
            source = {"path": os.path.basename(os.path.normpath(args.controlnet)), "format": fmt}
        export_controlnet(model, args.out, dtype=args.dtype, device=args.device, name=args.name,
                          verify=not args.no_verify, source=source, log=log)
    except (WeightsError, ExportError, FileNotFoundError, ValueError) as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
