#!/usr/bin/env python3
"""Reference latents from diffusers' AnimateDiffPipeline with FreeInit (``enable_free_init``) on the tiny random
model the tests export (``export_random_model.py --preset tiny-v2 --seed 0 --numerics diffusers``), written as the
small fixture test/fixtures/animatediff-free-init.json that test/free-init.test.ts compares generate({ freeInit })
with (1e-4).

    python scripts/reference/animatediff_free_init.py > test/fixtures/animatediff-free-init.json   # the venv of scripts/requirements-torch2.txt

Set-up as animatediff_pipeline.py (same weights, embeddings and noise seeds). FreeInitMixin: iteration 0
denoises the initial noise; each later one diffuses the previous result back to t = num_train_timesteps - 1
with that same initial noise, keeps its low frequencies (3D FFT over frames, height, width, times the
butterworth/gaussian/ideal filter) and takes the high ones from a fresh randn drawn with the call's generator;
fast sampling runs int(steps / iterations * (i + 1)) steps (at least 1) in iteration i.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import animatediff_pipeline as base  # noqa: E402

# (method, iterations, order, spatial, temporal, fast sampling, steps)
CASES = {
    "butterworth": ("butterworth", 2, 4, 0.25, 0.25, False, 3),
    "butterworth_fast": ("butterworth", 3, 4, 0.25, 0.25, True, 4),
    "gaussian": ("gaussian", 2, 4, 0.4, 0.3, False, 3),
    "gaussian_fast": ("gaussian", 3, 4, 0.25, 0.25, True, 4),
}
# Below the t2v fixture's 7.5 (animatediff_pipeline.py checks guidance itself): each FreeInit iteration
# re-mixes the latents through diffusers' float32 FFT (ours is float64), and on this random model guidance
# 7.5 amplified that rounding to 1.05e-4 over fast sampling's 7 UNet calls on torch 2.x (7e-5 on 1.13).
GUIDANCE = 3.0


def main() -> int:
    import diffusers
    from diffusers import AnimateDiffPipeline, AutoencoderKL

    version, UNet2D, Adapter, Motion = base.compare_diffusers.import_diffusers()
    cfg = base.get_preset(base.PRESET, numerics="diffusers").unet
    ours = base.randomize_weights_(base.UNet3DConditionModel(cfg), base.SEED)
    unet = base.compare_diffusers.diffusers_unet(cfg, UNet2D, Adapter, Motion)
    base.compare_diffusers.load_same_weights(ours, unet)
    unet.eval()
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4, latent_channels=4)
    embeds_shape = (1, 77, cfg.cross_attention_dim)
    prompt_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(base.EMBEDS_SEED))
    negative_embeds = torch.randn(embeds_shape, generator=torch.Generator().manual_seed(base.NEGATIVE_EMBEDS_SEED))

    cases = {}
    for name, (method, iters, order, ds, dt, fast, steps) in CASES.items():
        scheduler = diffusers.DDIMScheduler.from_config(base.BASE_SCHEDULER)
        pipe = AnimateDiffPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, motion_adapter=None, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        pipe.enable_free_init(num_iters=iters, use_fast_sampling=fast, method=method, order=order,
                              spatial_stop_frequency=ds, temporal_stop_frequency=dt)
        runs = []
        for _ in range(2):
            with torch.no_grad():
                runs.append(pipe(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                                 num_inference_steps=steps, guidance_scale=GUIDANCE,
                                 generator=torch.Generator().manual_seed(base.LATENTS_SEED), output_type="latent",
                                 **base.SETTINGS).frames)
        latents = runs[0]
        if not torch.isfinite(latents).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit(f"error: {name}: diffusers' result is not finite or does not repeat")
        cases[name] = {"free_init": {"iterations": iters, "method": method, "order": order, "spatialStopFrequency": ds,
                                     "temporalStopFrequency": dt, "fastSampling": fast},
                       "scheduler": {"className": "DDIMScheduler", "config": base.BASE_SCHEDULER},
                       "num_inference_steps": steps, "guidance_scale": GUIDANCE, "shape": list(latents.shape),
                       "latents": [round(float(x), 7) for x in latents.reshape(-1)]}
    out = {"diffusers": version, "torch": torch.__version__, "export": {"preset": base.PRESET, "seed": base.SEED, "numerics": "diffusers"},
           **base.SETTINGS, "prompt_embeds_seed": base.EMBEDS_SEED, "negative_prompt_embeds_seed": base.NEGATIVE_EMBEDS_SEED,
           "latents_seed": base.LATENTS_SEED, "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
