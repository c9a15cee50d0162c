"""SparseCtrl export: our SparseControlNetModel, its loading from the original AnimateDiff v3 checkpoint layout and
from diffusers' SparseControlNetModel folders, the export (scripted = eager), and (where diffusers imports: the
torch 2.x leg) agreement with diffusers' SparseControlNetModel fed through diffusers' own single-file conversion."""

import dataclasses
import json
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from animatorch_export import safetensors_io as st  # noqa: E402
from animatorch_export.controlnet_export import build_controlnet, export_controlnet  # noqa: E402
from animatorch_export.convert_diffusers import motion_ours_to_diffusers, split_unet_motion  # noqa: E402
from animatorch_export.motion_module import sinusoidal_table  # noqa: E402
from animatorch_export.sparse_controlnet import SparseControlNetConfig, SparseControlNetModel  # noqa: E402
from animatorch_export.sparse_controlnet_load import load_any_controlnet  # noqa: E402
from animatorch_export.weights import WeightsError  # noqa: E402
from export_controlnet import random_tiny_sparsectrl  # noqa: E402
from tests.test_controlnet import importable  # noqa: E402


def inputs(net: SparseControlNetModel, b=2, f=3, h=8, w=8, keyframes=(0, 2)):
    cfg = net.config
    s = 1 if cfg.use_simplified_condition_embedding else 8
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(1, 1, f, s * h, s * w)
    mask[:, :, list(keyframes)] = 1
    cond = torch.randn(1, cfg.conditioning_channels, f, s * h, s * w, generator=g) * mask
    return torch.randn(b, 4, f, h, w, generator=g), torch.tensor([900, 10][:b]), torch.randn(b, 77, 32, generator=g), cond, mask


def original_layout(net: SparseControlNetModel):
    """The v3_sd15_sparsectrl_*.ckpt layout: our names plus the persistent pos_encoder tables."""
    sd = dict(net.state_dict())
    for k in [k for k in sd if k.endswith("temporal_transformer.norm.weight")]:
        prefix = k[: -len("norm.weight")]
        sd[prefix + "transformer_blocks.0.attention_blocks.0.pos_encoder.pe"] = sinusoidal_table(32, sd[k].shape[0])
    return sd


def diffusers_config(cfg: SparseControlNetConfig):
    return {"_class_name": "SparseControlNetModel", "in_channels": cfg.in_channels, "conditioning_channels": cfg.conditioning_channels,
            "down_block_types": [t.replace("3D", "Motion") for t in cfg.down_block_types],
            "block_out_channels": list(cfg.block_out_channels), "layers_per_block": cfg.layers_per_block,
            "norm_num_groups": cfg.norm_num_groups, "cross_attention_dim": cfg.cross_attention_dim,
            "attention_head_dim": cfg.attention_head_dim, "conditioning_embedding_out_channels": list(cfg.conditioning_embedding_out_channels),
            "motion_max_seq_length": cfg.motion_max_seq_length, "motion_num_attention_heads": cfg.motion_num_attention_heads,
            "concat_conditioning_mask": cfg.concat_conditioning_mask,
            "use_simplified_condition_embedding": cfg.use_simplified_condition_embedding}


