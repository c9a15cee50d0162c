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
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from animatorch_export.atomic_io import atomic_jit_save  # noqa: E402
from animatorch_export.exported_unet import rebuild_unet  # noqa: E402
from animatorch_export.manifest import MANIFEST_FILE, UNET_FILE, file_entry, write_manifest  # noqa: E402
from animatorch_export.mapped_weights import paths, read_index, register_release_op, unet_segments, write_mapped_weights  # noqa: E402
from animatorch_export.torchscript_export import _probe_inputs_unet, script  # noqa: E402

TOLERANCE = 1e-6


def compare(old, new, unet) -> float:
    """Max |old - new| over the exporter's probe inputs (batch 1 and 2, 4 and 3 frames, 8x8 and 8x16)."""
    dtype = next(unet.parameters()).dtype
    worst = 0.0
    with torch.no_grad():
        for b, f, h, w in ((1, 4, 8, 8), (2, 3, 8, 16)):
            args = _probe_inputs_unet(unet, "cpu", dtype, b, f, h, w)
            worst = max(worst, float((old(*args).float() - new(*args).float()).abs().max()))
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
    try:
        old, unet = rebuild_unet(unet_path)
    except ValueError as e:
        print(f"error: --model: {e}", file=sys.stderr)
        return 2
    unet.release_weights = True
    scripted = script(unet)
    diff = compare(old, scripted, unet)
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
