"""Trains the bundled demo model (``models/demo``) on CPU from procedural clips (scripts/demo/clips.py).

Reproduce: the exact chain of commands that made models/demo is in models/demo/README.md (CPU, torch 1.13,
Debian's /usr/bin/python3, run from the repository root); export with scripts/demo/export_demo.py.

Stages (each writes into --workdir and is skipped when its output exists, so a run can be resumed):

1. ``vae``     AutoencoderKL (4 levels (16, 16, 32, 32), 8x downsampling, 4 latent channels) on single
               frames: weighted MSE (object pixels count 8x more) + small KL, posterior sampling.
               The scaling factor is set to 1 / std of the encoder means over the training clips.
2. ``latents`` encodes --num-clips clips (8 frames each) once: [N, 4, 8, 8, 8] scaled latents.
3. ``text``    (--text-steps > 0) pretrains the text encoder (CLIP architecture, width 64, 2 layers, real CLIP
               BPE ids) to name each caption's color, shape, motion and background from its summary tokens,
               then freezes it for stage 4, as Stable Diffusion freezes CLIP (``text_encoder.pt``).
4. ``unet``    trains the UNet3D (block_out_channels (32, 64), motion modules v2) with the DDPM epsilon objective
               (linear betas 0.00085..0.012, 1000 steps, as the manifest's DDIM scheduler), optionally weighted as
               the v-prediction loss (--v-loss), 10% caption dropout (-> empty prompt, for classifier-free
               guidance) and 5% word dropout (-> an unknown id); with --text-steps 0 the text encoder is trained
               jointly instead. EMA weights are checkpointed every few minutes (``unet_ema.pt``) and sampled with a
               small DDIM loop + clip analyzer (``--eval``) to judge quality while training.

The text encoder keeps the CLIP calling convention (input_ids [B, 77] int64 with the real 49408-id
vocabulary) but stores one embedding row per token that the training captions use: a 49408-entry
id -> row table sends every other id to a shared "unknown" row (this keeps the model a few MB).

Timing is by wall clock (``--*-minutes``), so the number of steps depends on the machine; the step
counts reached are stored in the checkpoint and in models/demo/model.yaml (``demo.training``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import clips  # noqa: E402
from tokenizer import BOS, EOS, MAX_LEN, get_tokenizer  # noqa: E402
from animatorch_export.configs import CLIPTextConfig, UNet3DConfig, VAEConfig  # noqa: E402
from animatorch_export.clip_text import CLIPTextModel  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402
from animatorch_export.vae import AutoencoderKL  # noqa: E402

VOCAB_SIZE = 49408

# ---------------------------------------------------------------------------------------------
# model configs


def vae_config(scaling_factor: float = 1.0) -> VAEConfig:
    return VAEConfig(
        block_out_channels=(16, 16, 32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=clips.SIZE,
        scaling_factor=float(scaling_factor),
    ).validate()


def text_config() -> CLIPTextConfig:
    return CLIPTextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2).validate()


def unet_config() -> UNet3DConfig:
    return UNet3DConfig.tiny("v2").replace(
        sample_size=clips.SIZE // 8,
        block_out_channels=(32, 64),
        cross_attention_dim=64,
        attention_head_dim=2,  # number of spatial heads
        motion_num_attention_heads=2,
        norm_num_groups=16,
        # spatial + cross attention only at the 4x4 level and the mid block, motion modules at 4x4 + mid:
        # attention over 512 tokens per clip at the 8x8 level costs most of the time on CPU.
        down_block_types=("DownBlock3D", "CrossAttnDownBlock3D"),
        up_block_types=("CrossAttnUpBlock3D", "UpBlock3D"),
        motion_module_resolutions=(2, 4, 8),
    )


class CompactTokenEmbedding(nn.Module):
    """``nn.Embedding``-like: real CLIP ids [B, L] -> rows of a small table via an id -> row map.

    Row 0 is the shared "unknown" row for every id no training caption used."""

    def __init__(self, id_map: torch.Tensor, num_rows: int, dim: int):
        super().__init__()
        self.register_buffer("id_map", id_map.to(torch.int64))
        self.table = nn.Embedding(num_rows, dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        ids = input_ids.clamp(0, self.id_map.shape[0] - 1)
        return self.table(self.id_map[ids])


def training_vocab() -> List[int]:
    """Every CLIP id the training captions can produce (+ BOS / EOS), sorted."""
    tok = get_tokenizer()
    words = set()
    for group in (clips.COLORS, clips.BACKGROUNDS):
        for w in group:
            words.add(w)
    for table in (clips.SHAPE_WORDS, clips.MOTION_WORDS):
        for ws in table.values():
            words.update(ws)
    for tpl in clips.TEMPLATES:
        words.add(tpl.replace("{", " ").replace("}", " "))
    ids = {BOS, EOS}
    for w in words:
        ids.update(tok.tokens(w))
    return sorted(ids)


def build_text_encoder(vocab: Sequence[int]) -> CLIPTextModel:
    cfg = text_config()
    te = CLIPTextModel(cfg)
    id_map = torch.zeros(VOCAB_SIZE, dtype=torch.int64)
    for row, i in enumerate(vocab, start=1):
        id_map[i] = row
    te.text_model.embeddings.token_embedding = CompactTokenEmbedding(id_map, len(vocab) + 1, cfg.hidden_size)
    nn.init.normal_(te.text_model.embeddings.token_embedding.table.weight, std=0.02)
    nn.init.normal_(te.text_model.embeddings.position_embedding.weight, std=0.01)
    return te


def unknown_proxy_id(vocab: Sequence[int]) -> int:
    """A real CLIP id that maps to the unknown row (used for word dropout)."""
    s = set(vocab)
    for i in range(1000, VOCAB_SIZE):
        if i not in s:
            return i
    raise RuntimeError("no free id")


# ---------------------------------------------------------------------------------------------
# diffusion schedule (the manifest's DDIM config: linear betas 0.00085..0.012, 1000 steps)

T_STEPS = 1000
BETAS = torch.linspace(0.00085, 0.012, T_STEPS, dtype=torch.float64)
ALPHAS_CUMPROD = torch.cumprod(1.0 - BETAS, 0).float()


def ddim_timesteps(n: int) -> List[int]:
    """diffusers DDIM 'leading' spacing with steps_offset 1."""
    ratio = T_STEPS // n
    return [int(t) for t in (np.arange(0, n) * ratio).round()[::-1] + 1]


@torch.no_grad()
def ddim_sample(unet, text_encoder, prompts: Sequence[str], seed: int, steps: int = 20, guidance: float = 6.0,
                frames: int = clips.FRAMES, latent: int = clips.SIZE // 8) -> torch.Tensor:
    """-> scaled latents [B, 4, F, h, w] (as the TypeScript pipeline: DDIM eta 0, CFG with the empty prompt)."""
    tok = get_tokenizer()
    ids = torch.tensor([tok.encode(p) for p in prompts] + [tok.encode("")], dtype=torch.int64)
    emb = text_encoder(ids)
    cond, uncond = emb[:-1], emb[-1:].expand(len(prompts), -1, -1)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(prompts), 4, frames, latent, latent, generator=g)
    ts = ddim_timesteps(steps)
    for i, t in enumerate(ts):
        tt = torch.full((2 * len(prompts),), t, dtype=torch.int64)
        eps = unet(torch.cat([x, x]), tt, torch.cat([cond, uncond]))
        e_c, e_u = eps.chunk(2)
        e = e_u + guidance * (e_c - e_u)
        a_t = ALPHAS_CUMPROD[t]
        prev = t - T_STEPS // steps
        a_prev = ALPHAS_CUMPROD[prev] if prev >= 0 else torch.tensor(1.0)
        x0 = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
    return x


@torch.no_grad()
def decode_latents(vae: AutoencoderKL, latents: torch.Tensor) -> np.ndarray:
    """scaled latents [B, 4, F, h, w] -> uint8 frames [B, F, H, W, 3]."""
    b, c, f, h, w = latents.shape
    z = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w) / vae.config.scaling_factor
    img = vae.decode(z).clamp(-1, 1)
    img = ((img + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    return img.reshape(b, f, img.shape[1], img.shape[2], 3).numpy()


# ---------------------------------------------------------------------------------------------
# clip analyzer (mirrors test/utils/clip-analyzer.ts; test/demo-model.test.ts checks that both agree)


def analyze(frames: np.ndarray) -> Dict[str, object]:
    """frames uint8 [F, H, W, 3] -> {color, motion, dx, dy, area_ratio}."""
    x = frames.astype(np.float32) / 255.0
    f, h, w, _ = x.shape
    border = np.concatenate([x[:, 0].reshape(-1, 3), x[:, -1].reshape(-1, 3), x[:, :, 0].reshape(-1, 3), x[:, :, -1].reshape(-1, 3)])
    bg = np.median(border, axis=0)
    diff = np.abs(x - bg).sum(-1)
    mask = diff > 0.3
    out: Dict[str, object] = {"color": None, "motion": None}
    if mask.sum() < 4:
        return out
    col = x[mask].mean(0)
    names = list(clips.COLORS)
    pal = np.array([clips.COLORS[n] for n in names], np.float32) / 255.0
    out["color"] = names[int(np.argmin(((pal - col) ** 2).sum(-1)))]
    ys, xs = np.mgrid[0:h, 0:w]

    def stats(frames_idx):
        m = mask[frames_idx].astype(np.float32).mean(0) if isinstance(frames_idx, list) else mask[frames_idx].astype(np.float32)
        a = m.sum()
        if a < 2:
            return None
        return (xs * m).sum() / a, (ys * m).sum() / a, a

    s0, s1 = stats([0, 1]), stats([f - 2, f - 1])
    if s0 is None or s1 is None:
        return out
    dx, dy, ratio = s1[0] - s0[0], s1[1] - s0[1], s1[2] / s0[2]
    out.update(dx=float(dx), dy=float(dy), area_ratio=float(ratio))
    if ratio > 1.6:
        out["motion"] = "growing"
    elif ratio < 1 / 1.6:
        out["motion"] = "shrinking"
    elif max(abs(dx), abs(dy)) < 5:
        out["motion"] = "still"
    elif abs(dx) >= abs(dy):
        out["motion"] = "right" if dx > 0 else "left"
    else:
        out["motion"] = "down" if dy > 0 else "up"
    return out


EVAL_CASES = [
    # (color, shape, motion, prompt): the prompts of test/demo-model.test.ts; the last 8 use phrasings
    # no training caption template used verbatim
    ("red", "circle", "right", "a red circle moving right"),
    ("blue", "square", "left", "a blue square moves to the left"),
    ("green", "triangle", "up", "green triangle rising"),
    ("yellow", "circle", "down", "a yellow ball falling"),
    ("white", "square", "growing", "a white box growing"),
    ("purple", "circle", "shrinking", "purple dot shrinking"),
    ("red", "square", "still", "a red square standing still"),
    ("blue", "circle", "right", "the blue ball slides to the right on a black background"),
    ("green", "circle", "left", "there is a green ball that is heading left"),
    ("yellow", "square", "right", "video of a yellow square heading right"),
    ("blue", "triangle", "down", "there is a blue triangle that drifts down"),
    ("white", "circle", "up", "video of a white circle climbing up"),
    ("red", "triangle", "growing", "video of a red triangle that grows bigger"),
    ("yellow", "triangle", "shrinking", "there is a yellow triangle that shrinks smaller"),
    ("purple", "square", "left", "video of a purple block drifting left"),
    ("green", "square", "still", "there is a green box that stays still"),
]


def evaluate(unet, text_encoder, vae, seed: int = 777, steps: int = 20, guidance: float = 6.0,
             cases=EVAL_CASES, save: Optional[str] = None) -> Tuple[float, List[Dict[str, object]]]:
    unet.eval(); text_encoder.eval()
    lat = ddim_sample(unet, text_encoder, [c[3] for c in cases], seed, steps, guidance)
    vids = decode_latents(vae, lat)
    rows = []
    ok = 0
    for (color, shape, motion, prompt), v in zip(cases, vids):
        a = analyze(v)
        good = a["color"] == color and a["motion"] == motion
        ok += int(good)
        rows.append({"prompt": prompt, "want": f"{color}/{motion}", "got": f"{a['color']}/{a['motion']}", "ok": good,
                     **{k: round(a[k], 1) for k in ("dx", "dy", "area_ratio") if k in a}})
    if save:
        try:
            from PIL import Image

            sheet = np.concatenate([np.concatenate(list(v), 1) for v in vids], 0)
            Image.fromarray(sheet).save(save)
        except Exception as e:  # pragma: no cover
            print("could not save sheet:", e)
    return ok / len(cases), rows


# ---------------------------------------------------------------------------------------------
# stage 1: VAE


def train_vae(args, path: str) -> AutoencoderKL:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    vae = AutoencoderKL(vae_config())
    opt = torch.optim.Adam(vae.parameters(), lr=args.vae_lr)
    t0 = time.time()
    step = 0
    budget = args.vae_minutes * 60
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for gp in opt.param_groups:
            gp["lr"] = args.vae_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        imgs, ms = [], []
        for _ in range(args.vae_batch // 2):
            f, m = clips.render(clips.random_spec(rng))
            for i in rng.sample(range(clips.FRAMES), 2):
                imgs.append(f[i]); ms.append(m[i])
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2) * 2 - 1
        wgt = 1.0 + 8.0 * torch.from_numpy(np.stack(ms))[:, None]
        mom = vae.encode_moments(x)
        mu, logvar = mom.chunk(2, 1)
        logvar = logvar.clamp(-30, 20)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        y = vae.decode(z)
        rec = (wgt * (y - x) ** 2).mean()
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).mean()
        loss = rec + args.vae_kl * kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"[vae] step {step} {time.time() - t0:.0f}s rec {rec.item():.4f} kl {kl.item():.3f} "
                  f"std(mu) {mu.std().item():.3f} sigma {(0.5 * logvar).exp().mean().item():.3f}", flush=True)
    vae.eval()
    # scaling factor = 1 / std of the posterior means over fresh clips
    with torch.no_grad():
        v, _, _ = clips.make_dataset(200, args.seed + 1)
        x = torch.from_numpy(v.reshape(-1, clips.SIZE, clips.SIZE, 3)).permute(0, 3, 1, 2).float() / 127.5 - 1
        mu = vae.encode_mean(x)
        std = mu.std().item()
        rec = ((vae.decode(mu) - x) ** 2).mean().item()
    sf = round(1.0 / std, 4)
    vae.config.scaling_factor = sf
    print(f"[vae] done: {step} steps, {time.time() - t0:.0f}s; latent mean {mu.mean().item():.3f} std {std:.4f} "
          f"-> scaling_factor {sf}; eval MSE {rec:.5f}", flush=True)
    torch.save({"state_dict": vae.state_dict(), "scaling_factor": sf, "steps": step, "seconds": time.time() - t0,
                "config": vae.config.to_dict()}, path)
    return vae


def load_vae(path: str) -> AutoencoderKL:
    ck = torch.load(path)
    vae = AutoencoderKL(vae_config(ck["scaling_factor"]))
    vae.load_state_dict(ck["state_dict"])
    return vae.eval()


# ---------------------------------------------------------------------------------------------
# stage 2: latents


def encode_clips(args, vae: AutoencoderKL, path: str):
    t0 = time.time()
    videos, _, specs = clips.make_dataset(args.num_clips, args.seed + 2)
    lats = []
    with torch.no_grad():
        for i in range(0, len(videos), 16):
            v = torch.from_numpy(videos[i : i + 16])  # [b, F, H, W, 3]
            b = v.shape[0]
            x = v.reshape(-1, clips.SIZE, clips.SIZE, 3).permute(0, 3, 1, 2).float() / 127.5 - 1
            z = vae.encode_mean(x) * vae.config.scaling_factor  # [b*F, 4, h, w]
            lats.append(z.reshape(b, clips.FRAMES, 4, z.shape[-2], z.shape[-1]).permute(0, 2, 1, 3, 4).contiguous())
    lat = torch.cat(lats)
    meta = [{"shape": s.shape, "color": s.color, "motion": s.motion, "background": s.background} for s in specs]
    torch.save({"latents": lat, "specs": meta}, path)
    print(f"[latents] {tuple(lat.shape)} mean {lat.mean().item():.3f} std {lat.std().item():.3f} "
          f"in {time.time() - t0:.0f}s", flush=True)
    return lat, meta


# ---------------------------------------------------------------------------------------------
# stage 3: text encoder (pretrained on the captions, then frozen, as SD freezes CLIP)


ATTRIBUTES = (("color", list(clips.COLORS)), ("shape", list(clips.SHAPES)), ("motion", list(clips.MOTIONS)),
              ("background", ["none"] + list(clips.BACKGROUNDS)))


def summary_tokens(hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean of the final hidden states at <|endoftext|> and the padding after it ([B, L, D] -> [B, D]).

    With causal attention these positions see the whole caption; they are most of the 77 keys the
    UNet's cross-attention reads."""
    m = (ids == EOS).to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


