#!/usr/bin/env python3
"""Reference trajectories from diffusers' AnimateDiffPipeline on the tiny random model the tests export
(``export_random_model.py --preset tiny-v2 --seed 0 --numerics diffusers``), written as the small fixture
test/fixtures/animatediff-pipeline.json that test/pipeline.test.ts compares generate() with (1e-4).

    python scripts/reference/animatediff_pipeline.py > test/fixtures/animatediff-pipeline.json

diffusers is not an animatorch dependency: run this in a venv that has it. The committed fixture
came from torch 2.15.0 + diffusers 0.42.1 + transformers 5.24.0 (the torch 2.x venv
of scripts/requirements-torch2.txt). It also runs under torch 1.13 (Debian's python3-torch, venv made
with --system-site-packages) with diffusers==0.29.2 transformers==4.44.2 safetensors==0.4.5
huggingface_hub==0.24.6 accelerate==0.33.0; the two agree to 7e-5 relative on these cases.

Same weights on both sides: our UNet3DConditionModel with the seeded random weights the export gives,
loaded into diffusers' UNetMotionModel (compare_diffusers.py's mapping). The prompt embeddings and the
initial noise are torch.randn draws from seeded CPU generators, which animatorch's createGenerator
reproduces exactly, so the fixture holds only the settings and diffusers' final latents. The pipeline
runs its own check_inputs -> encode_prompt (with the embeddings) -> set_timesteps -> prepare_latents
-> guided denoising loop; the VAE is not part of the comparison (output_type='latent').
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import torch  # noqa: E402

import compare_diffusers  # noqa: E402
from animatorch_export.configs import get_preset  # noqa: E402
from animatorch_export.manifest import SCHEDULER_CONFIG  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402

PRESET, SEED = "tiny-v2", 0
SETTINGS = {"width": 64, "height": 64, "num_frames": 4}
EMBEDS_SEED, NEGATIVE_EMBEDS_SEED, LATENTS_SEED = 1, 2, 42
BASE_SCHEDULER = {k: v for k, v in SCHEDULER_CONFIG.items() if k != "_class_name"}
# (scheduler, config, steps, guidance). Not DPM-Solver++ here: it works on x0 predictions, which at
# t=999 divide by alpha ~ 0.07, and on this random model two diffusers versions already differ by
# 1e-4 relative; its float64 trajectories are checked in test/schedulers.test.ts.
CASES = {
    "ddim_4_steps": ("DDIMScheduler", BASE_SCHEDULER, 4, 7.5),
    "euler_3_steps": ("EulerDiscreteScheduler", {**BASE_SCHEDULER, "timestep_spacing": "leading"}, 3, 7.5),
}


def main() -> int:
    import diffusers
    from diffusers import AnimateDiffPipeline, AutoencoderKL

    version, UNet2D, Adapter, Motion = compare_diffusers.import_diffusers()
    cfg = get_preset(PRESET, numerics="diffusers").unet
    ours = randomize_weights_(UNet3DConditionModel(cfg), SEED)
    unet = compare_diffusers.diffusers_unet(cfg, UNet2D, Adapter, Motion)
    compare_diffusers.load_same_weights(ours, unet)
    unet.eval()
    # Only its block count matters (vae_scale_factor 8); output_type='latent' never decodes.
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4, latent_channels=4)
    embeds_shape = (1, 77, cfg.cross_attention_dim)
    prompt_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(EMBEDS_SEED))
    negative_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(NEGATIVE_EMBEDS_SEED))

    # Under Debian's torch 1.13 (CPU, classic attention) a run came out non-finite now and then here;
    # each case runs twice and must be finite and repeat exactly, else the script stops (run it again).

    cases = {}
    for name, (cls_name, config, steps, guidance) in CASES.items():
        scheduler = getattr(diffusers, cls_name).from_config(config)  # keeps the keys the class takes, as createScheduler does
        pipe = AnimateDiffPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, motion_adapter=None, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        runs = []
        for _ in range(2):
            with torch.no_grad():
                runs.append(pipe(
                    prompt_embeds=prompt_embeds,
                    negative_prompt_embeds=negative_embeds,
                    num_inference_steps=steps,
                    guidance_scale=guidance,
                    generator=torch.Generator().manual_seed(LATENTS_SEED),
                    output_type="latent",
                    **SETTINGS,
                ).frames)
        latents = runs[0]
        if not torch.isfinite(latents).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit(f"error: {name}: diffusers' result is not finite ({int((~torch.isfinite(runs[0])).sum())}, {int((~torch.isfinite(runs[1])).sum())} non-finite) or does not repeat ({float((runs[0] - runs[1]).abs().max())})")
        cases[name] = {"scheduler": {"className": cls_name, "config": config}, "num_inference_steps": steps, "guidance_scale": guidance,
                       "shape": list(latents.shape), "latents": [round(float(v), 7) for v in latents.reshape(-1)]}
    out = {"diffusers": version, "torch": torch.__version__, "export": {"preset": PRESET, "seed": SEED, "numerics": "diffusers"},
           **SETTINGS, "prompt_embeds_seed": EMBEDS_SEED, "negative_prompt_embeds_seed": NEGATIVE_EMBEDS_SEED,
           "latents_seed": LATENTS_SEED, "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
