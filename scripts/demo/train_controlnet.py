"""Trains the demo ControlNet (``models/demo/controlnet``): the object follows a per-frame mask.

The condition is one image per frame, the object's mask in white on black (3 channels, 64x64, 0..1, as
diffusers' ControlNet image processor gives). The ControlNet is the demo UNet's encoder (conv_in, time
embedding, down blocks and mid block, without motion modules, copied from ``models/demo/unet/model.pt``)
plus a conditioning embedding (64 -> 8x8 in three stride-2 convs) and zero-initialised 1x1 convs on every
skip, as in Zhang et al. 2023; the UNet, VAE and text encoder stay frozen.

Data: clips from scripts/demo/clips.py whose object follows paths no caption describes (scripts/demo/paths.py:
diagonals, circles, zig-zags, arbitrary waypoints; caption "a red ball", "green square on a gray background",
...) plus the captioned motions of the demo's own clips (30%), 10% of captions dropped to the empty prompt.
Objective: the DDPM epsilon loss of the UNet with the ControlNet's residuals added; ``--v-loss`` weights it by
1 / alpha_bar (the v-prediction loss, as the demo UNet's last stage: where the object goes is decided at the
highest noise levels, which the plain epsilon loss all but ignores). Timed by wall clock (``--minutes``), so the
step count depends on the machine (models/demo/controlnet/controlnet.yaml records it: 1529 steps in 38 min).

    /usr/bin/python3 scripts/demo/train_controlnet.py --workdir /tmp/animatorch-demo-controlnet --seed 1234 \\
        --minutes 38 --lr 8e-4 --v-loss
    /usr/bin/python3 scripts/demo/train_controlnet.py --export /tmp/animatorch-demo-controlnet/controlnet_ema.pt \\
        --out models/demo/controlnet
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
from tokenizer import get_tokenizer  # noqa: E402
from animatorch_export.controlnet import ControlNetConfig, ControlNetModel  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402

DEMO = os.path.join(HERE, "..", "..", "models", "demo")

CAPTIONS = ["a {color} {shape}", "{color} {shape}", "the {color} {shape}", "a {color} {shape} on a {bg} background",
            "{color} {shape}, {bg} background", "a {color} {shape} over {bg}"]


def controlnet_config() -> ControlNetConfig:
    u = train.unet_config()
    return ControlNetConfig(
        in_channels=4, conditioning_channels=3, block_out_channels=tuple(u.block_out_channels),
        down_block_types=tuple(u.down_block_types), layers_per_block=u.layers_per_block,
        norm_num_groups=u.norm_num_groups, norm_eps=u.norm_eps, cross_attention_dim=u.cross_attention_dim,
        attention_head_dim=u.attention_head_dim, flip_sin_to_cos=u.flip_sin_to_cos, freq_shift=u.freq_shift,
        conditioning_embedding_out_channels=(8, 16, 32, 32),
    ).validate()


def load_demo_unet(path: str = os.path.join(DEMO, "unet", "model.pt")) -> UNet3DConditionModel:
    """Our eager UNet3D with the weights of the demo's TorchScript UNet (pos_encoder.pe: computed, not stored)."""
    sd = {k: v for k, v in torch.jit.load(path).state_dict().items() if not k.endswith("pos_encoder.pe")}
    unet = UNet3DConditionModel(train.unet_config())
    unet.load_state_dict(sd, strict=True)
    return unet.eval()


def controlnet_from_unet(unet: UNet3DConditionModel) -> ControlNetModel:
    """Encoder weights copied from the UNet (diffusers' ControlNetModel.from_unet); new convs zeroed."""
    cn = ControlNetModel(controlnet_config())
    own = cn.state_dict()
    copied = {k: v for k, v in unet.state_dict().items() if k in own and own[k].shape == v.shape}
    cn.load_state_dict(copied, strict=False)
    for m in list(cn.controlnet_down_blocks) + [cn.controlnet_mid_block, cn.controlnet_cond_embedding.conv_out]:
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)
    print(f"[controlnet] {len(copied)} tensors copied from the UNet, "
          f"{sum(p.numel() for p in cn.parameters())} parameters", flush=True)
    return cn


def path_caption(spec: clips.ClipSpec, rng: random.Random) -> str:
    return rng.choice(CAPTIONS).format(color=spec.color, shape=rng.choice(clips.SHAPE_WORDS[spec.shape]), bg=spec.background)


