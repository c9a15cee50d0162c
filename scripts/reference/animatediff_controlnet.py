#!/usr/bin/env python3
"""Reference latents from diffusers' AnimateDiffControlNetPipeline on the tiny random model the tests export
(``export_random_model.py --preset tiny-v2 --seed 0 --numerics diffusers``) and random tiny ControlNets
(``export_controlnet.py --random-tiny --seed 3`` and ``--seed 4``), written as the small fixture
test/fixtures/animatediff-controlnet.json that test/controlnet.test.ts compares generate({ controlnet }) with.

    python scripts/reference/animatediff_controlnet.py > test/fixtures/animatediff-controlnet.json   # the venv of scripts/requirements-torch2.txt

Our UNet's and ControlNets' seeded random weights are loaded into diffusers' UNetMotionModel and
ControlNetModel (the ControlNet's names are diffusers' already). The conditioning frames are a formula
of the pixel position (uint8 RGB frames as PIL images at the rendered size, the usual diffusers input),
computed the same way by the test, so the fixture holds only settings and diffusers' final latents.

Guess mode runs without classifier-free guidance: with guidance diffusers' AnimateDiffControlNetPipeline
runs the ControlNet on the conditional half only and then adds its [F, ...] residuals to the UNet's
[2F, ...] batch, which fails (the case is recorded as ``guess_mode_cfg_fails``); generate() there gives the
unconditional half zero residuals, as StableDiffusionControlNetPipeline does.
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
from export_controlnet import random_tiny_controlnet  # noqa: E402
from export_random_model import build_random_models  # noqa: E402

PRESET, SEED, CONTROLNET_SEEDS = "tiny-v2", 0, (3, 4)
SETTINGS = {"width": 64, "height": 64}
NUM_FRAMES = 4
EMBEDS_SEED, NEGATIVE_EMBEDS_SEED, LATENTS_SEED = 1, 2, 42
DDIM = ("DDIMScheduler", {k: v for k, v in SCHEDULER_CONFIG.items() if k != "_class_name"})
# name: (steps, guidance, [(controlnet index, scale, start, end, pattern)], guess_mode)
# guidance 3 where 5 steps of 7.5 on the random model amplify float32 rounding to ~1e-4 (as the FreeInit fixture)
CASES = {
    "scale_1.0": (3, 7.5, [(0, 1.0, 0.0, 1.0, 0)], False),
    "scale_0.5_start_0.2_end_0.7": (5, 3.0, [(0, 0.5, 0.2, 0.7, 0)], False),
    "two_controlnets": (3, 7.5, [(0, 1.0, 0.0, 1.0, 0), (1, 0.6, 0.0, 0.6, 1)], False),
    "guess_mode_no_cfg": (3, 1.0, [(0, 0.8, 0.0, 1.0, 0)], True),
}


def conditioning_frames(pattern: int, num_frames: int, height: int, width: int) -> np.ndarray:
    """uint8 [F, H, W, 3]: (29 f + 7 y + 11 x + 60 c + 90 p + (x y mod 5) * 13) mod 256 (the test computes it too)."""
    f, y, x, c = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return ((29 * f + 7 * y + 11 * x + 60 * c + 90 * pattern + ((x * y) % 5) * 13) % 256).astype(np.uint8)


def diffusers_controlnet(ours, ControlNetModel):
    cfg = ours.config
    net = ControlNetModel(
        in_channels=cfg.in_channels, conditioning_channels=cfg.conditioning_channels,
        down_block_types=tuple(t.replace("3D", "2D") for t in cfg.down_block_types),
        block_out_channels=tuple(cfg.block_out_channels), layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups, norm_eps=cfg.norm_eps, cross_attention_dim=cfg.cross_attention_dim,
        attention_head_dim=cfg.attention_head_dim,
        conditioning_embedding_out_channels=tuple(cfg.conditioning_embedding_out_channels),
    )
    missing, unexpected = net.load_state_dict(ours.state_dict(), strict=False)
    if missing or unexpected:
        raise SystemExit(f"error: ControlNet weights do not map onto diffusers' ControlNetModel: missing {missing[:5]}; unexpected {unexpected[:5]}")
    return net.eval()


def main() -> int:
    import diffusers
    from diffusers import AnimateDiffControlNetPipeline, ControlNetModel
    from PIL import Image

    version, UNet2D, Adapter, Motion = compare_diffusers.import_diffusers()
    preset = get_preset(PRESET, numerics="diffusers")
    _, ours_unet, _, _ = build_random_models(PRESET, SEED, "diffusers")
    unet = compare_diffusers.diffusers_unet(preset.unet, UNet2D, Adapter, Motion)
    compare_diffusers.load_same_weights(ours_unet, unet)
    unet.eval()
    nets = [diffusers_controlnet(random_tiny_controlnet(s), ControlNetModel) for s in CONTROLNET_SEEDS]

    embeds_shape = (1, 77, preset.unet.cross_attention_dim)
    prompt_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(EMBEDS_SEED))
    negative_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(NEGATIVE_EMBEDS_SEED))
    videos = [[Image.fromarray(fr) for fr in conditioning_frames(p, NUM_FRAMES, SETTINGS["height"], SETTINGS["width"])] for p in (0, 1)]

    def run(steps, guidance, controls, guess):
        cls_name, config = DDIM
        multi = len(controls) > 1
        pick = lambda k: [c[k] for c in controls] if multi else controls[0][k]  # noqa: E731
        pipe = AnimateDiffControlNetPipeline(
            vae=None, text_encoder=None, tokenizer=None, unet=unet, motion_adapter=None,
            controlnet=[nets[c[0]] for c in controls] if multi else nets[controls[0][0]],
            scheduler=getattr(diffusers, cls_name).from_config(config))
        pipe.set_progress_bar_config(disable=True)
        with torch.no_grad():
            return pipe(
                conditioning_frames=[videos[c[4]] for c in controls] if multi else videos[controls[0][4]],
                controlnet_conditioning_scale=pick(1), control_guidance_start=pick(2), control_guidance_end=pick(3),
                guess_mode=guess, prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                num_frames=NUM_FRAMES, num_inference_steps=steps, guidance_scale=guidance,
                generator=torch.Generator().manual_seed(LATENTS_SEED), output_type="latent", **SETTINGS,
            ).frames

    cases = {}
    for name, (steps, guidance, controls, guess) in CASES.items():
        runs = [run(steps, guidance, controls, guess) for _ in range(2)]
        if not torch.isfinite(runs[0]).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit(f"error: {name}: diffusers' result is not finite or does not repeat")
        cases[name] = {"scheduler": {"className": DDIM[0], "config": DDIM[1]}, "num_inference_steps": steps,
                       "guidance_scale": guidance, "guess_mode": guess,
                       "controlnets": [{"seed": CONTROLNET_SEEDS[c[0]], "scale": c[1], "guidance_start": c[2],
                                        "guidance_end": c[3], "pattern": c[4]} for c in controls],
                       "shape": list(runs[0].shape), "latents": [round(float(x), 7) for x in runs[0].reshape(-1)]}
    try:
        run(2, 7.5, [(0, 1.0, 0.0, 1.0, 0)], True)
        guess_cfg_fails = False
    except RuntimeError:
        guess_cfg_fails = True
    out = {"diffusers": version, "torch": torch.__version__, "export": {"preset": PRESET, "seed": SEED, "numerics": "diffusers"},
           **SETTINGS, "num_frames": NUM_FRAMES, "prompt_embeds_seed": EMBEDS_SEED,
           "negative_prompt_embeds_seed": NEGATIVE_EMBEDS_SEED, "latents_seed": LATENTS_SEED,
           "guess_mode_cfg_fails": guess_cfg_fails, "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
