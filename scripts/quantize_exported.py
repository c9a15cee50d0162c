#!/usr/bin/python3
"""An exported model folder -> the same model with smaller UNet weights: `--weights int8` (default;
weight-only, per output channel; animatorch_export/int8_weights.py says why this form) or
`--weights float16-conv` (convolution kernels stored in float16, everything else float32, computed
in float32: what stable-diffusion.cpp holds in its float32 runs).

    /usr/bin/python3 scripts/quantize_exported.py --model models/my-model --out models/my-model-int8 [--weights int8] [--no-verify]

Rebuilds the UNet from unet/config.json, loads the exported weights into it, replaces its Linear
and Conv2d layers (not conv_in) with their int8 forms, scripts and writes it; the VAE, the text
encoder and the scheduler are copied unchanged. model.yaml gets `weights: int8` and the new hashes.
It prints the largest output difference against the float UNet on a probe input (--no-verify skips it).
A render with it holds about a quarter of the UNet's float32 memory; each UNet call dequantizes its
layers one at a time (some time per step; `npm run bench` reports it).
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from animatorch_export.atomic_io import atomic_jit_save  # noqa: E402
from animatorch_export.int8_weights import float16_convs_, quantize_int8_  # noqa: E402
from animatorch_export.exported_unet import rebuild_unet  # noqa: E402
from animatorch_export.mapped_weights import paths as mapped_paths  # noqa: E402
from animatorch_export.manifest import MANIFEST_FILE, UNET_FILE, file_entry, read_manifest, write_manifest  # noqa: E402
from animatorch_export.torchscript_export import _probe_inputs_unet, script  # noqa: E402


CONVERSIONS = {"int8": quantize_int8_, "float16-conv": float16_convs_}


def quantize_exported(model_dir: str, out_dir: str, verify: bool = True, log=print, weights: str = "int8") -> dict:
    model_dir, out_dir = os.path.abspath(model_dir), os.path.abspath(out_dir)
    if model_dir == out_dir:
        raise ValueError("--out must be another folder than --model")
    manifest = read_manifest(model_dir)
    if weights not in CONVERSIONS:
        raise ValueError(f"--weights: one of {', '.join(CONVERSIONS)}, got {weights!r}")
    if manifest.get("weights") is not None:
        raise ValueError(f"{model_dir}: its UNet weights are {manifest['weights']} already")
    unet_rel = manifest["unet"]["file"]
    scripted, unet = rebuild_unet(os.path.join(model_dir, unet_rel))  # reads mapped weights back in
    del scripted
    dtype = next(unet.parameters()).dtype
    # the output UNet holds its weights in its own file: a mapped export's weights files are not copied
    mapped = {os.path.relpath(p, model_dir) for p in mapped_paths(os.path.join(model_dir, unet_rel))}
    probe = _probe_inputs_unet(unet, "cpu", dtype, 2, 2, 8, 8) if verify else None
    ref = unet(*probe) if verify else None
    counts = CONVERSIONS[weights](unet)
    log(f"unet: {counts['linear']} Linear and {counts['conv']} Conv2d layers to {weights} ({counts['params'] / 1e6:.1f} M weights)")
    s_unet = script(unet)
    diff = None
    if verify:
        with torch.no_grad():
            got = s_unet(*probe)
        diff = float((got - ref).abs().max())
        log(f"unet: largest difference against float on a probe input {diff:.3g} (output scale {float(ref.abs().max()):.3g})")
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(os.path.join(out_dir, MANIFEST_FILE)):
        os.unlink(os.path.join(out_dir, MANIFEST_FILE))
    for rel in manifest["files"]:
        if rel == unet_rel or rel in mapped:
            continue
        os.makedirs(os.path.dirname(os.path.join(out_dir, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(model_dir, rel), os.path.join(out_dir, rel))
    atomic_jit_save(s_unet, os.path.join(out_dir, unet_rel))
    out = dict(manifest)
    out["files"] = {**{k: v for k, v in manifest["files"].items() if k not in mapped}, unet_rel: file_entry(out_dir, unet_rel)}
    if "export" in out:
        out["export"] = {**out["export"], "mapped_weights": False}
    out["weights"] = weights
    write_manifest(out_dir, out)
    return {"counts": counts, "max_abs_diff": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="an exported model folder (model.yaml)")
    ap.add_argument("--out", required=True, help="the int8 model folder to write")
    ap.add_argument("--weights", default="int8", choices=sorted(CONVERSIONS), help="int8 (default) or float16-conv")
    ap.add_argument("--no-verify", action="store_true", help="skip the probe against the float UNet")
    args = ap.parse_args(argv)
    t0 = time.time()
    torch.set_grad_enabled(False)
    res = quantize_exported(args.model, args.out, verify=not args.no_verify, log=lambda m: print(m, file=sys.stderr), weights=args.weights)
    print(json.dumps({**res, "seconds": round(time.time() - t0, 1), "out": os.path.abspath(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
