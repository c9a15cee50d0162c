"""Re-exports the demo UNet (``models/demo/unet/model.pt``) with the current exporter, weights unchanged.

The demo UNet was exported before the UNet took its optional inputs (ControlNet residuals, motion_scale,
FreeNoise windows; ``UNET_OPTIONAL_INPUTS`` in animatorch_export/manifest.py). This rebuilds our
UNet3DConditionModel from ``unet/config.json``, loads the TorchScript module's own weights (its
``pos_encoder.pe`` tables are computed, not stored, and are checked equal), scripts it again, checks that
the new module gives the old one's outputs (max |diff| <= 1e-6) at a few shapes and timesteps, and rewrites
``unet/model.pt``, ``unet/config.json`` and their ``files`` entries plus ``unet.inputs`` in ``model.yaml``.

    /usr/bin/python3 scripts/demo/reexport_unet.py --model models/demo
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from animatorch_export.atomic_io import atomic_jit_save, atomic_write_json  # noqa: E402
from animatorch_export.configs import UNet3DConfig  # noqa: E402
from animatorch_export.manifest import MANIFEST_FILE, UNET_CONFIG_FILE, UNET_FILE, UNET_OPTIONAL_INPUTS, file_entry, write_manifest  # noqa: E402
from animatorch_export.torchscript_export import script, verify_unet  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402

TOLERANCE = 1e-6


def rebuild(model_dir: str):
    """-> (old TorchScript UNet, our eager UNet3DConditionModel holding its weights)."""
    old = torch.jit.load(os.path.join(model_dir, UNET_FILE)).eval()
    raw = json.load(open(os.path.join(model_dir, UNET_CONFIG_FILE)))
    raw.pop("_class_name", None)
    cfg = UNet3DConfig.from_dict(raw)
    unet = UNet3DConditionModel(cfg.validate())
    sd = old.state_dict()
    own = dict(unet.named_buffers())
    for k, v in sd.items():
        if k.endswith("pos_encoder.pe") and not torch.equal(own[k], v):
            raise SystemExit(f"{k}: the stored positional encoding differs from the computed one")
    unet.load_state_dict({k: v for k, v in sd.items() if not k.endswith("pos_encoder.pe")}, strict=True)
    return old, unet.eval()


def compare(old, new) -> float:
    """Max |old - new| over probes: batch 1 and 2 (CFG-like), 8 and 3 frames, 8x8 and odd sizes, t from 999 to 1."""
    g = torch.Generator().manual_seed(2024)
    worst = 0.0
    with torch.no_grad():
        for b, f, h, w, ts in ((1, 8, 8, 8, [999]), (2, 8, 8, 8, [981, 1]), (2, 3, 5, 7, [500, 250])):
            x = torch.randn(b, 4, f, h, w, generator=g)
            c = torch.randn(b, 77, 64, generator=g)
            t = torch.tensor(ts, dtype=torch.int64)
            worst = max(worst, float((old(x, t, c) - new(x, t, c)).abs().max()))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "demo"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import yaml  # the manifest is YAML (python3-yaml)

    old, unet = rebuild(args.model)
    for p in unet.parameters():
        p.requires_grad_(False)
    scripted = script(unet)
    verify_unet(unet, scripted, torch.device("cpu"), torch.float32)
    diff = compare(old, scripted)
    print(f"new vs old export: max |diff| {diff:.3g}")
    if not diff <= TOLERANCE:
        raise SystemExit(f"the re-exported UNet differs from the old one by {diff:.3g} (> {TOLERANCE})")
    atomic_jit_save(scripted, os.path.join(args.model, UNET_FILE))
    atomic_write_json(os.path.join(args.model, UNET_CONFIG_FILE), {"_class_name": "UNet3DConditionModel", **unet.config.to_dict()})

    path = os.path.join(args.model, MANIFEST_FILE)
    with open(path) as fh:
        manifest = yaml.safe_load(fh)
    manifest["unet"]["inputs"] = list(UNET_OPTIONAL_INPUTS)
    for rel in (UNET_FILE, UNET_CONFIG_FILE):
        manifest["files"][rel] = file_entry(args.model, rel)
    manifest.setdefault("demo", {}).setdefault("training", {})["unet_reexport_command"] = (
        "/usr/bin/python3 scripts/demo/reexport_unet.py --model models/demo")
    write_manifest(args.model, manifest)
    print(f"wrote {os.path.join(args.model, UNET_FILE)} ({manifest['files'][UNET_FILE]['bytes']} bytes) and {path}")


if __name__ == "__main__":
    main()
