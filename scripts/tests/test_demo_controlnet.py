"""Tests of the demo ControlNet's training script (scripts/demo/train_controlnet.py) and its paths (paths.py).

Run: cd scripts && /usr/bin/python3 -m unittest discover -s tests -p 'test_demo_controlnet.py' -v
"""

from __future__ import annotations

import os
import random
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(os.path.dirname(HERE), "demo")
if DEMO not in sys.path:
    sys.path.insert(0, DEMO)

import clips  # noqa: E402
import paths  # noqa: E402
import train_controlnet as tc  # noqa: E402


class PathsTest(unittest.TestCase):
    def test_every_family_stays_inside_and_the_named_ones_move(self):
        rng = random.Random(5)
        for fam in paths.FAMILIES:
            for _ in range(20):
                xs, ys = paths.random_path(fam, rng)
                self.assertEqual(len(xs), clips.FRAMES)
                self.assertTrue(((xs >= paths.LO) & (xs <= paths.HI) & (ys >= paths.LO) & (ys <= paths.HI)).all(), fam)
                if fam != "arbitrary":  # random waypoints may lie close together
                    self.assertGreater(float(np.hypot(np.diff(xs), np.diff(ys)).sum()), 20.0, fam)

    def test_zigzag_turns_and_circle_comes_round(self):
        rng = random.Random(6)
        xs, ys = paths.zigzag(rng)
        dy = np.sign(np.diff(ys))
        self.assertGreaterEqual(int((dy[1:] != dy[:-1]).sum()), 3)  # up, down, up, ...
        xs, ys = paths.circle(rng)
        cx, cy = xs.mean(), ys.mean()
        angles = np.unwrap(np.arctan2(ys - cy, xs - cx))
        self.assertGreater(abs(angles[-1] - angles[0]), np.pi)

    def test_the_mask_condition_is_the_rendered_object(self):
        spec = paths.path_spec("diagonal", random.Random(7), shape="square", color="red", background="gray")
        frames, mask = clips.render(spec)
        cond = tc.cond_frames(torch.from_numpy(np.round(mask * 255).astype(np.uint8))[None])
        self.assertEqual(tuple(cond.shape), (1, 3, clips.FRAMES, clips.SIZE, clips.SIZE))
        for f in range(clips.FRAMES):
            m = cond[0, 0, f].numpy()
            ys, xs = np.nonzero(m > 0.5)
            self.assertLess(abs(xs.mean() + 0.5 - spec.xs[f]) + abs(ys.mean() + 0.5 - spec.ys[f]), 1.0)


class ControlNetInitTest(unittest.TestCase):
    def test_a_fresh_controlnet_leaves_the_demo_unet_unchanged_and_gets_gradients(self):
        unet = tc.load_demo_unet()
        cn = tc.controlnet_from_unet(unet)
        # the copied encoder is the UNet's
        torch.testing.assert_close(cn.down_blocks[1].resnets[0].conv1.weight, unet.down_blocks[1].resnets[0].conv1.weight)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(1, 4, clips.FRAMES, 8, 8, generator=g)
        t = torch.tensor([700])
        ctx = torch.randn(1, 77, 64, generator=g)
        cond = torch.rand(1, 3, clips.FRAMES, 64, 64, generator=g)
        res = cn(x, t, ctx, cond, 1.0, False)
        for p in unet.parameters():
            p.requires_grad_(False)
        out = unet(x, t, ctx, res[:-1], res[-1])
        with torch.no_grad():
            self.assertEqual(float((out - unet(x, t, ctx)).abs().max()), 0.0)
        out.square().mean().backward()
        self.assertGreater(float(cn.controlnet_mid_block.weight.grad.abs().max()), 0.0)


if __name__ == "__main__":
    unittest.main()
