#!/usr/bin/env python3
"""Reference latents from diffusers' AnimateDiffSparseControlNetPipeline on the tiny random model the tests export
(``export_random_model.py --preset tiny-v2 --seed 0 --numerics diffusers``) and random tiny SparseCtrls
(``export_controlnet.py --random-tiny-sparse rgb|scribble --seed 5 --numerics diffusers``), written as the small
fixture test/fixtures/animatediff-sparsectrl.json that test/sparsectrl.test.ts compares generate({ controlnet }) with.

    python scripts/reference/animatediff_sparsectrl.py > test/fixtures/animatediff-sparsectrl.json   # the venv of scripts/requirements-torch2.txt

Our UNet's and VAE's seeded random weights are loaded into diffusers' UNetMotionModel and AutoencoderKL (as
animatediff_video2video.py does), the SparseCtrl's through diffusers' own single-file conversion of the original
AnimateDiff layout (convert_animatediff_checkpoint_to_diffusers). The keyframe images are a formula of the pixel
position (uint8 RGB as PIL images at the rendered size), computed the same way by the test.

An RGB SparseCtrl's keyframes are VAE-encoded and the posterior SAMPLED from torch's global RNG (diffusers passes
no generator there): each run seeds it with torch.manual_seed(KEYFRAME_SEED) right before the call, which is what
generate()'s keyframeSeed (default: the video's seed, here LATENTS_SEED) reproduces.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import compare_diffusers  # noqa: E402
from animatorch_export.configs import get_preset  # noqa: E402
from animatorch_export.manifest import SCHEDULER_CONFIG  # noqa: E402
from export_controlnet import random_tiny_sparsectrl  # noqa: E402
from export_random_model import build_random_models  # noqa: E402

PRESET, SEED, SPARSE_SEED = "tiny-v2", 0, 5
SETTINGS = {"width": 64, "height": 64}
NUM_FRAMES = 8
EMBEDS_SEED, NEGATIVE_EMBEDS_SEED, LATENTS_SEED = 1, 2, 42
KEYFRAME_SEED = LATENTS_SEED
DDIM = ("DDIMScheduler", {k: v for k, v in SCHEDULER_CONFIG.items() if k != "_class_name"})
# name: (kind, frame indices, steps, guidance, scale, guess_mode)
# RGB at guidance 3: 3 steps of 7.5 amplify the float32 rounding of the VAE encoder (1e-6 between torch 1.13 and
# 2.x) to ~2e-4 on the random model (one step of 7.5 stays at 3e-6), as the ControlNet and FreeInit fixtures note
CASES = {
    "rgb_frames_0": ("rgb", [0], 3, 3.0, 1.0, False),
    "rgb_frames_0_7": ("rgb", [0, 7], 3, 3.0, 0.7, False),
    "scribble_frames_0_7": ("scribble", [0, 7], 3, 7.5, 1.0, False),
    "rgb_guess_mode_no_cfg": ("rgb", [0, 7], 3, 1.0, 0.8, True),
}


def keyframe_images(count: int, height: int, width: int) -> np.ndarray:
    """uint8 [K, H, W, 3]: (37 k + 5 y + 9 x + 70 c + (x y mod 7) * 11) mod 256 (the test computes it too)."""
    k, y, x, c = np.meshgrid(np.arange(count), np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return ((37 * k + 5 * y + 9 * x + 70 * c + ((x * y) % 7) * 11) % 256).astype(np.uint8)


def diffusers_sparsectrl(ours, SparseControlNetModel, convert):
    cfg = ours.config
    net = SparseControlNetModel(
        in_channels=cfg.in_channels, conditioning_channels=cfg.conditioning_channels,
        down_block_types=tuple(t.replace("3D", "Motion") for t in cfg.down_block_types),
        block_out_channels=tuple(cfg.block_out_channels), layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups, norm_eps=cfg.norm_eps, cross_attention_dim=cfg.cross_attention_dim,
        attention_head_dim=cfg.attention_head_dim, conditioning_embedding_out_channels=tuple(cfg.conditioning_embedding_out_channels),
        motion_max_seq_length=cfg.motion_max_seq_length, motion_num_attention_heads=cfg.motion_num_attention_heads,
        concat_conditioning_mask=cfg.concat_conditioning_mask, use_simplified_condition_embedding=cfg.use_simplified_condition_embedding,
    )
    missing, unexpected = net.load_state_dict(convert(dict(ours.state_dict())), strict=False)
    if unexpected or any(not k.endswith("pos_embed.pe") for k in missing):
        raise SystemExit(f"error: SparseCtrl weights do not map onto diffusers' SparseControlNetModel: missing {missing[:5]}; unexpected {unexpected[:5]}")
    return net.eval()


def main() -> int:
    import diffusers
    from diffusers import AnimateDiffSparseControlNetPipeline, AutoencoderKL, SparseControlNetModel
    from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers
    from PIL import Image

    version, UNet2D, Adapter, Motion = compare_diffusers.import_diffusers()
    preset = get_preset(PRESET, numerics="diffusers")
    _, ours_unet, ours_vae, _ = build_random_models(PRESET, SEED, "diffusers")
    unet = compare_diffusers.diffusers_unet(preset.unet, UNet2D, Adapter, Motion)
    compare_diffusers.load_same_weights(ours_unet, unet)
    unet.eval()
    vae = compare_diffusers.diffusers_vae(ours_vae, preset.vae, AutoencoderKL)
    nets = {kind: diffusers_sparsectrl(random_tiny_sparsectrl(kind, SPARSE_SEED, "diffusers"), SparseControlNetModel, convert_animatediff_checkpoint_to_diffusers)
            for kind in ("rgb", "scribble")}

    embeds_shape = (1, 77, preset.unet.cross_attention_dim)
    prompt_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(EMBEDS_SEED))
    negative_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(NEGATIVE_EMBEDS_SEED))

    def run(kind, indices, steps, guidance, scale, guess):
        images = [Image.fromarray(im) for im in keyframe_images(len(indices), SETTINGS["height"], SETTINGS["width"])]
        pipe = AnimateDiffSparseControlNetPipeline(
            vae=vae, text_encoder=None, tokenizer=None, unet=unet, motion_adapter=None, controlnet=nets[kind],
            scheduler=getattr(diffusers, DDIM[0]).from_config(DDIM[1]))
        pipe.set_progress_bar_config(disable=True)
        torch.manual_seed(KEYFRAME_SEED)  # the RGB keyframes' posterior sample
        with torch.no_grad():
            return pipe(
                conditioning_frames=images, controlnet_frame_indices=indices, controlnet_conditioning_scale=scale,
                guess_mode=guess, prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                num_frames=NUM_FRAMES, num_inference_steps=steps, guidance_scale=guidance,
                generator=torch.Generator().manual_seed(LATENTS_SEED), output_type="latent", **SETTINGS,
            ).frames

    cases = {}
    for name, (kind, indices, steps, guidance, scale, guess) in CASES.items():
        runs = [run(kind, indices, steps, guidance, scale, guess) for _ in range(2)]
        if not torch.isfinite(runs[0]).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit(f"error: {name}: diffusers' result is not finite or does not repeat")
        cases[name] = {"scheduler": {"className": DDIM[0], "config": DDIM[1]}, "num_inference_steps": steps,
                       "guidance_scale": guidance, "guess_mode": guess, "kind": kind, "frame_indices": indices, "scale": scale,
                       "shape": list(runs[0].shape), "latents": [round(float(x), 7) for x in runs[0].reshape(-1)]}
    out = {"diffusers": version, "torch": torch.__version__, "export": {"preset": PRESET, "seed": SEED, "numerics": "diffusers"},
           "sparsectrl_seed": SPARSE_SEED, **SETTINGS, "num_frames": NUM_FRAMES, "prompt_embeds_seed": EMBEDS_SEED,
           "negative_prompt_embeds_seed": NEGATIVE_EMBEDS_SEED, "latents_seed": LATENTS_SEED, "keyframe_seed": KEYFRAME_SEED,
           "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
