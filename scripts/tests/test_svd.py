"""Stable Video Diffusion modules: sizes at full scale, diffusers-folder loading, export.

Parity with diffusers' and transformers' own modules is checked by
scripts/reference/stable_video_diffusion.py (needs diffusers) and, through its fixture, test/svd.test.ts.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
sys.path.insert(0, SCRIPTS)

from animatorch_export.clip_vision import CLIPVisionModelWithProjection  # noqa: E402
from animatorch_export.safetensors_io import save_file  # noqa: E402
from animatorch_export.svd_configs import CLIPVisionConfig, SVDUNetConfig, TemporalVAEConfig  # noqa: E402
from animatorch_export.svd_export import load_svd_folder  # noqa: E402
from animatorch_export.svd_unet import UNetSpatioTemporalConditionModel  # noqa: E402
from animatorch_export.svd_vae import AutoencoderKLTemporalDecoder  # noqa: E402
from animatorch_export.weights import WeightsError  # noqa: E402
from export_svd import tiny_random_models  # noqa: E402


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class FullSizeParameterCounts(unittest.TestCase):
    """Counted with diffusers 0.42.1 / transformers 5.24.0 on the meta device from the released configs
    (UNetSpatioTemporalConditionModel() defaults = SVD's unet/config.json; AutoencoderKLTemporalDecoder with
    SVD's vae/config.json; CLIPVisionModelWithProjection of ViT-H/14: 1280 wide, 32 layers, projection 1024).
    The key sets and every shape were equal too."""

    def test_unet(self):
        self.assertEqual(count(UNetSpatioTemporalConditionModel(SVDUNetConfig.svd(), device="meta")), 1_524_623_082)

    def test_vae(self):
        self.assertEqual(count(AutoencoderKLTemporalDecoder(TemporalVAEConfig.svd(), device="meta")), 97_742_847)

    def test_image_encoder(self):
        self.assertEqual(count(CLIPVisionModelWithProjection(CLIPVisionConfig.svd(), device="meta")), 632_076_800)

    def test_diffusers_config_reading(self):
        cfg = SVDUNetConfig.from_json({"_class_name": "UNetSpatioTemporalConditionModel", "num_frames": 14, "sample_size": 96,
                                       "num_attention_heads": [5, 10, 20, 20], "layers_per_block": 2, "cross_attention_dim": 1024})
        self.assertEqual((cfg.num_frames, cfg.num_attention_heads), (14, (5, 10, 20, 20)))
        with self.assertRaises(ValueError):
            SVDUNetConfig.from_json({"layers_per_block": [2, 2, 3, 2]})


def write_folder(root: str, unet, vae, enc) -> None:
    """A diffusers-layout SVD folder holding our tiny models' weights."""
    parts = {
        "unet": (unet, "diffusion_pytorch_model.safetensors", {"_class_name": "UNetSpatioTemporalConditionModel", **unet.config.to_dict()}),
        "vae": (vae, "diffusion_pytorch_model.safetensors", {"_class_name": "AutoencoderKLTemporalDecoder", **vae.config.to_dict(),
                                                             "down_block_types": ["DownEncoderBlock2D"] * len(vae.config.block_out_channels)}),
        "image_encoder": (enc, "model.safetensors", {"architectures": ["CLIPVisionModelWithProjection"], **enc.config.to_dict()}),
    }
    for sub, (module, fname, cfg) in parts.items():
        os.makedirs(os.path.join(root, sub))
        sd = {k: v.contiguous() for k, v in module.state_dict().items()}
        if sub == "image_encoder":  # older transformers saved this buffer; the loader must drop it
            sd["vision_model.embeddings.position_ids"] = torch.arange(enc.config.num_positions)[None]
        save_file(sd, os.path.join(root, sub, fname))
        with open(os.path.join(root, sub, "config.json"), "w") as f:
            json.dump(cfg, f)
    with open(os.path.join(root, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableVideoDiffusionPipeline"}, f)


class DiffusersFolder(unittest.TestCase):
    def test_load_and_export(self):
        unet, vae, enc = tiny_random_models(3)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "svd")
            write_folder(src, unet, vae, enc)
            u2, v2, e2, sched, mean, std = load_svd_folder(src)
            g = torch.Generator().manual_seed(0)
            x = torch.randn(1, 2, 8, 8, 8, generator=g)
            emb = torch.randn(1, 1, 32, generator=g)
            ids = torch.tensor([[6.0, 127.0, 0.02]])
            with torch.no_grad():
                self.assertTrue(torch.equal(unet(x, torch.tensor(0.3), emb, ids), u2(x, torch.tensor(0.3), emb, ids)))
                z = torch.randn(4, 4, 3, 3, generator=g)
                self.assertTrue(torch.equal(vae.decode(z, 2), v2.decode(z, 2)))
                px = torch.randn(2, 3, 224, 224, generator=g)
                self.assertTrue(torch.equal(enc(px), e2(px)))
            self.assertEqual(sched["prediction_type"], "v_prediction")
            self.assertAlmostEqual(mean[0], 0.48145466)

            out = os.path.join(tmp, "out")
            r = subprocess.run([sys.executable, os.path.join(SCRIPTS, "export_svd.py"), "--svd", src, "--out", out, "--quiet"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            import yaml  # type: ignore

            with open(os.path.join(out, "model.yaml")) as f:
                manifest = yaml.safe_load(f)
            self.assertEqual((manifest["family"], manifest["in_channels"], manifest["unet"]["num_frames"]), ("svd", 8, 4))
            s_dec = torch.jit.load(os.path.join(out, "vae", "decoder.pt"))
            with torch.no_grad():
                self.assertLess(float((s_dec(z, 2) - vae.decode(z, 2)).abs().max()), 1e-5)

    def test_wrong_weights_are_refused(self):
        unet, vae, enc = tiny_random_models(3)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "svd")
            write_folder(src, unet, vae, enc)
            sd = {k: v for k, v in unet.state_dict().items() if "time_mixer" not in k}
            save_file(sd, os.path.join(src, "unet", "diffusion_pytorch_model.safetensors"))
            with self.assertRaises(WeightsError) as cm:
                load_svd_folder(src)
            self.assertIn("missing keys", str(cm.exception))
            self.assertIn("time_mixer.mix_factor", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