class SparseCtrlLoading(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, path, net, fmt, numerics="animatediff"):
        cfg, sd, got_fmt = load_any_controlnet(path, numerics)
        self.assertEqual(got_fmt, fmt)
        if cfg.use_simplified_condition_embedding:  # RGB has no embedding blocks to read the widths from (unused)
            cfg = dataclasses.replace(cfg, conditioning_embedding_out_channels=net.config.conditioning_embedding_out_channels)
        self.assertEqual(cfg, net.config)
        ours = net.state_dict()
        self.assertEqual(set(sd), set(ours))
        for k in sd:
            self.assertTrue(torch.equal(sd[k], ours[k]), k)
        loaded = build_controlnet(cfg, sd, "test")
        args = inputs(net)
        with torch.no_grad():
            for a, b in zip(loaded(*args, 0.8, False), net(*args, 0.8, False)):
                self.assertTrue(torch.equal(a, b))

    def test_original_ckpt_rgb_and_scribble(self):
        for kind in ("rgb", "scribble"):
            net = random_tiny_sparsectrl(kind, 5)
            path = os.path.join(self.tmp.name, f"v3_sd15_sparsectrl_{kind}.ckpt")
            torch.save({"state_dict": original_layout(net)}, path)
            self.check(path, net, "animatediff")

    def test_diffusers_folder(self):
        net = random_tiny_sparsectrl("scribble", 6, numerics="diffusers")
        spatial, motion = split_unet_motion(net.state_dict())
        pe = {k[: -len("temporal_transformer.norm.weight")]: sinusoidal_table(32, v.shape[0]) for k, v in motion.items() if k.endswith("temporal_transformer.norm.weight")}
        with open(os.path.join(self.tmp.name, "config.json"), "w") as f:
            json.dump(diffusers_config(net.config), f)
        st.save_file({**spatial, **motion_ours_to_diffusers(motion, pe)}, os.path.join(self.tmp.name, "diffusion_pytorch_model.safetensors"))
        self.check(self.tmp.name, net, "diffusers", "diffusers")

    def test_refuses_a_motion_module_with_two_attentions(self):
        net = random_tiny_sparsectrl("rgb", 5)
        sd = original_layout(net)
        k = next(k for k in sd if ".attention_blocks.0.to_q.weight" in k)
        sd[k.replace("attention_blocks.0", "attention_blocks.1")] = sd[k]
        path = os.path.join(self.tmp.name, "x.safetensors")
        st.save_file(sd, path)
        with self.assertRaisesRegex(WeightsError, "two attentions"):
            load_any_controlnet(path)

    def test_export_manifest_and_scripted_equals_eager(self):
        for kind in ("rgb", "scribble"):
            net = random_tiny_sparsectrl(kind, 7)
            out = os.path.join(self.tmp.name, kind)
            m = export_controlnet(net, out)
            self.assertEqual((m["kind"], m["condition"], m["conditioning_channels"]), ("sparsectrl", "latents" if kind == "rgb" else "pixels", 4 if kind == "rgb" else 3))
            scripted = torch.jit.load(os.path.join(out, "model.pt"))
            args = inputs(net, 1, 2, 4, 4, (1,))
            with torch.no_grad():
                for a, b in zip(scripted(*args, 0.7, True), net(*args, 0.7, True)):
                    torch.testing.assert_close(a, b)

    def test_ignores_the_noisy_sample_and_broadcasts_one_condition(self):
        net = random_tiny_sparsectrl("rgb", 8)
        x, t, c, cond, mask = inputs(net)
        with torch.no_grad():
            a = net(x, t, c, cond, mask, 1.0, False)
            b = net(torch.randn_like(x), t, c, cond.repeat(2, 1, 1, 1, 1), mask.repeat(2, 1, 1, 1, 1), 1.0, False)
            d = net(x, t, c, cond, torch.zeros_like(mask), 1.0, False)
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q)
        self.assertGreater(max(float((p - q).abs().max()) for p, q in zip(a, d)), 1e-3)


@unittest.skipUnless(importable("diffusers"), "diffusers is not importable")
class SparseCtrlVsDiffusers(unittest.TestCase):
    def test_original_ckpt_through_diffusers_conversion_gives_the_same_residuals(self):
        from diffusers import SparseControlNetModel as Theirs
        from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers

        for kind in ("rgb", "scribble"):
            net = random_tiny_sparsectrl(kind, 9, numerics="diffusers")
            cfg = {k: v for k, v in diffusers_config(net.config).items() if k != "_class_name"}
            theirs = Theirs(**cfg).eval()
            converted = convert_animatediff_checkpoint_to_diffusers(original_layout(net))
            # our diffusers <-> AnimateDiff motion-module renaming (the folder loader's) is the inverse of theirs
            spatial, motion = split_unet_motion(net.state_dict())
            ours_as_diffusers = {**spatial, **motion_ours_to_diffusers(motion)}
            self.assertEqual(set(converted), set(ours_as_diffusers))
            for k, v in converted.items():
                self.assertTrue(torch.equal(v, ours_as_diffusers[k]), k)
            missing, unexpected = theirs.load_state_dict(converted, strict=False)
            self.assertEqual(unexpected, [])
            self.assertTrue(all(k.endswith("pos_embed.pe") for k in missing), missing)
            x, t, c, cond, mask = inputs(net)
            b, _, f, _, _ = x.shape
            with torch.no_grad():
                for scale, guess in ((1.0, False), (0.6, True)):
                    ours = net(x, t, c, cond, mask, scale, guess)
                    down, mid = theirs(x, t, encoder_hidden_states=c.repeat_interleave(f, 0), controlnet_cond=cond,
                                       conditioning_mask=mask, conditioning_scale=scale, guess_mode=guess, return_dict=False)
                    for a, r in zip(ours, list(down) + [mid]):
                        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-4)


if __name__ == "__main__":
    unittest.main()
