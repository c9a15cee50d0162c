"""Trains the demo SparseCtrl (``models/demo/sparsectrl``): the object is where one or two keyframes put it.

Scribble kind (``condition: pixels``): a keyframe is the object's mask, white on black (3 channels, 64x64,
0..1), on frames [0] or [0, 7]; the other frames' condition is black and the conditioning mask (SparseCtrl's
extra channel) says which frames hold a keyframe. Scribble rather than RGB because the demo ControlNet
(``models/demo/controlnet``, scripts/demo/train_controlnet.py) already maps exactly these masks to residuals:
the SparseCtrl starts from its weights (encoder, conditioning embedding with the mask channel's input zeroed,
1x1 heads), and its motion modules (one attention each, as SparseCtrl's) from the demo UNet's with
``proj_out`` zeroed, so that step 0 is the ControlNet on the keyframes and training only has to learn the
frames in between. (``--init unet`` starts from the UNet's encoder with zeroed heads instead, as diffusers'
from_unet; slower.) The UNet, VAE and text encoder stay frozen; data, captions, objective (``--v-loss``),
EMA and time budget are train_controlnet.py's (imported from it).

    /usr/bin/python3 scripts/demo/train_sparsectrl.py --workdir /tmp/animatorch-demo-sparsectrl --seed 1234 \\
        --minutes 20 --v-loss
    /usr/bin/python3 scripts/demo/train_sparsectrl.py --export /tmp/animatorch-demo-sparsectrl/sparsectrl_ema.pt \\
        --out models/demo/sparsectrl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import clips  # noqa: E402
import paths  # noqa: E402
import train  # noqa: E402
import train_controlnet as tc  # noqa: E402
from animatorch_export.sparse_controlnet import SparseControlNetConfig, SparseControlNetModel  # noqa: E402

DEMO = tc.DEMO
KEYFRAMES = ([0], [0, clips.FRAMES - 1])


def sparse_config() -> SparseControlNetConfig:
    c = tc.controlnet_config()
    u = train.unet_config()
    return SparseControlNetConfig(
        **{k: getattr(c, k) for k in ("in_channels", "block_out_channels", "down_block_types", "layers_per_block",
                                      "norm_num_groups", "norm_eps", "cross_attention_dim", "attention_head_dim",
                                      "flip_sin_to_cos", "freq_shift", "conditioning_embedding_out_channels")},
        conditioning_channels=3, use_simplified_condition_embedding=False, concat_conditioning_mask=True,
        motion_num_attention_heads=u.motion_num_attention_heads, motion_max_seq_length=u.motion_max_seq_length,
        numerics=u.numerics,
    ).validate()


def sparse_init(unet, init: str) -> SparseControlNetModel:
    sc = SparseControlNetModel(sparse_config())
    own = sc.state_dict()
    new = {}
    for k, v in unet.state_dict().items():  # encoder + motion modules (attention_blocks.0 / norms.0 only)
        if k in own and own[k].shape == v.shape:
            new[k] = v
    if init == "controlnet":
        sd = torch.jit.load(os.path.join(DEMO, "controlnet", "model.pt")).state_dict()
        for k, v in sd.items():
            if k == "controlnet_cond_embedding.conv_in.weight":
                w = torch.zeros_like(own[k])
                w[:, :3] = v  # the mask channel starts with no say
                new[k] = w
            elif k in own and own[k].shape == v.shape:
                new[k] = v
    sc.load_state_dict(new, strict=False)
    with torch.no_grad():
        for k, p in sc.named_parameters():
            if "motion_modules" in k and "proj_out" in k:
                p.zero_()
        if init != "controlnet":
            for m in list(sc.controlnet_down_blocks) + [sc.controlnet_mid_block, sc.controlnet_cond_embedding.conv_out]:
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)
    missing = [k for k in own if k not in new]
    print(f"[sparsectrl] init {init}: {len(new)} tensors copied, {len(missing)} fresh "
          f"({sum(p.numel() for p in sc.parameters())} parameters)", flush=True)
    return sc


def keyframe_cond(masks: torch.Tensor, keys: Sequence[Sequence[int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """uint8 masks [B, F, H, W], keyframe indices per clip -> controlnet_cond [B, 3, F, H, W], mask [B, 1, F, H, W]."""
    full = tc.cond_frames(masks)
    sel = torch.zeros(masks.shape[0], 1, masks.shape[1], 1, 1)
    for b, ks in enumerate(keys):
        sel[b, 0, list(ks)] = 1.0
    return full * sel, sel.expand(-1, -1, -1, masks.shape[2], masks.shape[3]).contiguous()


class _Bound(nn.Module):
    """tc.sample() calls cn(x, t, ctx, cond, scale, guess) with the batch doubled for CFG: add the conditioning mask."""

    def __init__(self, sc: SparseControlNetModel, cmask: torch.Tensor):
        super().__init__()
        self.sc, self.cmask = sc, cmask

    def forward(self, x, t, ctx, cond, scale, guess):
        return self.sc(x, t, ctx, cond, torch.cat([self.cmask, self.cmask]), scale, guess)


def keyframe_ok(frames: np.ndarray, xs, ys, keys: Sequence[int], near: float) -> Tuple[bool, List[float], float]:
    """Centroid within ``near`` px of the keyframe's object on every keyframe; with two keyframes the object must
    also move from the first toward the second (progress along first->second >= 0.5, never back by > 0.25)."""
    c = tc.centroids(frames)
    d = [math.hypot(c[k][0] - xs[k], c[k][1] - ys[k]) if not math.isnan(c[k][0]) else 99.0 for k in keys]
    prog = float("nan")
    ok = all(v <= near for v in d)
    if len(keys) == 2:  # as test/demo-sparsectrl.test.ts: forward at least half-way, never back by > 0.25
        a, b = keys
        vx, vy = xs[b] - xs[a], ys[b] - ys[a]
        L2 = vx * vx + vy * vy
        along = [((cx - xs[a]) * vx + (cy - ys[a]) * vy) / L2 for cx, cy in c]
        prog = along[b] - along[a]
        steady = all(not math.isnan(v) and v >= max(along[: f + 1]) - 0.25 for f, v in enumerate(along))
        ok = ok and prog >= 0.5 and steady
    return ok, d, prog


def evaluate(unet, sc, te, dec, scaling: float, seed: int, n: int = 6, steps: int = 10, use: bool = True, near: float = 6.0):
    rng = random.Random(seed)
    fams = ("diagonal", "arbitrary", "zigzag")
    specs = [paths.path_spec(fams[k % 3], rng, background="black") for k in range(n)]
    keys = [KEYFRAMES[k % 2] for k in range(n)]
    prompts = [f"a {s.color} {clips.SHAPE_WORDS[s.shape][0]}" for s in specs]
    masks = torch.from_numpy(np.stack([np.round(clips.render(s)[1] * 255).astype(np.uint8) for s in specs]))
    cond, cmask = keyframe_cond(masks, keys)
    lat = tc.sample(unet, _Bound(sc, cmask), te, prompts, cond, seed, steps, 6.0, use)
    b = lat.shape[0]
    z = lat.permute(0, 2, 1, 3, 4).reshape(-1, 4, 8, 8) / scaling
    img = ((dec(z).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    frames = img.reshape(b, clips.FRAMES, clips.SIZE, clips.SIZE, 3).numpy()
    rows = []
    for s, k, p, fr in zip(specs, keys, prompts, frames):
        ok, d, prog = keyframe_ok(fr, s.xs, s.ys, k, near)
        rows.append({"path": s.motion, "keys": list(k), "prompt": p, "ok": ok, "dist": [round(v, 1) for v in d],
                     "progress": None if math.isnan(prog) else round(prog, 2)})
    return sum(r["ok"] for r in rows) / len(rows), rows


def train_sparse(args):
    torch.manual_seed(args.seed)
    unet, te, enc, dec, scaling = tc.load_frozen()
    t0 = time.time()
    data = tc.make_dataset(args.num_clips, args.seed + 2, enc, scaling, args.captioned)
    print(f"[data] {tuple(data[0].shape)} latents in {time.time() - t0:.0f}s", flush=True)
    sc = sparse_init(unet, args.init)
    ema = SparseControlNetModel(sparse_config())
    masks = data[1]

    def residuals(idx, xt, t, ctx, rng):
        cond, cmask = keyframe_cond(masks[idx], [rng.choice(KEYFRAMES) for _ in idx])
        return sc(xt, t, ctx, cond, cmask, 1.0, False)

    def on_eval(step: int):
        ema.eval()
        acc, rows = evaluate(unet, ema, te, dec, scaling, args.eval_seed)
        print(f"[eval] step {step} ema keyframes {acc:.2f} " + " ".join(f"{r['keys']}:{max(r['dist']):.0f}/{r['progress']}" for r in rows), flush=True)

    tc.fit(args, sc, ema, unet, te, data, tag="sparsectrl", config=sparse_config().to_dict(), warmup=50, residuals=residuals, on_eval=on_eval)


def export(args):
    tc.export_checkpoint(args, SparseControlNetModel(sparse_config()), tag="sparsectrl", name="animatorch-demo-sparsectrl",
                         description="demo SparseCtrl (scribble): the object is where one or two keyframe masks (white on black) put it; see models/demo/README.md",
                         script="train_sparsectrl.py", flags=("init",))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/animatorch-demo-sparsectrl")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: time budget only)")
    ap.add_argument("--num-clips", type=int, default=1200)
    ap.add_argument("--captioned", type=float, default=0.3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--caption-dropout", type=float, default=0.1)
    ap.add_argument("--init", choices=("controlnet", "unet"), default="controlnet")
    ap.add_argument("--v-loss", action="store_true", help="weight the epsilon loss by 1 / alpha_bar")
    ap.add_argument("--ckpt-minutes", type=float, default=3)
    ap.add_argument("--eval-minutes", type=float, default=5)
    ap.add_argument("--eval-seed", type=int, default=777)
    ap.add_argument("--eval", metavar="CKPT", help="only evaluate a checkpoint ('init': the untrained initialisation)")
    ap.add_argument("--eval-n", type=int, default=12)
    ap.add_argument("--export", metavar="CKPT")
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--out", default=os.path.join(DEMO, "sparsectrl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export:
        return export(args)
    if args.eval:
        unet, te, _, dec, scaling = tc.load_frozen()
        if args.eval == "init":
            sc, step = sparse_init(unet, args.init), 0
        else:
            ck = torch.load(args.eval)
            sc, step = SparseControlNetModel(sparse_config()), ck["step"]
            sc.load_state_dict(ck["sparsectrl_raw" if args.raw else "sparsectrl"])
        for use in (True, False):
            acc, rows = evaluate(unet, sc.eval(), te, dec, scaling, args.eval_seed, n=args.eval_n, steps=10, use=use)
            for r in rows:
                print(json.dumps(r))
            print(f"step {step} {'with' if use else 'WITHOUT'} sparsectrl: keyframes {acc:.2f}", flush=True)
        return
    os.makedirs(args.workdir, exist_ok=True)
    train_sparse(args)


if __name__ == "__main__":
    main()
