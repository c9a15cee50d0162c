#!/usr/bin/env python3
"""Reference outputs of diffusers' own Stable Video Diffusion parts on the tiny random SVD-shaped model
the tests export (``scripts/export_svd.py --tiny-random 0``), written as the small fixture
test/fixtures/stable-video-diffusion.json that test/svd-pipeline.test.ts compares with (1e-4).

    python scripts/reference/stable_video_diffusion.py > test/fixtures/stable-video-diffusion.json

diffusers and transformers are not animatorch dependencies: run this in the torch 2.x venv of
scripts/requirements-torch2.txt (the committed fixture: torch 2.x + diffusers 0.42.1 + transformers 5.24.0).

Same weights on both sides: export_svd.tiny_random_models(0) (our modules with seeded random weights)
loaded strictly into diffusers' UNetSpatioTemporalConditionModel and AutoencoderKLTemporalDecoder and
transformers' CLIPVisionModelWithProjection. Inputs are torch.randn draws from seeded CPU generators,
which animatorch's createGenerator reproduces, and an RGB image given by a formula (IMAGE below), so the
fixture holds only settings and diffusers' outputs:

* ``unet``: UNetSpatioTemporalConditionModel at two of the pipeline's continuous timesteps (0.25 log sigma);
* ``decoder``: the pipeline's decode_latents (chunks of 2 frames, each decoded with num_frames=2), postprocessed
  to 'np' frames (x/2 + 0.5 clamped to [0, 1], channels last);
* ``pipeline``: StableVideoDiffusionPipeline's final latents (output_type='latent') for the image, seed, 4 steps:
  its CLIP preprocessing (_resize_with_antialiasing, CLIPImageProcessor), VAE preprocessing, noise
  augmentation, added_time_ids, per-frame guidance ramp and EulerDiscreteScheduler (Karras, v-prediction).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from animatorch_export.svd_export import CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, SVD_SCHEDULER_CONFIG  # noqa: E402
from export_svd import tiny_random_models  # noqa: E402

SEED = 0
HEIGHT, WIDTH, NUM_FRAMES, STEPS = 64, 704, 4, 4  # CLIP resize: up to 224 rows, down 3.1x columns (5-tap blur)
PIPELINE = {"fps": 7, "motion_bucket_id": 127, "noise_aug_strength": 0.02, "min_guidance_scale": 1.0, "max_guidance_scale": 3.0}
LATENTS_SEED = 42
UNET = {"sample_seed": 1, "embeds_seed": 2, "shape": [2, 3, 8, 4, 6], "added_time_ids": [[6.0, 127.0, 0.02], [6.0, 127.0, 0.02]]}
DECODER = {"latents_seed": 3, "shape": [1, 4, 4, 3, 3], "decode_chunk_size": 2}


def image_rgb(height: int, width: int) -> np.ndarray:
    """IMAGE: uint8 [H, W, 3], r = (7x + 3y) % 256, g = (5x * y + 11) % 256, b = (x ^ y) * 3 % 256 (x: column, y: row)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(7 * x + 3 * y) % 256, (5 * x * y + 11) % 256, ((x ^ y) * 3) % 256], axis=-1).astype(np.uint8)


def flat(t: torch.Tensor):
    return [round(float(v), 7) for v in t.reshape(-1)]


def main() -> int:
    import diffusers
    import PIL.Image
    import transformers
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    ours_unet, ours_vae, ours_enc = tiny_random_models(SEED)
    uc, vc, cc = ours_unet.config, ours_vae.config, ours_enc.config
    unet = UNetSpatioTemporalConditionModel(**{k: v for k, v in uc.to_dict().items() if k != "attention_backend"})
    unet.load_state_dict(ours_unet.state_dict(), strict=True)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=vc.block_out_channels, layers_per_block=vc.layers_per_block,
                                       down_block_types=("DownEncoderBlock2D",) * len(vc.block_out_channels),
                                       latent_channels=vc.latent_channels, scaling_factor=vc.scaling_factor)
    vae.load_state_dict(ours_vae.state_dict(), strict=True)
    enc = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=cc.hidden_size, intermediate_size=cc.intermediate_size, num_hidden_layers=cc.num_hidden_layers,
        num_attention_heads=cc.num_attention_heads, image_size=cc.image_size, patch_size=cc.patch_size,
        projection_dim=cc.projection_dim, hidden_act=cc.hidden_act, layer_norm_eps=cc.layer_norm_eps))
    missing, unexpected = enc.load_state_dict(ours_enc.state_dict(), strict=False)
    if [k for k in missing if not k.endswith("position_ids")] or unexpected:
        raise SystemExit(f"image encoder weights do not fit: missing {missing}, unexpected {unexpected}")
    for m in (unet, vae, enc):
        m.eval()
    scheduler = EulerDiscreteScheduler.from_config(SVD_SCHEDULER_CONFIG)
    features = CLIPImageProcessor(image_mean=CLIP_IMAGE_MEAN, image_std=CLIP_IMAGE_STD, crop_size={"height": cc.image_size, "width": cc.image_size},
                                  size={"shortest_edge": cc.image_size})
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=enc, unet=unet, scheduler=scheduler, feature_extractor=features)
    pipe.set_progress_bar_config(disable=True)

    out = {"diffusers": diffusers.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
           "export": {"tiny_random": SEED}, "height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES}
    with torch.no_grad():
        scheduler.set_timesteps(STEPS)
        ts = [float(scheduler.timesteps[0]), float(scheduler.timesteps[STEPS - 1])]
        g = torch.Generator().manual_seed(UNET["sample_seed"])
        sample = torch.randn(UNET["shape"], generator=g)
        embeds = torch.randn((UNET["shape"][0], 1, uc.cross_attention_dim), generator=torch.Generator().manual_seed(UNET["embeds_seed"]))
        ids = torch.tensor(UNET["added_time_ids"])
        out["unet"] = {**UNET, "timesteps": ts, "outputs": [flat(unet(sample, torch.tensor(t), embeds, ids).sample) for t in ts]}

        z = torch.randn(DECODER["shape"], generator=torch.Generator().manual_seed(DECODER["latents_seed"]))
        frames = pipe.decode_latents(z, DECODER["shape"][1], DECODER["decode_chunk_size"])  # [B, C, F, H, W] in [-1, 1]
        frames = pipe.video_processor.postprocess_video(video=frames, output_type="np")  # [B, F, H, W, C] in [0, 1]
        out["decoder"] = {**DECODER, "frames_shape": list(frames.shape), "frames": flat(torch.from_numpy(frames))}

        image = PIL.Image.fromarray(image_rgb(HEIGHT, WIDTH))
        runs = []
        for _ in range(2):
            runs.append(pipe(image, height=HEIGHT, width=WIDTH, num_frames=NUM_FRAMES, num_inference_steps=STEPS,
                             generator=torch.Generator().manual_seed(LATENTS_SEED), output_type="latent", **PIPELINE).frames)
        if not torch.isfinite(runs[0]).all() or not torch.equal(runs[0], runs[1]):
            raise SystemExit("error: diffusers' pipeline latents are not finite or do not repeat")
        out["pipeline"] = {**PIPELINE, "num_inference_steps": STEPS, "latents_seed": LATENTS_SEED, "scheduler": SVD_SCHEDULER_CONFIG,
                           "sigmas": [float(s) for s in scheduler.sigmas], "timesteps": [float(t) for t in scheduler.timesteps],
                           "shape": list(runs[0].shape), "latents": flat(runs[0])}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
