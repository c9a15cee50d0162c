"""Exports the trained demo model (scripts/demo/train.py checkpoint) into ``models/demo`` (float32 TorchScript).

    /usr/bin/python3 scripts/demo/export_demo.py --ckpt /tmp/animatorch-demo-train/unet_ema.pt --out models/demo

Writes, through ``animatorch_export.torchscript_export.export_model``: model.yaml (name ``animatorch-demo``,
the VAE scaling factor measured at training time, and a ``demo`` section with the training command,
seed, steps and duration), unet/model.pt, vae/decoder.pt, vae/encoder.pt, text_encoder/model.pt and
the scheduler config.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import train  # noqa: E402
from animatorch_export.torchscript_export import export_model  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402


def training_command(a) -> str:
    """The train.py command line that produced a checkpoint (from the arguments it stored)."""
    cmd = (
        "/usr/bin/python3 scripts/demo/train.py"
        f" --workdir {a['workdir']} --seed {a['seed']} --threads {a['threads']}"
        f" --vae-minutes {a['vae_minutes']:g} --num-clips {a['num_clips']} --text-steps {a.get('text_steps', 0)}"
        f" --unet-minutes {a['unet_minutes']:g} --batch {a['batch']} --lr {a['lr']:g}"
    )
    if a.get("resume"):
        cmd += f" --resume {a['resume']}"
    for flag, default in (("t_power", 1.0), ("min_snr_gamma", 0.0), ("text_lr_mult", 1.0)):
        if a.get(flag, default) != default:
            cmd += f" --{flag.replace('_', '-')} {a[flag]:g}"
    if a.get("v_loss"):
        cmd += " --v-loss"
    return cmd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="/tmp/animatorch-demo-train/unet_ema.pt")
    ap.add_argument("--vae", default=None, help="VAE checkpoint (default: the one the UNet checkpoint names)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "demo"))
    ap.add_argument("--train-command", default=None, help="override the recorded training command")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    ck = torch.load(args.ckpt)
    vae_path = args.vae or ck["vae_path"]
    vck = torch.load(vae_path)
    vae = train.load_vae(vae_path)
    te = train.build_text_encoder(ck["vocab"])
    te.load_state_dict(ck["text_encoder"])  # the frozen, pretrained encoder when the UNet was trained with one
    unet = UNet3DConditionModel(train.unet_config())
    unet.load_state_dict(ck["unet"])
    for m in (vae, te, unet):
        m.eval()

    a = ck["args"]
    command = args.train_command or training_command(a)
    extra = {
        "demo": {
            "description": "Tiny text-to-video demo model trained from scratch on procedural clips "
            "(one colored circle / square / triangle moving left, right, up, down, growing, shrinking or still; "
            "8 frames of 64x64). Not Stable Diffusion; see models/demo/README.md.",
            "training": {
                "command": command,
                "export_command": "/usr/bin/python3 scripts/demo/export_demo.py --ckpt " + args.ckpt + " --out models/demo",
                "seed": int(a["seed"]),
                "vae_steps": int(vck["steps"]),
                "vae_seconds": round(float(vck["seconds"])),
                "unet_steps": int(ck["step"]),
                # with --resume, a checkpoint's seconds cover only its last segment (from resumed_from_step)
                "unet_seconds_last_segment": round(float(ck["seconds"])),
                "resumed_from_step": int(ck.get("resumed_from_step", 0)),
                "torch_version": str(torch.__version__),
            },
            "text_encoder_vocab_rows": len(ck["vocab"]) + 1,
            "text_encoder_frozen": bool(ck.get("text_encoder_frozen", False)),
        },
        # what `animatorch render` uses when no option says otherwise (the model was trained on 8 frames of 64x64)
        "defaults": {"width": 64, "height": 64, "num_frames": 8, "num_inference_steps": 20, "guidance_scale": 6.0, "fps": 8},
    }
    manifest = export_model(unet, vae, te, args.out, dtype=torch.float32, name="animatorch-demo",
                            extra_manifest=extra, log=print)
    total = sum(e["bytes"] for e in manifest["files"].values())
    print(f"exported {args.out}: {total / 1e6:.2f} MB, scaling_factor {manifest['vae']['scaling_factor']}")


if __name__ == "__main__":
    main()