def pretrain_text_encoder(args, vocab: Sequence[int], path: str) -> CLIPTextModel:
    """Trains the text encoder to name every attribute of a caption's clip (color, shape, motion,
    background) from its summary tokens, so that words the UNet must follow are far apart in its
    output before the UNet sees it. Jointly trained from scratch, the encoder kept colors apart but
    collapsed motion words ("moving left" vs "right": 0.1 apart at norm 49), and the UNet never
    learned to follow motion."""
    torch.manual_seed(args.seed + 4)
    rng = random.Random(args.seed + 4)
    tok = get_tokenizer()
    unk = unknown_proxy_id(vocab)
    te = build_text_encoder(vocab)
    heads = nn.ModuleList([nn.Linear(text_config().hidden_size, len(values)) for _, values in ATTRIBUTES])
    opt = torch.optim.AdamW(list(te.parameters()) + list(heads.parameters()), lr=args.text_lr, weight_decay=0.0)
    t0 = time.time()
    step = 0
    while step < args.text_steps:
        for gp in opt.param_groups:
            gp["lr"] = args.text_lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / args.text_steps))
        specs = [clips.random_spec(rng) for _ in range(args.text_batch)]
        caps, bgs = [], []
        for sp in specs:
            c = clips.caption(sp, rng)
            caps.append(c)
            bgs.append(sp.background if sp.background in c else "none")
        ids = torch.tensor([tok.encode(c) for c in caps], dtype=torch.int64)
        drop = (torch.rand(ids.shape) < args.text_word_dropout) & (ids != BOS) & (ids != EOS)
        ids = torch.where(drop, torch.full_like(ids, unk), ids)
        z = summary_tokens(te(ids), ids)
        loss = z.new_zeros(())
        accs = []
        for head, (name, values) in zip(heads, ATTRIBUTES):
            want = [getattr(sp, name) for sp in specs] if name != "background" else bgs
            y = torch.tensor([values.index(w) for w in want])
            logits = head(z)
            loss = loss + F.cross_entropy(logits, y)
            accs.append((logits.argmax(-1) == y).float().mean().item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"[text] step {step} {time.time() - t0:.0f}s loss {loss.item():.4f} accuracy "
                  + " ".join(f"{n} {a:.2f}" for (n, _), a in zip(ATTRIBUTES, accs)), flush=True)
    te.eval()
    with torch.no_grad():
        e = te(torch.tensor([tok.encode("a red circle moving left"), tok.encode("a red circle moving right"),
                             tok.encode("a blue circle moving left")]))
    print(f"[text] done: {step} steps, {time.time() - t0:.0f}s; |left - right| {(e[0] - e[1]).norm():.2f}, "
          f"|red - blue| {(e[0] - e[2]).norm():.2f}, |e| {e[0].norm():.2f}", flush=True)
    torch.save({"text_encoder": te.state_dict(), "vocab": list(vocab), "steps": step, "seconds": time.time() - t0}, path)
    return te