def make_dataset(n: int, seed: int, vae_encoder, scaling: float, captioned: float):
    """-> latents [n, 4, F, 8, 8], masks uint8 [n, F, 64, 64], captions (one list of choices per clip)."""
    rng = random.Random(seed)
    lats, masks, specs = [], np.empty((n, clips.FRAMES, clips.SIZE, clips.SIZE), np.uint8), []
    videos = np.empty((n, clips.FRAMES, clips.SIZE, clips.SIZE, 3), np.float32)
    for k in range(n):
        if rng.random() < captioned:
            spec = clips.random_spec(rng)
        else:
            spec = paths.path_spec(paths.FAMILIES[k % len(paths.FAMILIES)], rng)
        f, m = clips.render(spec)
        videos[k] = np.round(f * 255.0) / 255.0
        masks[k] = np.round(m * 255.0).astype(np.uint8)
        specs.append(spec)
    with torch.no_grad():
        for i in range(0, n, 32):
            v = torch.from_numpy(videos[i : i + 32])
            b = v.shape[0]
            x = v.reshape(-1, clips.SIZE, clips.SIZE, 3).permute(0, 3, 1, 2) * 2 - 1
            z = vae_encoder(x) * scaling
            lats.append(z.reshape(b, clips.FRAMES, 4, z.shape[-2], z.shape[-1]).permute(0, 2, 1, 3, 4).contiguous())
    return torch.cat(lats), torch.from_numpy(masks), specs


def cond_frames(masks: torch.Tensor) -> torch.Tensor:
    """uint8 masks [B, F, H, W] -> controlnet_cond [B, 3, F, H, W] in 0..1."""
    return (masks.float() / 255.0).unsqueeze(1).expand(-1, 3, -1, -1, -1).contiguous()


# ---------------------------------------------------------------------------------------------
# evaluation: sample with a small DDIM loop (as the TypeScript pipeline), track the centroid


@torch.no_grad()
def sample(unet, cn, te, prompts: Sequence[str], cond, seed: int, steps: int, guidance: float, use_cn: bool = True):
    tok = get_tokenizer()
    ids = torch.tensor([tok.encode(p) for p in prompts] + [tok.encode("")] * len(prompts), dtype=torch.int64)
    emb = te(ids)
    n = len(prompts)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, clips.FRAMES, 8, 8, generator=g)
    c2 = torch.cat([cond, cond])
    for t in train.ddim_timesteps(steps):
        tt = torch.full((2 * n,), t, dtype=torch.int64)
        xx = torch.cat([x, x])
        if use_cn:
            res = cn(xx, tt, emb, c2, 1.0, False)
            eps = unet(xx, tt, emb, res[:-1], res[-1])
        else:
            eps = unet(xx, tt, emb)
        e_c, e_u = eps.chunk(2)
        e = e_u + guidance * (e_c - e_u)
        a_t = train.ALPHAS_CUMPROD[t]
        prev = t - train.T_STEPS // steps
        a_prev = train.ALPHAS_CUMPROD[prev] if prev >= 0 else torch.tensor(1.0)
        x0 = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
    return x


def centroids(frames: np.ndarray) -> List[Tuple[float, float]]:
    """uint8 [F, H, W, 3] -> per-frame centroid of the pixels far from the border's median color (nan if none)."""
    x = frames.astype(np.float32) / 255.0
    border = np.concatenate([x[:, 0].reshape(-1, 3), x[:, -1].reshape(-1, 3), x[:, :, 0].reshape(-1, 3), x[:, :, -1].reshape(-1, 3)])
    mask = np.abs(x - np.median(border, axis=0)).sum(-1) > 0.3
    ys, xs = np.mgrid[0 : x.shape[1], 0 : x.shape[2]]
    out = []
    for m in mask:
        a = m.sum()
        out.append(((xs * m).sum() / a + 0.5, (ys * m).sum() / a + 0.5) if a >= 4 else (float("nan"), float("nan")))
    return out


def tracks(frames: np.ndarray, xs, ys, within: float = 8.0, frames_needed: int = 7) -> Tuple[bool, List[float]]:
    d = [math.hypot(cx - x, cy - y) if not math.isnan(cx) else 99.0 for (cx, cy), x, y in zip(centroids(frames), xs, ys)]
    return sum(v <= within for v in d) >= frames_needed, d


