"""Tests of the demo model's training script (scripts/demo/train.py): the text encoder's attribute
pretraining, and UNet training with that encoder frozen and the v-prediction loss weighting.

Run: cd scripts && /usr/bin/python3 -m unittest discover -s tests -p 'test_demo_training.py' -v
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(os.path.dirname(HERE), "demo")
if DEMO not in sys.path:
    sys.path.insert(0, DEMO)

import train  # noqa: E402
from tokenizer import EOS, get_tokenizer  # noqa: E402


def args_for(workdir: str) -> argparse.Namespace:
    """train.py's own defaults, small batches, no periodic checkpoints or evaluations."""
    return train.parser().parse_args(["--workdir", workdir, "--text-batch", "32", "--batch", "2", "--eval-minutes", "0",
                                      "--ckpt-minutes", "60"])


class SummaryTokensTest(unittest.TestCase):
    def test_averages_end_of_text_and_padding_positions(self):
        ids = torch.tensor([[49406, 320, EOS, EOS], [49406, 320, 321, EOS]])
        hidden = torch.arange(2 * 4 * 2, dtype=torch.float32).reshape(2, 4, 2)
        z = train.summary_tokens(hidden, ids)
        torch.testing.assert_close(z[0], hidden[0, 2:].mean(0))
        torch.testing.assert_close(z[1], hidden[1, 3])


class LossWeightsTest(unittest.TestCase):
    def test_plain_min_snr_and_v_loss_weights(self):
        args = args_for(tempfile.gettempdir())
        t = torch.tensor([0, 500, 951, 999])
        a = train.ALPHAS_CUMPROD[t]
        torch.testing.assert_close(train.loss_weights(args, t), torch.ones(4))
        args.v_loss = True  # x0 error weighted by 1 + SNR: the epsilon error over alpha_bar
        w = train.loss_weights(args, t)
        torch.testing.assert_close(w, 1 / a)
        self.assertGreater(float(w[2]), 300.0)  # the first sampling step of 20 (t = 951): alpha_bar ~ 0.0028
        args.v_loss, args.min_snr_gamma = False, 5.0
        snr = a / (1 - a)
        torch.testing.assert_close(train.loss_weights(args, t), torch.minimum(snr, torch.tensor(5.0)) / snr)
        self.assertEqual(float(train.loss_weights(args, t)[3]), 1.0)


class DemoTrainingTest(unittest.TestCase):
    def setUp(self):
        torch.set_num_threads(1)
        self.tmp = tempfile.TemporaryDirectory()
        self.args = args_for(self.tmp.name)
        self.vocab = train.training_vocab()
        tok = get_tokenizer()
        self.ids = torch.tensor([tok.encode("a red circle moving left"), tok.encode("a red circle moving right")])

    def tearDown(self):
        self.tmp.cleanup()

    def test_pretraining_pulls_motion_words_apart(self):
        torch.manual_seed(0)
        before = train.build_text_encoder(self.vocab).eval()
        with torch.no_grad():
            e0 = before(self.ids)
        self.args.text_steps = 100
        path = os.path.join(self.tmp.name, "text_encoder.pt")
        te = train.pretrain_text_encoder(self.args, self.vocab, path)
        with torch.no_grad():
            e1 = te(self.ids)
        d0 = (e0[0] - e0[1]).norm() / e0[0].norm()
        d1 = (e1[0] - e1[1]).norm() / e1[0].norm()
        self.assertGreater(float(d1), 3 * float(d0))
        loaded = train.load_text_encoder(path, self.vocab)
        with torch.no_grad():
            torch.testing.assert_close(loaded(self.ids), e1)

    def test_unet_training_leaves_a_frozen_text_encoder_unchanged(self):
        te = train.build_text_encoder(self.vocab).eval()
        before = {k: v.clone() for k, v in te.state_dict().items()}
        lat = torch.randn(3, 4, 8, 8, 8)
        meta = [{"shape": "circle", "color": "red", "motion": "left", "background": "black"}] * 3
        self.args.unet_steps, self.args.v_loss = 2, True
        out = os.path.join(self.tmp.name, "unet_ema.pt")
        train.train_unet(self.args, None, lat, meta, out, frozen_te=te)
        ck = torch.load(out)
        self.assertTrue(ck["text_encoder_frozen"])
        self.assertEqual(ck["step"], 2)
        for k, v in te.state_dict().items():
            torch.testing.assert_close(v, before[k], msg=k)
            torch.testing.assert_close(ck["text_encoder"][k], before[k], msg=k)


if __name__ == "__main__":
    unittest.main()
