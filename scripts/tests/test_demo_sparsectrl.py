"""Tests of the demo SparseCtrl's training script (scripts/demo/train_sparsectrl.py).

Run: cd scripts && /usr/bin/python3 -m unittest discover -s tests -p 'test_demo_sparsectrl.py' -v
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
import train_sparsectrl as ts  # noqa: E402


def _clip(seed: int = 7):
    spec = paths.path_spec("diagonal", random.Random(seed), shape="circle", color="red", background="black")
    frames, mask = clips.render(spec)
    return spec, np.round(frames * 255).astype(np.uint8), torch.from_numpy(np.round(mask * 255).astype(np.uint8))


class KeyframesTest(unittest.TestCase):
    def test_the_condition_holds_the_masks_on_the_keyframes_only(self):
        _, _, mask = _clip()
        cond, cmask = ts.keyframe_cond(torch.stack([mask, mask]), [[0], [0, 7]])
        self.assertEqual(tuple(cond.shape), (2, 3, clips.FRAMES, clips.SIZE, clips.SIZE))
        self.assertEqual(tuple(cmask.shape), (2, 1, clips.FRAMES, clips.SIZE, clips.SIZE))
        for b, keys in enumerate([[0], [0, 7]]):
            for f in range(clips.FRAMES):
                on = f in keys
                self.assertEqual(bool(cmask[b, 0, f].eq(1).all()), on)
                self.assertEqual(bool(cmask[b, 0, f].eq(0).all()), not on)
                want = mask[f].float() / 255 if on else torch.zeros(clips.SIZE, clips.SIZE)
                self.assertTrue(torch.equal(cond[b, 1, f], want))

    def test_the_judge_accepts_the_rendered_path_and_rejects_it_backwards(self):
        spec, frames, _ = _clip()
        for keys in ([0], [0, 7]):
            self.assertTrue(ts.keyframe_ok(frames, spec.xs, spec.ys, keys, 6.0)[0], keys)
            self.assertFalse(ts.keyframe_ok(frames, spec.xs[::-1], spec.ys[::-1], keys, 6.0)[0], keys)
        still = np.repeat(frames[:1], clips.FRAMES, 0)  # right on frame 0, never moves
        self.assertFalse(ts.keyframe_ok(still, spec.xs, spec.ys, [0, 7], 6.0)[0])
        self.assertTrue(ts.keyframe_ok(still, spec.xs, spec.ys, [0], 6.0)[0])


class SparseInitTest(unittest.TestCase):
    def test_the_warm_start_is_the_controlnet_with_idle_motion_modules_and_mask_channel(self):
        unet = ts.tc.load_demo_unet()
        sc = ts.sparse_init(unet, "controlnet")
        cn = torch.jit.load(os.path.join(ts.DEMO, "controlnet", "model.pt")).state_dict()
        sd = sc.state_dict()
        w = sd["controlnet_cond_embedding.conv_in.weight"]
        self.assertTrue(torch.equal(w[:, :3], cn["controlnet_cond_embedding.conv_in.weight"]))
        self.assertEqual(float(w[:, 3].abs().sum()), 0.0)
        self.assertTrue(torch.equal(sd["controlnet_mid_block.weight"], cn["controlnet_mid_block.weight"]))
        outs = [k for k in sd if "motion_modules" in k and "proj_out" in k]
        self.assertTrue(outs)
        for k in outs:
            self.assertEqual(float(sd[k].abs().sum()), 0.0, k)
        # gradients reach the motion modules' output and the mask channel
        _, _, mask = _clip()
        cond, cmask = ts.keyframe_cond(mask[None], [[0, 7]])
        x = torch.randn(1, 4, clips.FRAMES, 8, 8)
        res = sc(x, torch.tensor([500]), torch.randn(1, 77, 64), cond, cmask, 1.0, False)
        sum(r.square().mean() for r in res).backward()
        self.assertGreater(float(sc.controlnet_cond_embedding.conv_in.weight.grad[:, 3].abs().sum()), 0.0)
        self.assertGreater(float(sum(p.grad.abs().sum() for k, p in sc.named_parameters() if "proj_out" in k and "motion" in k)), 0.0)


if __name__ == "__main__":
    unittest.main()
