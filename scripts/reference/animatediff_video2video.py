#!/usr/bin/env python3
"""Reference latents from diffusers' AnimateDiffVideoToVideoPipeline on the tiny random model the tests export
(``export_random_model.py --preset tiny-v2 --seed 0 --numerics diffusers``), written as the small fixture
test/fixtures/animatediff-video2video.json that test/video-to-video.test.ts compares generate({ video }) with (1e-4).

    python scripts/reference/animatediff_video2video.py > test/fixtures/animatediff-video2video.json   # the venv of scripts/requirements-torch2.txt

As animatediff_pipeline.py: our UNet's seeded random weights mapped onto diffusers' UNetMotionModel, and
here also our VAE's (diffusers parameter names already) loaded into diffusers' AutoencoderKL, whose encoder
the pipeline runs: it samples the posterior (mean + std * randn) with the call's generator, chunk by chunk,
then draws the noise with the same generator and noises with scheduler.add_noise at the first timestep.
The input video is a formula of the pixel position (uint8 RGB frames as PIL images, the usual diffusers
input), computed the same way by the test, so the fixture holds only settings and diffusers' final latents.
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
from export_random_model import build_random_models  # noqa: E402

PRESET, SEED = "tiny-v2", 0
SETTINGS = {"width": 64, "height": 64}
NUM_FRAMES = 4
EMBEDS_SEED, NEGATIVE_EMBEDS_SEED, LATENTS_SEED = 1, 2, 42
BASE_SCHEDULER = {k: v for k, v in SCHEDULER_CONFIG.items() if k != "_class_name"}
# (scheduler, config, steps, guidance, strength, enforce_inference_steps, decode_chunk_size)
CASES = {
    "ddim_strength_0.6": ("DDIMScheduler", BASE_SCHEDULER, 5, 7.5, 0.6, False, 16),
    "ddim_strength_1.0": ("DDIMScheduler", BASE_SCHEDULER, 3, 7.5, 1.0, False, 3),
    "euler_strength_0.6": ("EulerDiscreteScheduler", {**BASE_SCHEDULER, "timestep_spacing": "leading"}, 5, 7.5, 0.6, False, 16),
    "ddim_strength_0.5_enforce_steps": ("DDIMScheduler", BASE_SCHEDULER, 2, 7.5, 0.5, True, 16),
}


def input_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """uint8 [F, H, W, 3]: (37 f + 5 y + 3 x + 80 c + (x y mod 7) * 11) mod 256 (test/video-to-video.test.ts computes it too)."""
    f, y, x, c = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return ((37 * f + 5 * y + 3 * x + 80 * c + ((x * y) % 7) * 11) % 256).astype(np.uint8)


def main() -> int:
    import diffusers
    from diffusers import AnimateDiffVideoToVideoPipeline, AutoencoderKL
    from PIL import Image

    version, UNet2D, Adapter, Motion = compare_diffusers.import_diffusers()
    preset = get_preset(PRESET, numerics="diffusers")
    _, ours_unet, ours_vae, _ = build_random_models(PRESET, SEED, "diffusers")
    unet = compare_diffusers.diffusers_unet(preset.unet, UNet2D, Adapter, Motion)
    compare_diffusers.load_same_weights(ours_unet, unet)
    unet.eval()
    vae = compare_diffusers.diffusers_vae(ours_vae, preset.vae, AutoencoderKL)

    embeds_shape = (1, 77, preset.unet.cross_attention_dim)
    prompt_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(EMBEDS_SEED))
    negative_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(NEGATIVE_EMBEDS_SEED))
    frames = input_frames(NUM_FRAMES, SETTINGS["height"], SETTINGS["width"])
    video = [Image.fromarray(fr) for fr in frames]

    cases = {}
    for name, (cls_name, config, steps, guidance, strength, enforce, chunk) in CASES.items():
        scheduler = getattr(diffusers, cls_name).from_config(config)
        pipe = AnimateDiffVideoToVideoPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, motion_adapter=None, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        runs = []
        for _ in range(2):
            with torch.no_grad():
                runs.append(pipe(
                    video=video, strength=strength, enforce_inference_steps=enforce, decode_chunk_size=chunk,
                    prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                    num_inference_steps=steps, guidance_scale=guidance,
                    generator=torch.Generator().manual_seed(LATENTS_SEED), output_type="latent", **SETTINGS,
                ).frames)
        latents = runs[0]
        if not torch.isfinite(latents).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit(f"error: {name}: diffusers' result is not finite or does not repeat")
        cases[name] = {"scheduler": {"className": cls_name, "config": config}, "num_inference_steps": steps,
                       "guidance_scale": guidance, "strength": strength, "enforce_inference_steps": enforce,
                       "decode_chunk_size": chunk, "shape": list(latents.shape),
                       "latents": [round(float(x), 7) for x in latents.reshape(-1)]}
    out = {"diffusers": version, "torch": torch.__version__, "export": {"preset": PRESET, "seed": SEED, "numerics": "diffusers"},
           **SETTINGS, "num_frames": NUM_FRAMES, "prompt_embeds_seed": EMBEDS_SEED,
           "negative_prompt_embeds_seed": NEGATIVE_EMBEDS_SEED, "latents_seed": LATENTS_SEED, "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
