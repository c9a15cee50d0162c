"""Our SVD modules against diffusers' UNetSpatioTemporalConditionModel / AutoencoderKLTemporalDecoder and
transformers' CLIPVisionModelWithProjection, where those import (CI's torch 2.x leg, .ci/torch2); they skip
on Debian's torch 1.13. The whole pipeline is compared through test/fixtures/stable-video-diffusion.json."""

import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from export_svd import tiny_random_models  # noqa: E402
from tests.test_reference_libraries import importable, maxdiff  # noqa: E402


@unittest.skipUnless(importable("diffusers") and importable("transformers"), "diffusers / transformers are not importable")
class SvdModulesVsDiffusers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unet, cls.vae, cls.enc = tiny_random_models(7)

    def test_unet(self):
        import diffusers

        cfg = self.unet.config
        theirs = diffusers.UNetSpatioTemporalConditionModel(**{k: v for k, v in cfg.to_dict().items() if k != "attention_backend"}).eval()
        theirs.load_state_dict(self.unet.state_dict(), strict=True)
        g = torch.Generator().manual_seed(0)
        x, emb = torch.randn(2, 3, 8, 5, 7, generator=g), torch.randn(2, 1, cfg.cross_attention_dim, generator=g)
        ids = torch.tensor([[6.0, 127.0, 0.02], [4.0, 30.0, 0.1]])
        with torch.no_grad():
            for t in (torch.tensor(1.6), torch.tensor([-1.5, 0.2])):
                ref = theirs(x, t, emb, ids).sample
                self.assertLess(maxdiff(self.unet(x, t, emb, ids), ref), 1e-4 * max(1.0, float(ref.abs().max())))

    def test_temporal_vae(self):
        import diffusers

        vc = self.vae.config
        theirs = diffusers.AutoencoderKLTemporalDecoder(block_out_channels=vc.block_out_channels, layers_per_block=vc.layers_per_block,
                                                        down_block_types=("DownEncoderBlock2D",) * len(vc.block_out_channels)).eval()
        theirs.load_state_dict(self.vae.state_dict(), strict=True)
        g = torch.Generator().manual_seed(1)
        z, img = torch.randn(6, 4, 3, 4, generator=g), torch.rand(2, 3, 24, 32, generator=g) * 2 - 1
        with torch.no_grad():
            self.assertLess(maxdiff(self.vae.decode(z, 3), theirs.decode(z, num_frames=3).sample), 1e-4)
            self.assertLess(maxdiff(self.vae.encode_mean(img), theirs.encode(img).latent_dist.mode()), 1e-4)

    def test_clip_vision(self):
        import transformers

        c = self.enc.config
        theirs = transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(
            hidden_size=c.hidden_size, intermediate_size=c.intermediate_size, num_hidden_layers=c.num_hidden_layers,
            num_attention_heads=c.num_attention_heads, image_size=c.image_size, patch_size=c.patch_size,
            projection_dim=c.projection_dim, hidden_act=c.hidden_act)).eval()
        theirs.load_state_dict(self.enc.state_dict(), strict=False)
        px = torch.randn(2, 3, c.image_size, c.image_size, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            self.assertLess(maxdiff(self.enc(px), theirs(px).image_embeds), 1e-4)


if __name__ == "__main__":
    unittest.main()
