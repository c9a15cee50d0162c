#!/usr/bin/env python3
"""Reference latents from diffusers' AnimateDiffPipeline with FreeNoise (``enable_free_noise``) on the tiny random
model the tests export (``export_random_model.py --preset tiny-v2 --seed 0 --numerics diffusers``), written as the
small fixture test/fixtures/animatediff-free-noise.json that test/free-noise.test.ts compares
generate({ freeNoise }) with (1e-4).

    python scripts/reference/animatediff_free_noise.py > test/fixtures/animatediff-free-noise.json   # the venv of scripts/requirements-torch2.txt

FreeNoise needs diffusers >= 0.30 (0.29.2, the torch 1.13 reference venv, has no free_noise_utils); the
fixture came from diffusers 0.42.1. Set-up as animatediff_pipeline.py (same weights and noise seed), at
16 frames with windows of 8. FreeNoise refuses prompt_embeds, so the pipeline gets prompt strings and its
encode_prompt is replaced by a table of seeded embeddings (the stand-in text encoder; the test passes the
same embeddings as promptEmbeds); everything after it is diffusers' own: per-frame prompt interpolation
(_encode_prompt_free_noise), shuffled noise (_prepare_latents_free_noise: randn, then a randperm per stride
from the same generator) and the windowed, weighted temporal attention (FreeNoiseTransformerBlock).
"""

import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import animatediff_pipeline as base  # noqa: E402

NUM_FRAMES = 16
# The seeded embeddings standing in for the text encoder: prompt -> torch.randn seed.
PROMPTS = {"": base.NEGATIVE_EMBEDS_SEED, "first": base.EMBEDS_SEED, "second": 3}
# (prompt, context length, stride, weighting, noise type, steps)
CASES = {
    "shuffle_pyramid": ("first", 8, 4, "pyramid", "shuffle_context", 3),
    "shuffle_flat": ("first", 8, 4, "flat", "shuffle_context", 3),
    # the stride leaves a last window that diffusers moves back to end on the last frame
    "shuffle_pyramid_stride_3": ("first", 8, 3, "pyramid", "shuffle_context", 2),
    "random_delayed_reverse_sawtooth": ("first", 8, 4, "delayed_reverse_sawtooth", "random", 2),
    # prompt travel: diffusers interpolates the embeddings per frame between keyframes
    "shuffle_pyramid_travel": ({0: "first", 10: "second"}, 8, 4, "pyramid", "shuffle_context", 3),
}
# Below the t2v fixture's 7.5, as animatediff_free_init.py: on this random model guidance 7.5 amplified the
# float32 rounding between our UNet and diffusers' to 9.1e-5 of the 1e-4 on torch 2.x (5.6e-5 on 1.13).
GUIDANCE = 3.0


def seeded_encode_prompt(table):
    """encode_prompt with a table of embeddings: [len(prompt), 77, C] (and the negatives with guidance)."""

    def encode_prompt(self, prompt, device, num_images_per_prompt, do_classifier_free_guidance, negative_prompt=None, **_):
        prompts = [prompt] if isinstance(prompt, str) else prompt
        pos = torch.cat([table[p] for p in prompts])
        neg = None
        if do_classifier_free_guidance:
            negs = negative_prompt if negative_prompt is not None else [""] * len(prompts)
            neg = torch.cat([table[p] for p in ([negs] if isinstance(negs, str) else negs)])
        return pos, neg

    return encode_prompt


def main() -> int:
    import diffusers
    from diffusers import AnimateDiffPipeline, AutoencoderKL

    version, UNet2D, Adapter, Motion = base.compare_diffusers.import_diffusers()
    cfg = base.get_preset(base.PRESET, numerics="diffusers").unet
    ours = base.randomize_weights_(base.UNet3DConditionModel(cfg), base.SEED)
    unet = base.compare_diffusers.diffusers_unet(cfg, UNet2D, Adapter, Motion)
    base.compare_diffusers.load_same_weights(ours, unet)
    unet.eval()
    # enable_free_noise reads motion_adapter.config.motion_max_seq_length: an adapter of the same shape
    adapter = Adapter(block_out_channels=tuple(cfg.block_out_channels), motion_layers_per_block=cfg.layers_per_block,
                      motion_num_attention_heads=cfg.motion_num_attention_heads, motion_norm_num_groups=cfg.norm_num_groups,
                      motion_max_seq_length=cfg.motion_max_seq_length, use_motion_mid_block=cfg.motion_module_mid_block)
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4, latent_channels=4)
    shape = (1, 77, cfg.cross_attention_dim)
    table = {p: torch.randn(shape, generator=torch.Generator().manual_seed(s)) for p, s in PROMPTS.items()}
    settings = {**base.SETTINGS, "num_frames": NUM_FRAMES}

    cases = {}
    for name, (prompt, length, stride, weighting, noise, steps) in CASES.items():
        scheduler = diffusers.DDIMScheduler.from_config(base.BASE_SCHEDULER)
        pipe = AnimateDiffPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, motion_adapter=adapter, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        pipe.encode_prompt = types.MethodType(seeded_encode_prompt(table), pipe)
        pipe.enable_free_noise(context_length=length, context_stride=stride, weighting_scheme=weighting, noise_type=noise)
        runs = []
        for _ in range(2):
            with torch.no_grad():
                runs.append(pipe(prompt=prompt, negative_prompt="", num_inference_steps=steps, guidance_scale=GUIDANCE,
                                 generator=torch.Generator().manual_seed(base.LATENTS_SEED), output_type="latent", **settings).frames)
        pipe.disable_free_noise()
        latents = runs[0]
        if not torch.isfinite(latents).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit(f"error: {name}: diffusers' result is not finite or does not repeat")
        cases[name] = {"free_noise": {"contextLength": length, "contextStride": stride, "weightingScheme": weighting, "noiseType": noise},
                       "prompt_seeds": {str(k): PROMPTS[v] for k, v in prompt.items()} if isinstance(prompt, dict) else {"0": PROMPTS[prompt]},
                       "scheduler": {"className": "DDIMScheduler", "config": base.BASE_SCHEDULER},
                       "num_inference_steps": steps, "guidance_scale": GUIDANCE, "shape": list(latents.shape),
                       "latents": [round(float(x), 7) for x in latents.reshape(-1)]}
    out = {"diffusers": version, "torch": torch.__version__, "export": {"preset": base.PRESET, "seed": base.SEED, "numerics": "diffusers"},
           **settings, "prompt_embeds_seed": base.EMBEDS_SEED, "negative_prompt_embeds_seed": base.NEGATIVE_EMBEDS_SEED,
           "latents_seed": base.LATENTS_SEED, "cases": cases}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
