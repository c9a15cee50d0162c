"""The UNet's optional run-time inputs (unet.inputs in model.yaml): FreeNoise windows and weights, which the
motion modules' temporal attentions run on (diffusers' FreeNoiseTransformerBlock), and the motion scale."""

import copy
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from animatorch_export.motion_module import NoMotionModule, TemporalTransformerBlock, VanillaTemporalModule  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.torchscript_export import script  # noqa: E402

from tests.test_models import maxdiff, rand_unet, unet_inputs  # noqa: E402


def flat(windows, length):
    return torch.ones(windows, 2, length)


class TestFreeNoiseWindows(unittest.TestCase):
    def setUp(self):
        self.blk = randomize_weights_(TemporalTransformerBlock(32, 4, 32), 2).eval()
        self.x = torch.randn(6, 12, 32, generator=torch.Generator().manual_seed(1))

    def test_one_window_over_all_frames_is_the_plain_block(self):
        with torch.no_grad():
            self.assertLess(maxdiff(self.blk(self.x, [0], flat(1, 12) * 3), self.blk(self.x)), 1e-6)

    def test_disjoint_windows_attend_separately_then_the_feed_forward_sees_all(self):
        with torch.no_grad():
            got = self.blk(self.x, [0, 6], flat(2, 6))
            attn = torch.cat([self.blk.attentions(self.x[:, :6]), self.blk.attentions(self.x[:, 6:])], 1)
            want = self.blk.ff(self.blk.ff_norm(attn)) + attn
            self.assertLess(maxdiff(got, want), 1e-6)
            self.assertGreater(maxdiff(got, self.blk(self.x)), 1e-3)

    def test_overlaps_are_weighted_averages(self):
        w = torch.tensor([1.0, 2.0, 2.0, 1.0])
        weights = torch.stack([torch.stack([w, w])] * 3)  # windows 0..4, 4..8, 8..12: none overlap
        over = torch.stack([torch.stack([w, w])] * 2)  # windows 0..4, 2..6 over 6 frames
        with torch.no_grad():
            x = self.x[:, :6]
            a, b = self.blk.attentions(x[:, 0:4]), self.blk.attentions(x[:, 2:6])
            mixed = torch.cat([a[:, :2], (a[:, 2:] * w[2:, None] + b[:, :2] * w[:2, None]) / (w[2:, None] + w[:2, None]), b[:, 2:]], 1)
            want = self.blk.ff(self.blk.ff_norm(mixed)) + mixed
            self.assertLess(maxdiff(self.blk(x, [0, 2], over), want), 1e-5)
            self.assertEqual(tuple(self.blk(self.x, [0, 4, 8], weights).shape), (6, 12, 32))
            with self.assertRaisesRegex(RuntimeError, "outside the 6 frames"):
                self.blk(x, [0, 4], over)

    def test_unet_runs_windows_past_max_frames_scripted_as_eager(self):
        m = rand_unet("v2", "diffusers")
        s, t, c = unet_inputs(1, 40, 4, 4)  # max_frames 32
        starts, weights = [0, 8, 16, 24], torch.ones(4, 2, 16)
        with torch.no_grad():
            eager = m(s, t[:1], c, None, None, 1.0, starts, weights)
            scripted = script(m)(s, t[:1], c, None, None, 1.0, starts, weights)
            self.assertLess(maxdiff(eager, scripted), 1e-5)
            with self.assertRaisesRegex(RuntimeError, "exceed"):
                m(s, t[:1], c)


def without_motion_modules(m):
    """A copy of the UNet whose motion modules are replaced by the identity (the spatial UNet alone)."""
    m = copy.deepcopy(m)
    for mod in m.modules():
        mods = getattr(mod, "motion_modules", None)
        if mods is not None:
            for j, mm in enumerate(mods):
                if isinstance(mm, VanillaTemporalModule):
                    mods[j] = NoMotionModule()
    return m


class TestMotionScale(unittest.TestCase):
    def test_scale_1_is_the_plain_unet_0_skips_the_motion_modules(self):
        for numerics in ("animatediff", "diffusers"):
            m = rand_unet("v2", numerics)
            s, t, c = unet_inputs(2, 4, 8, 8)
            scripted = script(m)
            with torch.no_grad():
                plain = m(s, t, c)
                self.assertTrue(torch.equal(m(s, t, c, None, None, 1.0), plain))
                self.assertTrue(torch.equal(scripted(s, t, c, None, None, 1.0), scripted(s, t, c)))
                skipped = without_motion_modules(m)(s, t, c)
                self.assertGreater(maxdiff(plain, skipped), 1e-2)  # the motion modules matter here
                self.assertLess(maxdiff(m(s, t, c, None, None, 0.0), skipped), 1e-5)
                self.assertLess(maxdiff(scripted(s, t, c, None, None, 0.0), skipped), 1e-5)
                half = m(s, t, c, None, None, 0.5)
                self.assertGreater(min(maxdiff(half, plain), maxdiff(half, skipped)), 1e-3)
                # with FreeNoise windows too
                self.assertLess(maxdiff(m(s, t, c, None, None, 0.0, [0], torch.ones(1, 2, 4)), skipped), 1e-5)


if __name__ == "__main__":
    unittest.main()
