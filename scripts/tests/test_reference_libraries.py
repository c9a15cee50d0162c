"""Our modules and files against the real reference libraries, where they are importable:
transformers' CLIPTextModel, diffusers' UNetMotionModel, safetensors' own reader and writer.

They are pinned in scripts/requirements-torch2.txt and run in CI's torch 2.x leg (.ci/torch2).
On Debian's torch 1.13 they skip unless the libraries import, e.g. from source checkouts:
    PYTHONPATH=diffusers/src:transformers/src:safetensors/bindings/python npm run test:python
"""

import importlib.util
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from animatorch_export import safetensors_io as st  # noqa: E402
from animatorch_export.clip_text import CLIPTextModel  # noqa: E402
from animatorch_export.configs import CLIPTextConfig, get_preset  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.torchscript_export import script  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402


def importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def maxdiff(a, b):
    return float((a.float() - b.float()).abs().max())


@unittest.skipUnless(importable("transformers"), "transformers is not importable")
class TextEncoderVsTransformers(unittest.TestCase):
    def test_clip_text_model_matches_at_every_clip_skip(self):
        import transformers

        cfg = CLIPTextConfig.tiny(attention_backend="auto")
        ours = randomize_weights_(CLIPTextModel(cfg), 5).eval()
        hf_cfg = transformers.CLIPTextConfig(
            vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
            num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
            max_position_embeddings=cfg.max_position_embeddings, layer_norm_eps=cfg.layer_norm_eps,
            hidden_act=cfg.hidden_act,
        )
        theirs = transformers.CLIPTextModel(hf_cfg).eval()
        sd = ours.state_dict()
        if not any(k.startswith("text_model.") for k in theirs.state_dict()):
            # transformers 5 names CLIPTextModel's weights without the text_model. prefix
            sd = {k.removeprefix("text_model."): v for k, v in sd.items()}
        missing, unexpected = theirs.load_state_dict(sd, strict=False)
        self.assertEqual([k for k in missing if not k.endswith("position_ids")], [])
        self.assertEqual(unexpected, [])
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(0, cfg.vocab_size, (2, cfg.max_position_embeddings), generator=g)
        scripted = script(ours)
        with torch.no_grad():
            out = theirs(ids, output_hidden_states=True)
            self.assertLess(maxdiff(scripted(ids, 0), out.last_hidden_state), 1e-4)
            for skip in (1, 2):
                want = getattr(theirs, "text_model", theirs).final_layer_norm(out.hidden_states[-(skip + 1)])
                self.assertLess(maxdiff(scripted(ids, skip), want), 1e-4, f"clip_skip {skip}")


@unittest.skipUnless(importable("diffusers"), "diffusers is not importable")
class UNetVsDiffusers(unittest.TestCase):
    def test_unet_matches_unet_motion_model(self):
        import compare_diffusers as cmp

        _, UNet2D, Adapter, Motion = cmp.import_diffusers()
        cfg = get_preset("tiny-v2", numerics="diffusers").unet
        ours = randomize_weights_(UNet3DConditionModel(cfg), 7).eval()
        theirs = cmp.diffusers_unet(cfg, UNet2D, Adapter, Motion).eval()
        cmp.load_same_weights(ours, theirs)
        g = torch.Generator().manual_seed(1)
        sample = torch.randn(2, cfg.in_channels, 4, 8, 8, generator=g)
        t = torch.tensor([981, 10])
        ctx = torch.randn(2, 77, cfg.cross_attention_dim, generator=g)
        with torch.no_grad():
            ref = theirs(sample, t, encoder_hidden_states=cmp.per_frame_context(Motion, ctx, 4)).sample
            self.assertGreater(float(ref.abs().max()), 1e-2)
            self.assertLess(maxdiff(script(ours)(sample, t, ctx), ref), 1e-4)


@unittest.skipUnless(importable("safetensors"), "safetensors is not importable")
class SafetensorsFiles(unittest.TestCase):
    def tensors(self):
        g = torch.Generator().manual_seed(2)
        return {
            "a.weight": torch.randn(3, 5, generator=g),
            "b.half": torch.randn(4, generator=g).half(),
            "c.bf16": torch.randn(2, 2, generator=g).bfloat16(),
            "d.ids": torch.arange(6, dtype=torch.int64).reshape(2, 3),
            "e.scalar": torch.tensor(1.5, dtype=torch.float64),
        }

    def test_our_files_read_by_safetensors_and_theirs_by_us(self):
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        want = self.tensors()
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = os.path.join(tmp, "ours.safetensors"), os.path.join(tmp, "theirs.safetensors")
            st.save_file(want, ours, metadata={"format": "pt", "note": "animatorch"})
            got = load_file(ours)
            with safe_open(ours, framework="pt") as f:
                self.assertEqual(f.metadata(), {"format": "pt", "note": "animatorch"})
            save_file(want, theirs, metadata={"format": "pt"})
            back, meta = st.load_file(theirs, with_metadata=True)
            self.assertEqual(meta, {"format": "pt"})
            for name, t in want.items():
                for other in (got[name], back[name]):
                    self.assertEqual(other.dtype, t.dtype, name)
                    self.assertEqual(tuple(other.shape), tuple(t.shape), name)
                    self.assertTrue(torch.equal(other, t), name)


if __name__ == "__main__":
    unittest.main()
