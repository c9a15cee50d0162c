"""Rewrites an exported model's UNet with mapped weights (see animatorch_export/mapped_weights.py).

For a folder exported without ``--mapped-weights``: rebuilds our UNet3DConditionModel from
``unet/config.json`` and the TorchScript file's own weights, scripts it again with the per-block
``release_weights`` calls, checks it gives the old module's outputs (max |diff| <= 1e-6) on small
probes, then writes ``unet/model.weights.bin`` + ``.json`` and the new ``unet/model.pt`` and updates
``model.yaml``. No checkpoint is needed; it takes about two minutes for a full-size SD1.5 UNet.

    /usr/bin/python3 scripts/map_weights.py --model path/to/exported-model
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from animatorch_export.atomic_io import atomic_jit_save  # noqa: E402
from animatorch_export.configs import UNet3DConfig  # noqa: E402
from animatorch_export.manifest import MANIFEST_FILE, UNET_CONFIG_FILE, UNET_FILE, file_entry, write_manifest  # noqa: E402
from animatorch_export.mapped_weights import paths, read_index, register_release_op, unet_segments, write_mapped_weights  # noqa: E402
from animatorch_export.torchscript_export import script  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402

TOLERANCE = 1e-6


def rebuild(model_dir: str):
    """-> (old TorchScript UNet, our eager UNet3DConditionModel holding its weights, with release_weights set)."""
    old = torch.jit.load(os.path.join(model_dir, UNET_FILE)).eval()
    with open(os.path.join(model_dir, UNET_CONFIG_FILE)) as f:
        raw = json.load(f)
    raw.pop("_class_name", None)
    unet = UNet3DConditionModel(UNet3DConfig.from_dict(raw).validate())
    sd = old.state_dict()
    dtype = next(iter(sd.values())).dtype
    unet.to(dtype)
    unet.load_state_dict({k: v for k, v in sd.items() if not k.endswith("pos_encoder.pe")}, strict=False)
    missing = set(dict(unet.named_parameters())) - set(sd)
    if missing:
        raise SystemExit(f"{UNET_FILE} lacks parameters {sorted(missing)[:3]}...: not one of our UNet exports")
    for p in unet.parameters():
        p.requires_grad_(False)
    unet.release_weights = True
    return old, unet.eval()


def compare(old, new, channels: int, context_dim: int) -> float:
    """Max |old - new| over small probes (batch 1 and 2, 3 and 4 frames, t 999 and 1)."""
    g = torch.Generator().manual_seed(2024)
    worst = 0.0
    dtype = next(old.parameters()).dtype
    with torch.no_grad():
        for b, f, h, w, ts in ((1, 4, 8, 8, [999]), (2, 3, 8, 16, [981, 1])):
            x = torch.randn(b, channels, f, h, w, generator=g).to(dtype)
            c = torch.randn(b, 77, context_dim, generator=g).to(dtype)
            t = torch.tensor(ts, dtype=torch.int64)
            worst = max(worst, float((old(x, t, c).float() - new(x, t, c).float()).abs().max()))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an exported model folder (with model.yaml)")
    args = ap.parse_args(argv)
    import yaml  # the manifest is YAML

    unet_path = os.path.join(args.model, UNET_FILE)
    if not os.path.exists(os.path.join(args.model, MANIFEST_FILE)):
        print(f"error: --model: {args.model} has no {MANIFEST_FILE}; give an exported model folder", file=sys.stderr)
        return 2
    if read_index(unet_path) is not None:
        print(f"{unet_path} already has mapped weights; nothing to do")
        return 0
    register_release_op()
    old, unet = rebuild(args.model)
    scripted = script(unet)
    diff = compare(old, scripted, unet.in_channels, unet.cross_attention_dim)
    print(f"new vs old UNet: max |diff| {diff:.3g}")
    if not diff <= TOLERANCE:
        print(f"error: the rewritten UNet differs from the old one by {diff:.3g} (> {TOLERANCE})", file=sys.stderr)
        return 1
    del old
    index = write_mapped_weights(scripted, unet_path, unet_segments(len(unet.down_blocks), len(unet.up_blocks)))
    atomic_jit_save(scripted, unet_path)

    path = os.path.join(args.model, MANIFEST_FILE)
    with open(path) as fh:
        manifest = yaml.safe_load(fh)
    rels = [UNET_FILE] + [os.path.relpath(p, args.model) for p in paths(unet_path)]
    for rel in rels:
        manifest["files"][rel] = file_entry(args.model, rel)
    manifest.setdefault("export", {})["mapped_weights"] = True
    write_manifest(args.model, manifest)
    print(f"wrote {', '.join(rels)} ({index['bytes']} bytes of weights in {len(index['segments'])} segments) and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