def load_text_encoder(path: str, vocab: Sequence[int]) -> CLIPTextModel:
    ck = torch.load(path)
    assert ck["vocab"] == list(vocab), f"{path}: vocabulary differs"
    te = build_text_encoder(vocab)
    te.load_state_dict(ck["text_encoder"])
    return te.eval()


# ---------------------------------------------------------------------------------------------
# stage 4: UNet (with the frozen text encoder; --text-steps 0 trains both jointly, the first demo's recipe)


def loss_weights(args, t: torch.Tensor) -> torch.Tensor:
    """Per-sample weights of the epsilon MSE at timesteps t."""
    a = ALPHAS_CUMPROD[t]
    if args.v_loss:
        # the v-prediction loss, written for an epsilon model: |v err|^2 = |eps err|^2 / alpha_bar.
        # The plain epsilon loss weights the x0 error by SNR, about 0.003 where the first sampling steps
        # run, so the words that only matter there (the direction of motion: at lower noise it can be read
        # from the noisy frames) got next to no gradient.
        return 1.0 / a
    if args.min_snr_gamma > 0:  # Min-SNR weighting (Hang et al. 2023), epsilon form: min(SNR, g) / SNR
        snr = a / (1 - a)
        return snr.clamp(max=args.min_snr_gamma) / snr
    return torch.ones_like(a)


