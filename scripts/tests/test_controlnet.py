"""ControlNet export: our module, its loading from the original and diffusers layouts, the UNet's residual
inputs, and (where diffusers imports: the torch 2.x leg) agreement with diffusers' ControlNetModel and its
single-file conversion."""

import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from animatorch_export import safetensors_io as st  # noqa: E402
from animatorch_export.configs import UNet3DConfig  # noqa: E402
from animatorch_export.controlnet import ControlNetConfig, ControlNetModel, residual_channels  # noqa: E402
from animatorch_export.controlnet_export import (  # noqa: E402
    build_controlnet, export_controlnet, load_controlnet_weights, ours_to_ldm)
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402
from animatorch_export.weights import WeightsError  # noqa: E402


def importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def tiny_net(seed=3):
    return randomize_weights_(ControlNetModel(ControlNetConfig.tiny()), seed).eval()


def inputs(b=2, f=3, h=8, w=8, cross=32):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(b, 4, f, h, w, generator=g), torch.tensor([900, 10][:b]), torch.randn(b, 77, cross, generator=g),
            torch.rand(b, 3, f, 8 * h, 8 * w, generator=g))


def diffusers_config(cfg: ControlNetConfig):
    return {"_class_name": "ControlNetModel", "in_channels": cfg.in_channels, "conditioning_channels": cfg.conditioning_channels,
            "down_block_types": [t.replace("3D", "2D") for t in cfg.down_block_types],
            "block_out_channels": list(cfg.block_out_channels), "layers_per_block": cfg.layers_per_block,
            "norm_num_groups": cfg.norm_num_groups, "cross_attention_dim": cfg.cross_attention_dim,
            "attention_head_dim": cfg.attention_head_dim, "conditioning_embedding_out_channels": list(cfg.conditioning_embedding_out_channels),
            "mid_block_type": "UNetMidBlock2DCrossAttn", "use_linear_projection": False, "global_pool_conditions": False}


class ControlNetModule(unittest.TestCase):
    def test_residuals_have_the_unet_skip_shapes_and_scale(self):
        net = tiny_net()
        x, t, c, cond = inputs()
        with torch.no_grad():
            r1 = net(x, t, c, cond, 1.0, False)
            r5 = net(x, t, c, cond, 0.5, False)
            rg = net(x, t, c, cond, 1.0, True)
        self.assertEqual([tuple(r.shape[:2]) for r in r1], [(6, ch) for ch in residual_channels(net.config)])
        for a, b in zip(r1, r5):
            torch.testing.assert_close(b, a * 0.5)
        scales = torch.logspace(-1, 0, len(r1))
        for a, g, s in zip(r1, rg, scales):
            torch.testing.assert_close(g, a * s)

    def test_unet_adds_residuals_and_works_without_them(self):
        unet = randomize_weights_(UNet3DConditionModel(UNet3DConfig.tiny()), 2).eval()
        net = tiny_net()
        x, t, c, cond = inputs()
        s_unet = torch.jit.script(unet)
        with torch.no_grad():
            r = net(x, t, c, cond, 1.0, False)
            zeros = [torch.zeros_like(a) for a in r]
            plain = s_unet(x, t, c)
            torch.testing.assert_close(s_unet(x, t, c, zeros[:-1], zeros[-1]), plain)
            steered = s_unet(x, t, c, r[:-1], r[-1])
            torch.testing.assert_close(steered, unet(x, t, c, r[:-1], r[-1]))
            self.assertGreater(float((steered - plain).abs().max()), 1e-2)
            with self.assertRaisesRegex(Exception, "down block residuals"):
                s_unet(x, t, c, r[:-2], r[-1])


