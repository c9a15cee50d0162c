#!/usr/bin/python3
"""Export a RANDOMLY initialised AnimateDiff model (tiny presets for tests) + reference outputs.

    /usr/bin/python3 scripts/export_random_model.py --preset tiny-v2 --seed 0 --out DIR [--numerics diffusers]

Writes the normal export layout (model.yaml, unet/model.pt, vae/decoder.pt, vae/encoder.pt,
text_encoder/model.pt, scheduler/scheduler_config.json, */config.json) and ``reference.json``:
fixed inputs and the outputs of the exported TorchScript files, so the Node tests can
load the same files, feed the same inputs and compare (see reference.compute_reference).
Same preset + seed -> same weights and same reference on any machine (up to BLAS noise).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


from animatorch_export.clip_text import CLIPTextModel  # noqa: E402
from animatorch_export.configs import NUMERICS, PRESET_NAMES, get_preset  # noqa: E402
from animatorch_export.atomic_io import atomic_write_json  # noqa: E402
from animatorch_export.reference import compute_reference, randomize_weights_, reference_cases  # noqa: E402
from animatorch_export.torchscript_export import export_model  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402
from animatorch_export.vae import AutoencoderKL  # noqa: E402

REFERENCE_FILE = "reference.json"


def build_random_models(preset: str, seed: int, numerics: str = "animatediff", attention_backend: str = "auto"):
    p = get_preset(preset, numerics=numerics, attention_backend=attention_backend)
    unet = randomize_weights_(UNet3DConditionModel(p.unet), seed)
    vae = randomize_weights_(AutoencoderKL(p.vae), seed + 1)
    text = randomize_weights_(CLIPTextModel(p.text_encoder), seed + 2)
    return p, unet.eval(), vae.eval(), text.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny-v2", choices=PRESET_NAMES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--numerics", default="animatediff", choices=NUMERICS)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--name", default=None)
    ap.add_argument("--attention-backend", default="auto", choices=["auto", "math", "sdpa"])
    ap.add_argument("--no-text-encoder", action="store_true", help="export without text_encoder/")
    ap.add_argument("--no-reference", action="store_true", help=f"skip {REFERENCE_FILE}")
    ap.add_argument("--freeze", action="store_true", help="torch.jit.freeze the modules (not movable across devices)")
    ap.add_argument("--mapped-weights", action="store_true", help="UNet weights in unet/model.weights.bin (mapped_weights.py)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    if args.preset.startswith("sd15") and not args.quiet:
        print(f"warning: {args.preset} is full size (~1.3 B UNet parameters); this needs several GB", file=sys.stderr)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    t0 = time.time()
    preset, unet, vae, text = build_random_models(args.preset, args.seed, args.numerics, args.attention_backend)
    if args.no_text_encoder:
        text = None

    cases = None
    eager = None
    if not args.no_reference:
        cases = reference_cases(preset.unet, preset.vae, preset.text_encoder if text is not None else None, args.seed)
        # float32 eager copies, used only when the export dtype cannot run on the device (float16 on CPU)
        import copy

        vae_ref = copy.deepcopy(vae)
        eager = {
            "unet": copy.deepcopy(unet),
            "vae_decoder": vae_ref.decode,
            "vae_encoder": vae_ref.encode_mean,
        }
        if text is not None:
            eager["text_encoder"] = copy.deepcopy(text)

    name = args.name or f"random-{args.preset}-seed{args.seed}" + ("-diffusers" if args.numerics == "diffusers" else "")
    manifest = export_model(
        unet,
        vae,
        text,
        args.out,
        dtype=args.dtype,
        device=args.device,
        name=name,
        freeze=args.freeze,
        mapped_weights=args.mapped_weights,
        extra_manifest={"random_init": {"preset": args.preset, "seed": args.seed}},
        log=log,
    )
    if cases is not None:
        ref = compute_reference(args.out, cases, args.dtype, args.device, eager=eager)
        ref["preset"] = args.preset
        ref["seed"] = args.seed
        ref["numerics"] = args.numerics
        atomic_write_json(os.path.join(args.out, REFERENCE_FILE), ref, indent=None)
        log(f"wrote {os.path.join(args.out, REFERENCE_FILE)} ({len(ref['cases'])} cases)")
    log(f"done in {time.time() - t0:.1f}s: {manifest['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