class _Spec:
    def __init__(self, d):
        self.shape, self.color, self.motion, self.background = d["shape"], d["color"], d["motion"], d["background"]


def train_unet(args, vae: AutoencoderKL, lat: torch.Tensor, meta, out_path: str,
               frozen_te: Optional[CLIPTextModel] = None):
    torch.manual_seed(args.seed + 3)
    rng = random.Random(args.seed + 3)
    tok = get_tokenizer()
    vocab = training_vocab()
    unk = unknown_proxy_id(vocab)
    special = {BOS, EOS}
    te = frozen_te if frozen_te is not None else build_text_encoder(vocab)
    unet = UNet3DConditionModel(unet_config())
    if frozen_te is not None:
        te.requires_grad_(False)
        te_ema = te  # nothing to average
    else:
        te_ema = build_text_encoder(vocab); te_ema.load_state_dict(te.state_dict())
    unet_ema = UNet3DConditionModel(unet_config()); unet_ema.load_state_dict(unet.state_dict())
    step0 = 0
    if args.resume:  # continue from a checkpoint's EMA weights (fresh optimizer, short warmup)
        rk = torch.load(args.resume)
        assert rk["vocab"] == vocab, "resume: vocabulary differs"
        if frozen_te is None:
            for m in (te, te_ema):
                m.load_state_dict(rk["text_encoder"])
        for m in (unet, unet_ema):
            m.load_state_dict(rk["unet"])
        step0 = int(rk["step"])
        history = list(rk.get("history", []))
        print(f"[unet] resumed from {args.resume} at step {step0}", flush=True)
    for p in list(te_ema.parameters()) + list(unet_ema.parameters()):
        p.requires_grad_(False)
    params = [p for p in list(te.parameters()) + list(unet.parameters()) if p.requires_grad]
    print(f"[unet] unet params {sum(p.numel() for p in unet.parameters())}, text params "
          f"{sum(p.numel() for p in te.parameters())}, vocab rows {len(vocab) + 1}", flush=True)
    opt = torch.optim.AdamW(
        [{"params": list(unet.parameters()), "mult": 1.0}]
        + ([] if frozen_te is not None else [{"params": list(te.parameters()), "mult": args.text_lr_mult}]),
        lr=args.lr, weight_decay=0.0)
    specs = [_Spec(d) for d in meta]
    n = lat.shape[0]
    t0 = time.time()
    last_ckpt = t0
    last_eval = t0
    budget = args.unet_minutes * 60
    step = step0
    log_loss = 0.0
    if not args.resume:
        history = []

    def save(tag: str):
        ck = {
            "unet": unet_ema.state_dict(), "text_encoder": te_ema.state_dict(), "vocab": vocab,
            "vae_path": os.path.join(args.workdir, "vae.pt"), "step": step, "seconds": time.time() - t0,
            "args": vars(args), "history": history, "resumed_from_step": step0,
            "seconds_total": time.time() - t0 + (float(rk["seconds"]) if args.resume else 0.0),
            "unet_config": unet_config().to_dict(), "text_config": text_config().to_dict(),
            "text_encoder_frozen": frozen_te is not None,
        }
        tmp = out_path + ".tmp"
        torch.save(ck, tmp)
        os.replace(tmp, out_path)
        print(f"[unet] checkpoint ({tag}) step {step} -> {out_path}", flush=True)

    while True:
        elapsed = time.time() - t0
        if elapsed >= budget or (args.unet_steps and step - step0 >= args.unet_steps):
            break
        frac = elapsed / budget
        warm = min(1.0, (step - step0 + 1) / (50 if args.resume else 200))
        lr = args.lr * warm * (0.15 + 0.85 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for gp in opt.param_groups:
            gp["lr"] = lr * gp["mult"]
        idx = [rng.randrange(n) for _ in range(args.batch)]
        x0 = lat[idx]
        caps = []
        for i in idx:
            caps.append("" if rng.random() < args.caption_dropout else clips.caption(specs[i], rng))
        ids = torch.tensor([tok.encode(c) for c in caps], dtype=torch.int64)
        drop = (torch.rand(ids.shape) < args.word_dropout) & ~(ids == BOS) & ~(ids == EOS)
        ids = torch.where(drop, torch.full_like(ids, unk), ids)
        if args.t_power == 1.0:
            t = torch.randint(0, T_STEPS, (args.batch,))
        else:
            t = (torch.rand(args.batch) ** (1.0 / args.t_power) * T_STEPS).long().clamp(0, T_STEPS - 1)
        noise = torch.randn_like(x0)
        a = ALPHAS_CUMPROD[t].view(-1, 1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with torch.set_grad_enabled(frozen_te is None):
            ctx = te(ids)
        eps = unet(xt, t, ctx)
        loss = (loss_weights(args, t) * ((eps - noise) ** 2).mean(dim=(1, 2, 3, 4))).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for m_ema, m in ((unet_ema, unet), (te_ema, te)) if frozen_te is None else ((unet_ema, unet),):
                for pe, p in zip(m_ema.parameters(), m.parameters()):
                    pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
                for be, b in zip(m_ema.buffers(), m.buffers()):
                    be.copy_(b)
        log_loss += loss.item()
        if step % 25 == 0:
            el = time.time() - t0
            print(f"[unet] step {step} {el:.0f}s loss {log_loss / 25:.4f} lr {lr:.2e} {(step - step0) * args.batch / el:.1f} clips/s",
                  flush=True)
            history.append((step, round(el), log_loss / 25))
            log_loss = 0.0
        now = time.time()
        if now - last_ckpt > args.ckpt_minutes * 60:
            save("periodic")
            last_ckpt = now
        if args.eval_minutes and now - last_eval > args.eval_minutes * 60:
            acc, rows = evaluate(unet_ema, te_ema, vae, save=os.path.join(args.workdir, f"eval_{step}.png"))
            print(f"[eval] step {step} accuracy {acc:.2f}", flush=True)
            for r in rows:
                print("   ", json.dumps(r), flush=True)
            last_eval = time.time()
    save("final")
    return unet_ema, te_ema


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/animatorch-demo-train")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    ap.add_argument("--vae-minutes", type=float, default=11)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--vae-kl", type=float, default=1e-3)
    ap.add_argument("--num-clips", type=int, default=3000)
    ap.add_argument("--text-steps", type=int, default=3000,
                    help="pretrain the text encoder on caption attributes for this many steps, then freeze it "
                         "(0: train it jointly with the UNet)")
    ap.add_argument("--text-batch", type=int, default=64)
    ap.add_argument("--text-lr", type=float, default=1e-3)
    ap.add_argument("--text-word-dropout", type=float, default=0.1)
    ap.add_argument("--unet-minutes", type=float, default=48)
    ap.add_argument("--unet-steps", type=int, default=0, help="stop after this many steps (0: time budget only)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--caption-dropout", type=float, default=0.1)
    ap.add_argument("--word-dropout", type=float, default=0.05)
    ap.add_argument("--ckpt-minutes", type=float, default=4)
    ap.add_argument("--eval-minutes", type=float, default=12)
    ap.add_argument("--resume", metavar="CKPT", help="continue training the UNet + text encoder from a checkpoint")
    ap.add_argument("--out-name", default="unet_ema.pt", help="checkpoint file name in --workdir")
    ap.add_argument("--t-power", type=float, default=1.0,
                    help="timesteps t = 1000 * u^(1/p), u ~ U(0,1): p > 1 favours high noise levels (p = 1: uniform)")
    ap.add_argument("--text-lr-mult", type=float, default=1.0, help="learning-rate multiplier of the text encoder")
    ap.add_argument("--min-snr-gamma", type=float, default=0.0, help="Min-SNR loss weighting (0: plain MSE)")
    ap.add_argument("--v-loss", action="store_true",
                    help="weight the epsilon loss by 1 / alpha_bar (the v-prediction loss; x0 errors count at every noise level)")
    ap.add_argument("--eval", metavar="CKPT", help="only evaluate a unet checkpoint")
    ap.add_argument("--eval-seed", type=int, default=777)
    ap.add_argument("--eval-steps", type=int, default=20)
    ap.add_argument("--guidance", type=float, default=6.0)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    vae_path = os.path.join(args.workdir, "vae.pt")

    if args.eval:
        ck = torch.load(args.eval)
        vae = load_vae(ck["vae_path"])
        te = build_text_encoder(ck["vocab"]); te.load_state_dict(ck["text_encoder"])
        unet = UNet3DConditionModel(unet_config()); unet.load_state_dict(ck["unet"])
        acc, rows = evaluate(unet, te, vae, seed=args.eval_seed, steps=args.eval_steps, guidance=args.guidance,
                             save=os.path.join(args.workdir, f"eval_only_{ck['step']}_{args.eval_seed}.png"))
        for r in rows:
            print(json.dumps(r))
        print(f"step {ck['step']} accuracy {acc:.2f}")
        return

    vae = load_vae(vae_path) if os.path.exists(vae_path) else train_vae(args, vae_path)
    lat_path = os.path.join(args.workdir, "latents.pt")
    if os.path.exists(lat_path):
        d = torch.load(lat_path)
        lat, meta = d["latents"], d["specs"]
    else:
        lat, meta = encode_clips(args, vae, lat_path)
    frozen_te = None
    if args.text_steps > 0:
        te_path = os.path.join(args.workdir, "text_encoder.pt")
        vocab = training_vocab()
        frozen_te = load_text_encoder(te_path, vocab) if os.path.exists(te_path) else pretrain_text_encoder(args, vocab, te_path)
    train_unet(args, vae, lat, meta, os.path.join(args.workdir, args.out_name), frozen_te)


if __name__ == "__main__":
    main()