def evaluate(unet, cn, te, vae_decoder, scaling: float, seed: int, n: int = 6, steps: int = 10, use_cn: bool = True):
    rng = random.Random(seed)
    fams = ("diagonal", "circle", "zigzag")
    specs = [paths.path_spec(fams[k % 3], rng, background="black") for k in range(n)]
    prompts = [f"a {s.color} {clips.SHAPE_WORDS[s.shape][0]}" for s in specs]
    masks = torch.from_numpy(np.stack([np.round(clips.render(s)[1] * 255).astype(np.uint8) for s in specs]))
    lat = sample(unet, cn, te, prompts, cond_frames(masks), seed, steps, 6.0, use_cn)
    b = lat.shape[0]
    z = lat.permute(0, 2, 1, 3, 4).reshape(-1, 4, 8, 8) / scaling
    img = ((vae_decoder(z).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    frames = img.reshape(b, clips.FRAMES, clips.SIZE, clips.SIZE, 3).numpy()
    rows = []
    for s, p, fr in zip(specs, prompts, frames):
        ok, d = tracks(fr, s.xs, s.ys)
        rows.append({"path": s.motion, "prompt": p, "ok": ok, "dist": [round(v, 1) for v in d]})
    return sum(r["ok"] for r in rows) / len(rows), rows


# ---------------------------------------------------------------------------------------------


def load_frozen():
    """The demo's frozen parts: UNet (no gradients), text encoder, VAE encoder and decoder, VAE scaling factor."""
    unet = load_demo_unet()
    for p in unet.parameters():
        p.requires_grad_(False)
    te = torch.jit.load(os.path.join(DEMO, "text_encoder", "model.pt")).eval()
    enc = torch.jit.load(os.path.join(DEMO, "vae", "encoder.pt")).eval()
    dec = torch.jit.load(os.path.join(DEMO, "vae", "decoder.pt")).eval()
    scaling = float(json.load(open(os.path.join(DEMO, "vae", "config.json")))["scaling_factor"])
    return unet, te, enc, dec, scaling


def fit(args, net: nn.Module, ema: nn.Module, unet, te, data, *, tag: str, config: dict, warmup: int, residuals, on_eval) -> None:
    """The training loop the demo ControlNet and SparseCtrl share, on the time budget: captions (dropped, path
    or the demo's own), the UNet's epsilon loss with `residuals(idx, xt, t, ctx, rng)` added (weighted by
    1 / alpha_bar with --v-loss), AdamW with `warmup` steps and a cosine to 15%, EMA into `ema`, checkpoints
    <workdir>/<tag>_ema.pt ({tag}: EMA weights, {tag}_raw: the trained ones) and `on_eval(step)` every
    --eval-minutes."""
    rng = random.Random(args.seed + 1)
    lat, _, specs = data
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.0)
    tok = get_tokenizer()
    empty = tok.encode("")
    n = lat.shape[0]
    t0 = last_eval = last_ckpt = time.time()
    budget = args.minutes * 60
    step, log_loss, history = 0, 0.0, []

    def save(why: str):
        ck = {tag: ema.state_dict(), f"{tag}_raw": net.state_dict(), "step": step,
              "seconds": time.time() - t0, "args": vars(args), "history": history, "config": config}
        out = os.path.join(args.workdir, f"{tag}_ema.pt")
        torch.save(ck, out + ".tmp")
        os.replace(out + ".tmp", out)
        print(f"[{tag}] checkpoint ({why}) step {step} -> {out}", flush=True)

    while time.time() - t0 < budget and not (args.steps and step >= args.steps):
        frac = (time.time() - t0) / budget
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.15 + 0.85 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for gp in opt.param_groups:
            gp["lr"] = lr
        idx = [rng.randrange(n) for _ in range(args.batch)]
        caps = []
        for i in idx:
            s = specs[i]
            if rng.random() < args.caption_dropout:
                caps.append(empty)
            elif s.motion in paths.FAMILIES:
                caps.append(tok.encode(path_caption(s, rng)))
            else:
                caps.append(tok.encode(clips.caption(s, rng)))
        with torch.no_grad():
            ctx = te(torch.tensor(caps, dtype=torch.int64))
        x0 = lat[idx]
        t = torch.randint(0, train.T_STEPS, (args.batch,))
        noise = torch.randn_like(x0)
        a = train.ALPHAS_CUMPROD[t].view(-1, 1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        res = residuals(idx, xt, t, ctx, rng)
        eps = unet(xt, t, ctx, res[:-1], res[-1])
        w = 1.0 / train.ALPHAS_CUMPROD[t] if args.v_loss else torch.ones(args.batch)
        loss = (w * ((eps - noise) ** 2).mean(dim=(1, 2, 3, 4))).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
        log_loss += loss.item()
        if step % 25 == 0:
            el = time.time() - t0
            print(f"[{tag}] step {step} {el:.0f}s loss {log_loss / 25:.4f} lr {lr:.2e}", flush=True)
            history.append((step, round(el), log_loss / 25))
            log_loss = 0.0
        now = time.time()
        if now - last_ckpt > args.ckpt_minutes * 60:
            save("periodic")
            last_ckpt = now
        if args.eval_minutes and now - last_eval > args.eval_minutes * 60:
            on_eval(step)
            last_eval = time.time()
    save("final")


def train_controlnet(args):
    torch.manual_seed(args.seed)
    unet, te, enc, dec, scaling = load_frozen()
    t0 = time.time()
    data = make_dataset(args.num_clips, args.seed + 2, enc, scaling, args.captioned)
    print(f"[data] {tuple(data[0].shape)} latents, std {data[0].std().item():.3f}, in {time.time() - t0:.0f}s", flush=True)
    cn = controlnet_from_unet(unet)
    ema = ControlNetModel(controlnet_config())
    masks = data[1]

    def on_eval(step: int):
        for name, m in (("ema", ema), ("raw", cn)):
            m.eval()
            acc, rows = evaluate(unet, m, te, dec, scaling, args.eval_seed)
            m.train()
            print(f"[eval] step {step} {name} tracking {acc:.2f} "
                  + " ".join(f"{r['path'][:4]}:{max(r['dist']):.0f}" for r in rows), flush=True)

    fit(args, cn, ema, unet, te, data, tag="controlnet", config=controlnet_config().to_dict(), warmup=100,
        residuals=lambda idx, xt, t, ctx, rng: cn(xt, t, ctx, cond_frames(masks[idx]), 1.0, False), on_eval=on_eval)


def export_checkpoint(args, model: nn.Module, *, tag: str, name: str, description: str, script: str, flags: Sequence[str] = ()) -> None:
    """Exports the weights of fit()'s checkpoint --export (EMA, or --raw) into --out with the ControlNet exporter,
    recording the training command (with the checkpoint's own `flags` beside the common ones), seed and steps."""
    from animatorch_export.controlnet_export import export_controlnet

    ck = torch.load(args.export)
    model.load_state_dict(ck[f"{tag}_raw" if args.raw else tag])
    a = ck["args"]
    source = {
        "description": description,
        "base_model": "animatorch-demo",
        "training_command": f"/usr/bin/python3 scripts/demo/{script}"
        f" --workdir {a['workdir']} --seed {a['seed']} --minutes {a['minutes']:g} --num-clips {a['num_clips']}"
        f" --batch {a['batch']} --lr {a['lr']:g}" + "".join(f" --{f} {a[f]}" for f in flags) + (" --v-loss" if a["v_loss"] else ""),
        "seed": int(a["seed"]),
        "steps": int(ck["step"]),
        "seconds": round(float(ck["seconds"])),
        "weights": "raw" if args.raw else "ema",
        "torch_version": str(torch.__version__),
    }
    m = export_controlnet(model.eval(), args.out, name=name, source=source, log=print)
    print(f"exported {args.out}: {sum(e['bytes'] for e in m['files'].values()) / 1e6:.2f} MB")


def export(args):
    export_checkpoint(args, ControlNetModel(controlnet_config()), tag="controlnet", name="animatorch-demo-controlnet",
                      description="demo ControlNet: the object follows a per-frame mask (white object on black); see models/demo/README.md",
                      script="train_controlnet.py")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/animatorch-demo-controlnet")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=38)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: time budget only)")
    ap.add_argument("--num-clips", type=int, default=2400)
    ap.add_argument("--captioned", type=float, default=0.3, help="share of clips with the demo's captioned motions")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=8e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--caption-dropout", type=float, default=0.1)
    ap.add_argument("--v-loss", action="store_true", help="weight the epsilon loss by 1 / alpha_bar")
    ap.add_argument("--ckpt-minutes", type=float, default=4)
    ap.add_argument("--eval-minutes", type=float, default=8)
    ap.add_argument("--eval-seed", type=int, default=777)
    ap.add_argument("--eval", metavar="CKPT", help="only evaluate a checkpoint")
    ap.add_argument("--eval-n", type=int, default=12)
    ap.add_argument("--export", metavar="CKPT", help="export a checkpoint's weights with the ControlNet exporter")
    ap.add_argument("--raw", action="store_true", help="with --export / --eval: the raw weights, not the EMA")
    ap.add_argument("--out", default=os.path.join(DEMO, "controlnet"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export:
        return export(args)
    if args.eval:
        ck = torch.load(args.eval)
        cn = ControlNetModel(controlnet_config())
        cn.load_state_dict(ck["controlnet_raw" if args.raw else "controlnet"])
        unet, te, _, dec, scaling = load_frozen()
        for use in (True, False):
            acc, rows = evaluate(unet, cn.eval(), te, dec, scaling, args.eval_seed, n=args.eval_n, steps=20, use_cn=use)
            for r in rows:
                print(json.dumps(r))
            print(f"step {ck['step']} {'with' if use else 'WITHOUT'} controlnet: tracking {acc:.2f}")
        return
    os.makedirs(args.workdir, exist_ok=True)
    train_controlnet(args)


if __name__ == "__main__":
    main()