class ControlNetLoading(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.net = tiny_net()
        self.sd = self.net.state_dict()

    def tearDown(self):
        self.tmp.cleanup()

    def check_loaded(self, path, fmt):
        cfg, sd, got_fmt = load_controlnet_weights(path)
        self.assertEqual(got_fmt, fmt)
        self.assertEqual(cfg, self.net.config)
        self.assertEqual(set(sd), set(self.sd))
        for k in sd:
            self.assertTrue(torch.equal(sd[k], self.sd[k]), k)
        build_controlnet(cfg, sd, "test")

    def test_original_layout_safetensors_with_prefix_and_sd_keys(self):
        ldm = {"control_model." + k: v for k, v in ours_to_ldm(self.sd, self.net.config).items()}
        ldm["model.diffusion_model.out.2.weight"] = torch.zeros(4, 32, 3, 3)  # ControlNet 1.0 files hold SD too
        self.assertIn("control_model.input_hint_block.14.weight", ldm)
        self.assertIn("control_model.zero_convs.3.0.weight", ldm)
        path = os.path.join(self.tmp.name, "control_tiny.safetensors")
        st.save_file(ldm, path)
        self.check_loaded(path, "ldm")

    def test_original_layout_pth_without_prefix(self):
        path = os.path.join(self.tmp.name, "control_v11_tiny.pth")
        torch.save({"state_dict": dict(ours_to_ldm(self.sd, self.net.config))}, path)
        self.check_loaded(path, "ldm")

    def test_diffusers_folder(self):
        with open(os.path.join(self.tmp.name, "config.json"), "w") as f:
            json.dump(diffusers_config(self.net.config), f)
        st.save_file(dict(self.sd), os.path.join(self.tmp.name, "diffusion_pytorch_model.safetensors"))
        self.check_loaded(self.tmp.name, "diffusers")

    def test_refuses_what_is_not_a_controlnet(self):
        path = os.path.join(self.tmp.name, "unet.safetensors")
        st.save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3)}, path)
        with self.assertRaisesRegex(WeightsError, "not a ControlNet"):
            load_controlnet_weights(path)
        with open(os.path.join(self.tmp.name, "config.json"), "w") as f:
            json.dump({**diffusers_config(self.net.config), "use_linear_projection": True}, f)
        st.save_file(dict(self.sd), os.path.join(self.tmp.name, "diffusion_pytorch_model.safetensors"))
        with self.assertRaisesRegex(WeightsError, "use_linear_projection"):
            load_controlnet_weights(self.tmp.name)

    def test_export_writes_manifest_and_scripted_module(self):
        out = os.path.join(self.tmp.name, "cn")
        m = export_controlnet(tiny_net(), out)
        self.assertEqual(m["kind"], "controlnet")
        self.assertEqual(m["residual_channels"], [32, 32, 32, 64, 64])
        scripted = torch.jit.load(os.path.join(out, "model.pt"))
        x, t, c, cond = inputs(1, 2, 4, 4)
        with torch.no_grad():
            for a, b in zip(scripted(x, t, c, cond, 0.7, True), self.net(x, t, c, cond, 0.7, True)):
                torch.testing.assert_close(a, b)


class ExportRefusesAnExport(unittest.TestCase):
    """``export --controlnet`` given a folder that is already an animatorch export (the demo ControlNet, SparseCtrl,
    model) stops before loading anything, naming the flag and what to do instead; it writes no --out."""

    DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models", "demo")

    def run_export(self, src):
        from export_controlnet import main
        with tempfile.TemporaryDirectory() as tmp:
            out, err = os.path.join(tmp, "out"), io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(["--controlnet", src, "--out", out, "--quiet"])
            self.assertFalse(os.path.exists(out))
        self.assertEqual(code, 2)
        return err.getvalue()

    def test_controlnet_and_sparsectrl_exports(self):
        for sub, kind in (("controlnet", "ControlNet"), ("sparsectrl", "SparseCtrl")):
            src = os.path.join(self.DEMO, sub)
            msg = self.run_export(src)
            self.assertIn(f"error: --controlnet {src}: this folder is already an animatorch {kind} export (it has controlnet.yaml)", msg)
            self.assertIn(f"render --controlnet path={src},...", msg)
            self.assertIn("export --controlnet takes an original checkpoint (.safetensors/.pth/.ckpt) or a diffusers folder", msg)
            self.assertNotIn("no weight file", msg)

    def test_model_export(self):
        msg = self.run_export(self.DEMO)
        self.assertIn(f"error: --controlnet {self.DEMO}: this folder is an animatorch model export (it has model.yaml), not a ControlNet", msg)
        self.assertIn(f"render --model {self.DEMO}", msg)
        self.assertIn("or a diffusers folder", msg)


@unittest.skipUnless(importable("diffusers"), "diffusers is not importable")
class ControlNetVsDiffusers(unittest.TestCase):
    def test_same_residuals_as_diffusers_controlnet(self):
        from diffusers import ControlNetModel as Theirs

        net = tiny_net()
        cfg = {k: v for k, v in diffusers_config(net.config).items() if k != "_class_name"}
        theirs = Theirs(**cfg).eval()
        missing, unexpected = theirs.load_state_dict(net.state_dict(), strict=False)
        self.assertEqual((missing, unexpected), ([], []))
        x, t, c, cond = inputs()
        b, _, f, h, w = x.shape
        with torch.no_grad():
            for scale, guess in ((1.0, False), (0.6, True)):
                ours = net(x, t, c, cond, scale, guess)
                down, mid = theirs(x.transpose(1, 2).reshape(b * f, 4, h, w), t.repeat_interleave(f),
                                   encoder_hidden_states=c.repeat_interleave(f, 0),
                                   controlnet_cond=cond.transpose(1, 2).reshape(b * f, 3, 8 * h, 8 * w),
                                   conditioning_scale=scale, guess_mode=guess, return_dict=False)
                for a, r in zip(ours, list(down) + [mid]):
                    torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-4)

    def test_original_layout_matches_diffusers_single_file_conversion(self):
        from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

        net = tiny_net()
        ldm = {"control_model." + k: v for k, v in ours_to_ldm(net.state_dict(), net.config).items()}
        theirs = convert_controlnet_checkpoint(ldm, diffusers_config(net.config))
        ours = net.state_dict()
        self.assertEqual(set(theirs), set(ours))
        for k, v in theirs.items():
            self.assertTrue(torch.equal(v, ours[k]), k)


if __name__ == "__main__":
    unittest.main()
