"""Tests for scripts/animatorch_export model definitions and TorchScript export.

Run:  cd scripts && /usr/bin/python3 -m unittest discover -s tests -v

Everything uses tiny random models (a few MB) except the parameter counts, which build the
full SD1.5 models on the meta device (no memory). Total runtime: well under 2 minutes on 2 cores.
"""

import copy
import json
import math
import os
import re
import shutil
import sys
import tempfile
import unittest

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from animatorch_export import attention as attn_mod  # noqa: E402
from animatorch_export.attention import HAS_SDPA, BasicTransformerBlock, MathAttentionCore, make_attention_core  # noqa: E402
from animatorch_export.clip_text import CLIPTextModel  # noqa: E402
from animatorch_export.configs import CLIPTextConfig, UNet3DConfig, VAEConfig, get_preset  # noqa: E402
from animatorch_export.errors import ExportError  # noqa: E402
from animatorch_export.manifest import SCHEDULER_CONFIG, read_manifest, verify_files  # noqa: E402
from animatorch_export.reference import randomize_weights_, tensor_from_json  # noqa: E402
from animatorch_export.torchscript_export import export_model, script  # noqa: E402
from animatorch_export.motion_module import VanillaTemporalModule, sinusoidal_table  # noqa: E402
from animatorch_export.resnet import Downsample2D, FrameGroupNorm, fold_frames, unfold_frames  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel, count_motion_modules, motion_module_parameters  # noqa: E402
from animatorch_export.vae import AutoencoderKL, VAEDecoderModule, VAEEncoderModule  # noqa: E402

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

SD15_MOTION_CHANNELS = [320] * 2 + [640] * 2 + [1280] * 4 + [1280] * 6 + [640] * 3 + [320] * 3  # 20, + mid 1280


def rand_unet(version="v2", numerics="animatediff", seed=0, **over):
    cfg = UNet3DConfig.tiny(version, numerics, **over)
    return randomize_weights_(UNet3DConditionModel(cfg), seed).eval()


def unet_inputs(b, f, h, w, c_text=32, seed=0, t=None):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(b, 4, f, h, w, generator=g)
    ts = torch.tensor(t if t is not None else [981, 1, 500, 10][:b], dtype=torch.int64)
    text = torch.randn(b, 77, c_text, generator=g)
    return sample, ts, text


def close(a, b, atol=1e-5, rtol=1e-4):
    return torch.allclose(a.float(), b.float(), atol=atol, rtol=rtol)


def maxdiff(a, b):
    return float((a.float() - b.float()).abs().max())


# --------------------------------------------------------------------------------------------------
# naive references, written from the AnimateDiff source layout (einops patterns spelled out)


def pe_formula(num_frames, dim):
    """facts §2: pe[p, 2i] = sin(p * exp(-2i ln(1e4)/C)), pe[p, 2i+1] = cos(same)."""
    pe = torch.zeros(num_frames, dim, dtype=torch.float64)
    for p in range(num_frames):
        for i in range(dim // 2):
            ang = p * math.exp(-2 * i * math.log(10000.0) / dim)
            pe[p, 2 * i] = math.sin(ang)
            pe[p, 2 * i + 1] = math.cos(ang)
    return pe.float()


def naive_attention(q, k, v, heads, causal=False):
    n, lq, c = q.shape
    lk = k.shape[1]
    hd = c // heads

    def split(z, l):
        return z.reshape(n, l, heads, hd).permute(0, 2, 1, 3)

    s = split(q, lq) @ split(k, lk).transpose(-1, -2) / math.sqrt(hd)
    if causal:
        s = s.masked_fill(torch.ones(lq, lk, dtype=torch.bool).triu(1), float("-inf"))
    o = torch.softmax(s, -1) @ split(v, lk)
    return o.permute(0, 2, 1, 3).reshape(n, lq, c)


def naive_geglu_ff(ff, x):
    a, g = ff.net[0].proj(x).chunk(2, dim=-1)
    return ff.net[2](a * F.gelu(g))


def naive_motion_module(mm, x5, joint_gn):
    """AnimateDiff VanillaTemporalModule on [b, c, f, h, w] (joint_gn: diffusers' norm over frames)."""
    tt = mm.temporal_transformer
    b, c, f, h, w = x5.shape
    x = x5.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)  # b c f h w -> (b f) c h w
    if joint_gn:
        n5 = F.group_norm(x5, tt.norm.num_groups, tt.norm.weight, tt.norm.bias, tt.norm.eps)
        normed = n5.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    else:
        normed = F.group_norm(x, tt.norm.num_groups, tt.norm.weight, tt.norm.bias, tt.norm.eps)
    hs = tt.proj_in(normed.permute(0, 2, 3, 1).reshape(b * f, h * w, c))
    pe = pe_formula(f, c)
    for blk in tt.transformer_blocks:
        for attn, norm in zip(blk.attention_blocks, blk.norms):
            nrm = norm(hs)
            d = nrm.shape[1]
            t = nrm.reshape(b, f, d, c).permute(0, 2, 1, 3).reshape(b * d, f, c)  # (b f) d c -> (b d) f c
            t = t + pe[None]
            a = naive_attention(attn.to_q(t), attn.to_k(t), attn.to_v(t), attn.heads)
            a = attn.to_out[0](a)
            a = a.reshape(b, d, f, c).permute(0, 2, 1, 3).reshape(b * f, d, c)  # (b d) f c -> (b f) d c
            hs = a + hs
        hs = naive_geglu_ff(blk.ff, blk.ff_norm(hs)) + hs
    hs = tt.proj_out(hs)
    out = hs.reshape(b * f, h, w, c).permute(0, 3, 1, 2) + x
    return out.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


# --------------------------------------------------------------------------------------------------


class TestFullSizeParameterCounts(unittest.TestCase):
    """Full SD1.5 models built on the meta device (shapes only, no storage).

    torch 1.13 supports this: every layer we use (Linear, Conv2d, GroupNorm, LayerNorm, Embedding)
    takes device=/dtype= and its reset_parameters() runs on meta tensors; the positional-encoding
    table is computed on CPU (32 x C floats) and moved to meta. So no skip-init fallback is needed.
    """

    @classmethod
    def setUpClass(cls):
        cls.unets = {v: UNet3DConditionModel(UNet3DConfig.sd15(v), device="meta") for v in ("v1", "v2", "v3")}

    def test_all_parameters_are_meta(self):
        for v, m in self.unets.items():
            self.assertTrue(all(p.is_meta for p in m.parameters()), v)

    def test_v2_total_matches_diffusers_unet_motion_model(self):
        m = self.unets["v2"]
        total = sum(p.numel() for p in m.parameters())
        # diffusers UNetMotionModel + mm_sd_v15_v2 adapter: 1,312.7 M
        self.assertEqual(round(total / 1e6, 1), 1312.7)
        self.assertEqual(total, 1_312_730_244)
        # the SD1.5 UNet2DConditionModel part is exactly 859,520,964
        self.assertEqual(total - motion_module_parameters(m), 859_520_964)

    def test_motion_module_counts_and_params(self):
        self.assertEqual(count_motion_modules(self.unets["v2"]), 21)
        self.assertEqual(count_motion_modules(self.unets["v1"]), 20)
        self.assertEqual(count_motion_modules(self.unets["v3"]), 20)
        mm = motion_module_parameters(self.unets["v2"])
        chans = SD15_MOTION_CHANNELS + [1280]
        # 22 C^2 (weights: q,k,v,out x2, proj_in, proj_out, GEGLU 8C^2, down 4C^2) = 452.8 M,
        # + 21 C (biases and norm affines) -> 453.2 M (README: 453 M)
        self.assertEqual(round(sum(22 * c * c for c in chans) / 1e6, 1), 452.8)
        self.assertEqual(mm, sum(22 * c * c + 21 * c for c in chans))
        self.assertEqual(round(mm / 1e6, 1), 453.2)
        self.assertEqual(motion_module_parameters(self.unets["v1"]), sum(22 * c * c + 21 * c for c in SD15_MOTION_CHANNELS))

    def test_state_dict_names_and_shapes(self):
        sd = {k: tuple(v.shape) for k, v in self.unets["v2"].state_dict().items()}
        expect = {
            "conv_in.weight": (320, 4, 3, 3),
            "time_embedding.linear_1.weight": (1280, 320),
            "time_embedding.linear_2.weight": (1280, 1280),
            "down_blocks.0.resnets.0.time_emb_proj.weight": (320, 1280),
            "down_blocks.1.resnets.0.conv_shortcut.weight": (640, 320, 1, 1),
            "down_blocks.0.attentions.1.proj_in.weight": (320, 320, 1, 1),
            "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 768),
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.bias": (320,),
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight": (2560, 320),
            "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight": (320, 1280),
            "down_blocks.2.downsamplers.0.conv.weight": (1280, 1280, 3, 3),
            "down_blocks.3.resnets.1.norm2.weight": (1280,),
            "down_blocks.3.motion_modules.1.temporal_transformer.proj_out.weight": (1280, 1280),
            "mid_block.resnets.1.conv2.weight": (1280, 1280, 3, 3),
            "mid_block.attentions.0.norm.weight": (1280,),
            "mid_block.motion_modules.0.temporal_transformer.norm.bias": (1280,),
            "up_blocks.0.resnets.2.conv1.weight": (1280, 2560, 3, 3),
            "up_blocks.0.upsamplers.0.conv.weight": (1280, 1280, 3, 3),
            "up_blocks.3.resnets.0.conv1.weight": (320, 960, 3, 3),
            "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_v.weight": (320, 768),
            "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_q.weight": (320, 320),
            "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.norms.1.weight": (320,),
            "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.ff_norm.weight": (320,),
            "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.ff.net.0.proj.weight": (2560, 320),
            "up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.ff.net.2.weight": (320, 1280),
            "conv_norm_out.weight": (320,),
            "conv_out.weight": (4, 320, 3, 3),
        }
        for k, shape in expect.items():
            self.assertIn(k, sd)
            self.assertEqual(sd[k], shape, k)
        self.assertNotIn("up_blocks.3.upsamplers.0.conv.weight", sd)
        self.assertNotIn("down_blocks.3.downsamplers.0.conv.weight", sd)
        self.assertFalse([k for k in sd if "pos_encoder" in k or "time_proj" in k or k.endswith(".core")])
        self.assertFalse([k for k in sd if "attention_blocks.0.to_q.bias" in k])  # no q/k/v bias
        for v in ("v1", "v3"):
            self.assertFalse([k for k in self.unets[v].state_dict() if k.startswith("mid_block.motion_modules")])
        # pe lengths: v1 24, v2/v3 32
        for v, n in (("v1", 24), ("v2", 32), ("v3", 32)):
            mm = self.unets[v].down_blocks[0].motion_modules[0].temporal_transformer
            self.assertEqual(tuple(mm.transformer_blocks[0].attention_blocks[0].pos_encoder.pe.shape), (1, n, 320))

    def test_vae_and_clip_counts_and_names(self):
        vae = AutoencoderKL(VAEConfig.sd15(), device="meta")
        self.assertEqual(sum(p.numel() for p in vae.parameters()), 83_653_863)  # diffusers AutoencoderKL (SD)
        sd = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
        for k, shape in {
            "encoder.conv_in.weight": (128, 3, 3, 3),
            "encoder.down_blocks.0.downsamplers.0.conv.weight": (128, 128, 3, 3),
            "encoder.down_blocks.1.resnets.0.conv_shortcut.weight": (256, 128, 1, 1),
            "encoder.mid_block.attentions.0.group_norm.weight": (512,),
            "encoder.mid_block.attentions.0.to_q.bias": (512,),
            "encoder.conv_out.weight": (8, 512, 3, 3),
            "quant_conv.weight": (8, 8, 1, 1),
            "post_quant_conv.weight": (4, 4, 1, 1),
            "decoder.conv_in.weight": (512, 4, 3, 3),
            "decoder.mid_block.attentions.0.to_out.0.weight": (512, 512),
            "decoder.mid_block.resnets.1.conv2.weight": (512, 512, 3, 3),
            "decoder.up_blocks.0.resnets.2.conv1.weight": (512, 512, 3, 3),
            "decoder.up_blocks.2.resnets.0.conv_shortcut.weight": (256, 512, 1, 1),
            "decoder.up_blocks.2.upsamplers.0.conv.weight": (256, 256, 3, 3),
            "decoder.up_blocks.3.resnets.0.conv1.weight": (128, 256, 3, 3),
            "decoder.conv_norm_out.weight": (128,),
            "decoder.conv_out.weight": (3, 128, 3, 3),
        }.items():
            self.assertEqual(sd.get(k), shape, k)
        self.assertNotIn("decoder.up_blocks.3.upsamplers.0.conv.weight", sd)
        clip = CLIPTextModel(CLIPTextConfig.sd15(), device="meta")
        self.assertEqual(sum(p.numel() for p in clip.parameters()), 123_060_480)  # HF CLIPTextModel ViT-L/14
        csd = {k: tuple(v.shape) for k, v in clip.state_dict().items()}
        self.assertEqual(csd["text_model.embeddings.token_embedding.weight"], (49408, 768))
        self.assertEqual(csd["text_model.embeddings.position_embedding.weight"], (77, 768))
        self.assertEqual(csd["text_model.encoder.layers.11.mlp.fc1.weight"], (3072, 768))
        self.assertEqual(csd["text_model.encoder.layers.11.self_attn.out_proj.bias"], (768,))
        self.assertEqual(csd["text_model.final_layer_norm.weight"], (768,))
        self.assertNotIn("text_model.embeddings.position_ids", csd)


class TestBuildingBlocks(unittest.TestCase):
    def test_positional_encoding_formula_and_limits(self):
        m = rand_unet("v2")
        pe_mod = m.down_blocks[0].motion_modules[0].temporal_transformer.transformer_blocks[0].attention_blocks[1].pos_encoder
        self.assertTrue(close(pe_mod.pe[0, :32], pe_formula(32, 32), atol=1e-6))
        self.assertTrue(close(sinusoidal_table(24, 320)[0], pe_formula(24, 320), atol=2e-6))
        self.assertEqual(pe_mod.pe.dtype, torch.float32)
        with self.assertRaisesRegex(RuntimeError, "33 frames exceed"):
            pe_mod(torch.zeros(1, 33, 32))
        v1 = rand_unet("v1")
        with self.assertRaisesRegex(RuntimeError, "25 frames exceed"):
            v1(*unet_inputs(1, 25, 4, 4))

    def test_timestep_embedding(self):
        m = rand_unet("v2")
        t = torch.tensor([0, 1, 981], dtype=torch.int64)
        emb = m.time_proj(t)
        half = 16
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        ref = torch.cat([torch.cos(t[:, None].float() * freqs), torch.sin(t[:, None].float() * freqs)], -1)
        self.assertTrue(torch.equal(emb, ref))  # flip_sin_to_cos: cos first, freq_shift 0
        self.assertTrue(torch.equal(m.time_proj(t.float()), emb))

    def test_math_attention_core(self):
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(3, 4, 7, 8, generator=g) for _ in range(3))
        ref = naive_attention(
            q.transpose(1, 2).reshape(3, 7, 32), k.transpose(1, 2).reshape(3, 7, 32), v.transpose(1, 2).reshape(3, 7, 32), 4
        ).reshape(3, 7, 4, 8).transpose(1, 2)
        self.assertLess(maxdiff(MathAttentionCore()(q, k, v), ref), 1e-5)
        sliced = MathAttentionCore(slice_elements=2 * 49)  # 2 of the 12 (batch*heads) per slice
        self.assertLess(maxdiff(sliced(q, k, v), ref), 1e-5)
        causal_ref = naive_attention(
            q.transpose(1, 2).reshape(3, 7, 32), k.transpose(1, 2).reshape(3, 7, 32), v.transpose(1, 2).reshape(3, 7, 32), 4, causal=True
        ).reshape(3, 7, 4, 8).transpose(1, 2)
        self.assertLess(maxdiff(MathAttentionCore(causal=True)(q, k, v), causal_ref), 1e-5)
        self.assertLess(maxdiff(torch.jit.script(MathAttentionCore(causal=True))(q, k, v), causal_ref), 1e-5)

    def test_attention_backend_selection(self):
        core = make_attention_core("auto")
        if HAS_SDPA:
            self.assertIs(type(core), attn_mod.SDPAAttentionCore)
        else:
            # torch 1.13: the SDPA class is not even defined, and scripted code never mentions it
            self.assertIsNone(attn_mod.SDPAAttentionCore)
            self.assertIsInstance(core, MathAttentionCore)
            self.assertNotIn("scaled_dot_product_attention", torch.jit.script(core).code)
            with self.assertRaisesRegex(RuntimeError, "torch >= 2.0"):
                make_attention_core("sdpa")

    @unittest.skipUnless(HAS_SDPA, "torch < 2.0 has no scaled_dot_product_attention (math path only)")
    def test_sdpa_matches_math(self):
        g = torch.Generator().manual_seed(1)
        q, k, v = (torch.randn(2, 4, 9, 8, generator=g) for _ in range(3))
        for causal in (False, True):
            a = attn_mod.SDPAAttentionCore(causal)(q, k, v)
            b = MathAttentionCore(causal)(q, k, v)
            self.assertLess(maxdiff(a, b), 1e-5)
        m_math = rand_unet("v2", attention_backend="math")
        m_sdpa = rand_unet("v2", attention_backend="sdpa")
        args = unet_inputs(2, 3, 8, 8)
        with torch.no_grad():
            self.assertLess(maxdiff(m_math(*args), m_sdpa(*args)), 1e-4)
            self.assertLess(maxdiff(torch.jit.script(m_sdpa)(*args), m_math(*args)), 1e-4)

    def test_frame_group_norm(self):
        g = torch.Generator().manual_seed(0)
        b, c, f, h, w = 2, 64, 3, 4, 5
        x5 = torch.randn(b, c, f, h, w, generator=g) * torch.linspace(0.5, 3, f)[None, None, :, None, None]
        gn_joint = FrameGroupNorm(32, c, eps=1e-5, joint=True)
        gn_frame = FrameGroupNorm(32, c, eps=1e-5, joint=False)
        for gn in (gn_joint, gn_frame):
            with torch.no_grad():
                gn.weight.copy_(torch.randn(c, generator=g))
                gn.bias.copy_(torch.randn(c, generator=g))
        gn_frame.load_state_dict(gn_joint.state_dict())
        ref = torch.nn.GroupNorm(32, c, eps=1e-5)
        ref.load_state_dict(gn_joint.state_dict())
        # joint = nn.GroupNorm on the 5-D video (AnimateDiff v1 resnets)
        self.assertLess(maxdiff(unfold_frames(gn_joint(fold_frames(x5), f), f), ref(x5)), 1e-5)
        # per frame = nn.GroupNorm on (b f) c h w (InflatedGroupNorm)
        self.assertLess(maxdiff(gn_frame(fold_frames(x5), f), ref(fold_frames(x5))), 1e-5)
        self.assertGreater(maxdiff(gn_joint(fold_frames(x5), f), gn_frame(fold_frames(x5), f)), 1e-2)
        # one frame: identical
        self.assertTrue(torch.equal(gn_joint(fold_frames(x5[:, :, :1]), 1), gn_frame(fold_frames(x5[:, :, :1]), 1)))

    def test_motion_module_matches_naive_reference(self):
        g = torch.Generator().manual_seed(2)
        x5 = torch.randn(2, 64, 5, 3, 4, generator=g)
        for joint in (False, True):
            mm = randomize_weights_(VanillaTemporalModule(64, max_len=32, joint_groupnorm=joint), 5).eval()
            with torch.no_grad():
                ours = unfold_frames(mm(fold_frames(x5), 5), 5)
                ref = naive_motion_module(mm, x5, joint)
                self.assertLess(maxdiff(ours, ref), 1e-4, f"joint={joint}")
                self.assertLess(maxdiff(unfold_frames(torch.jit.script(mm)(fold_frames(x5), 5), 5), ref), 1e-4)
        # a fresh module is the identity (proj_out zero-initialised)
        fresh = VanillaTemporalModule(64)
        self.assertTrue(torch.equal(fresh(fold_frames(x5), 5), fold_frames(x5)))

    def test_cross_attention_shares_text_kv_across_frames(self):
        torch.manual_seed(0)
        blk = randomize_weights_(BasicTransformerBlock(32, 4, 8, cross_attention_dim=24), 3).eval()
        b, f, hw = 2, 3, 10
        x = torch.randn(b * f, hw, 32)
        ctx = torch.randn(b, 77, 24)  # different text per video
        with torch.no_grad():
            ours = blk(x, ctx, f)
            # naive: repeat text states per frame (AnimateDiff's repeat 'b n c -> (b f) n c'), attend per frame
            ctx_rep = ctx.repeat_interleave(f, dim=0)
            h = blk.attn1(blk.norm1(x)) + x
            h = blk.attn2(blk.norm2(h), ctx_rep) + h
            ref = blk.ff(blk.norm3(h)) + h
            self.assertLess(maxdiff(ours, ref), 1e-5)
            # and pairing matters: swapping the videos' texts changes the result
            self.assertGreater(maxdiff(blk(x, ctx.flip(0), f), ref), 1e-3)
            # one text state per frame (FreeNoise's per-frame prompts) attends per frame: the same result
            self.assertLess(maxdiff(blk(x, ctx_rep, f), ref), 1e-5)
            with self.assertRaisesRegex(RuntimeError, "one row per video"):
                blk(x, ctx_rep[:4], f)

    def test_vae_downsample_padding_and_shapes(self):
        d = Downsample2D(32)
        x = torch.randn(2, 32, 9, 8)
        self.assertTrue(torch.equal(d(x), F.conv2d(F.pad(x, (0, 1, 0, 1)), d.conv.weight, d.conv.bias, stride=2)))
        vae = randomize_weights_(AutoencoderKL(VAEConfig.tiny()), 1).eval()
        with torch.no_grad():
            z = torch.randn(3, 4, 5, 6)
            img = vae.decode(z)
            self.assertEqual(tuple(img.shape), (3, 3, 40, 48))
            # frames decode independently
            self.assertLess(maxdiff(img[1:2], vae.decode(z[1:2])), 1e-5)
            self.assertEqual(tuple(vae.encode_mean(img).shape), (3, 4, 5, 6))


class TestUNetNumerics(unittest.TestCase):
    def test_shapes_and_batch_independence(self):
        m = rand_unet("v2")
        with torch.no_grad():
            for (b, f, h, w) in ((1, 1, 8, 8), (2, 4, 8, 8), (1, 3, 5, 7), (3, 2, 6, 10)):
                s, t, c = unet_inputs(b, f, h, w)
                t = torch.tensor([981, 1, 500][:b])
                out = m(s, t, c)
                self.assertEqual(tuple(out.shape), (b, 4, f, h, w))
                self.assertTrue(torch.isfinite(out).all())
                if b > 1:  # each video only sees its own text, timestep and frames
                    self.assertLess(maxdiff(out[1:2], m(s[1:2], t[1:2], c[1:2])), 1e-4)
            s, t, c = unet_inputs(2, 3, 8, 8)
            a = m(s, torch.tensor([500, 500]), c)
            self.assertLess(maxdiff(a, m(s, torch.tensor(500), c)), 1e-6)  # 0-d timestep broadcasts
            self.assertLess(maxdiff(a, m(s, torch.tensor([500.0, 500.0]), c)), 1e-6)  # float == int
            # per-frame text states ([B*F, T, C], rows (b f)) repeating each video's: the same result
            self.assertLess(maxdiff(a, m(s, torch.tensor(500), c.repeat_interleave(3, 0))), 1e-5)
            with self.assertRaisesRegex(RuntimeError, "one row per video"):
                m(s, t[:2], c.repeat_interleave(2, 0))

    def test_frames_are_independent_without_motion(self):
        """With zero motion-module outputs and per-frame GroupNorm (v2, both numerics), every frame
        equals a 1-frame run: proves the (b f) fold puts frames fastest and nothing else mixes them."""
        for numerics in ("animatediff", "diffusers"):
            m = rand_unet("v2", numerics)
            for mod in m.modules():
                if isinstance(mod, VanillaTemporalModule):
                    torch.nn.init.zeros_(mod.temporal_transformer.proj_out.weight)
                    torch.nn.init.zeros_(mod.temporal_transformer.proj_out.bias)
            s, t, c = unet_inputs(2, 3, 8, 8)
            with torch.no_grad():
                out = m(s, t, c)
                for fi in range(3):
                    self.assertLess(maxdiff(out[:, :, fi : fi + 1], m(s[:, :, fi : fi + 1], t, c)), 1e-4)
        # v1 with AnimateDiff numerics normalises resnets over the whole video: frames interact
        m = rand_unet("v1", "animatediff")
        for mod in m.modules():
            if isinstance(mod, VanillaTemporalModule):
                torch.nn.init.zeros_(mod.temporal_transformer.proj_out.weight)
                torch.nn.init.zeros_(mod.temporal_transformer.proj_out.bias)
        with torch.no_grad():
            out = m(s, t, c)
            self.assertGreater(maxdiff(out[:, :, :1], m(s[:, :, :1], t, c)), 1e-3)

    def test_animatediff_vs_diffusers_numerics(self):
        s, t, c = unet_inputs(2, 4, 8, 8)
        for version in ("v1", "v2", "v3"):
            a = rand_unet(version, "animatediff", seed=3)
            d = UNet3DConditionModel(UNet3DConfig.tiny(version, "diffusers")).eval()
            d.load_state_dict(a.state_dict())  # same names in both modes
            with torch.no_grad():
                # different numerics -> different eps for a multi-frame video
                self.assertGreater(maxdiff(a(s, t, c), d(s, t, c)), 1e-4, version)
                # one frame: every GroupNorm flavour coincides -> identical
                self.assertLess(maxdiff(a(s[:, :, :1], t, c), d(s[:, :, :1], t, c)), 1e-5, version)
                # resnets: identical for v2/v3 (both per frame), different for v1 (whole video vs per frame)
                x = fold_frames(torch.randn(2, 32, 4, 8, 8))
                emb = torch.randn(2, 128)
                ra = a.down_blocks[0].resnets[0](x, emb, 4)
                rd = d.down_blocks[0].resnets[0](x, emb, 4)
                if version == "v1":
                    self.assertGreater(maxdiff(ra, rd), 1e-4)
                else:
                    self.assertTrue(torch.equal(ra, rd))
                # motion-module input norm: per frame (animatediff) vs joint (diffusers) -> different
                ma = a.down_blocks[0].motion_modules[0](x, 4)
                md = d.down_blocks[0].motion_modules[0](x, 4)
                self.assertGreater(maxdiff(ma, md), 1e-4)

    def test_layer_order_in_blocks(self):
        """resnet -> attention -> motion module per layer; mid: resnet, attention, motion (v2), resnet."""
        m = rand_unet("v2", layers_per_block=2)
        calls = []
        pattern = re.compile(r"^(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.(resnets|attentions|motion_modules|downsamplers|upsamplers)\.\d+$")
        for name, mod in m.named_modules():
            if pattern.match(name):
                mod.register_forward_hook(lambda *_a, n=name: calls.append(n))
        with torch.no_grad():
            m(*unet_inputs(1, 2, 8, 8))
        self.assertEqual(
            calls[:7],
            [
                "down_blocks.0.resnets.0", "down_blocks.0.attentions.0", "down_blocks.0.motion_modules.0",
                "down_blocks.0.resnets.1", "down_blocks.0.attentions.1", "down_blocks.0.motion_modules.1",
                "down_blocks.0.downsamplers.0",
            ],
        )
        i = calls.index("mid_block.resnets.0")
        self.assertEqual(calls[i : i + 4], ["mid_block.resnets.0", "mid_block.attentions.0", "mid_block.motion_modules.0", "mid_block.resnets.1"])
        j = calls.index("up_blocks.1.resnets.0")
        self.assertEqual(calls[j : j + 3], ["up_blocks.1.resnets.0", "up_blocks.1.attentions.0", "up_blocks.1.motion_modules.0"])
        self.assertEqual(calls[-3:], ["up_blocks.1.resnets.2", "up_blocks.1.attentions.2", "up_blocks.1.motion_modules.2"])
        k = calls.index("up_blocks.0.motion_modules.2")
        self.assertEqual(calls[k + 1], "up_blocks.0.upsamplers.0")
        self.assertEqual(count_motion_modules(m), 2 * 2 + 2 * 3 + 1)


class TestCLIP(unittest.TestCase):
    def test_clip_skip_and_causality(self):
        cfg = CLIPTextConfig.tiny(num_hidden_layers=3)
        m = randomize_weights_(CLIPTextModel(cfg), 4).eval()
        ids = torch.full((2, 77), 49407, dtype=torch.int64)
        ids[:, 0] = 49406
        ids[0, 1:5] = torch.tensor([320, 1125, 539, 2368])
        tm = m.text_model
        with torch.no_grad():
            hs = [tm.embeddings(ids)]
            for layer in tm.encoder.layers:
                hs.append(layer(hs[-1]))
            for skip in range(4):
                self.assertLess(maxdiff(m(ids, skip), tm.final_layer_norm(hs[-(skip + 1)])), 1e-5, skip)
            # causal: later tokens do not change earlier outputs
            ids2 = ids.clone()
            ids2[0, 6] = 1000
            a, b = m(ids), m(ids2)
            self.assertTrue(torch.allclose(a[0, :6], b[0, :6], atol=1e-6))
            self.assertGreater(maxdiff(a[0, 6:], b[0, 6:]), 1e-4)
            with self.assertRaisesRegex(RuntimeError, "clip_skip"):
                m(ids, 4)
            # quick_gelu
            x = torch.randn(5, 32)
            mlp = tm.encoder.layers[0].mlp
            h = mlp.fc1(x)
            self.assertLess(maxdiff(mlp(x), mlp.fc2(h * torch.sigmoid(1.702 * h))), 1e-6)


class TestExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="animatorch-export-test-")
        p = get_preset("tiny-v2")
        cls.unet = randomize_weights_(UNet3DConditionModel(p.unet), 0).eval()
        cls.vae = randomize_weights_(AutoencoderKL(p.vae), 1).eval()
        cls.text = randomize_weights_(CLIPTextModel(p.text_encoder), 2).eval()
        cls.dir = os.path.join(cls.tmp, "tiny-v2")
        cls.manifest = export_model(
            copy.deepcopy(cls.unet), copy.deepcopy(cls.vae), copy.deepcopy(cls.text), cls.dir, dtype="float32", name="tiny"
        )

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layout_and_manifest(self):
        m = read_manifest(self.dir)
        self.assertEqual(m, json.loads(json.dumps(self.manifest)))
        self.assertEqual(m["name"], "tiny")
        self.assertEqual(m["family"], "animatediff-sd15")
        self.assertEqual(m["motion_module"], {"version": "v2", "max_frames": 32})
        self.assertEqual(m["numerics"], "animatediff")
        self.assertEqual(m["dtype"], "float32")
        self.assertEqual(m["sample_size"], [8, 8])
        self.assertEqual(m["in_channels"], 4)
        self.assertEqual(m["cross_attention_dim"], 32)
        self.assertEqual(m["text_max_length"], 77)
        self.assertEqual(m["attention_slice_elements"], 1 << 24)  # the math attention's slice, for lib's memory estimate
        self.assertEqual(m["vae"]["file"], "vae/decoder.pt")
        self.assertEqual(m["vae"]["encoder_file"], "vae/encoder.pt")
        self.assertAlmostEqual(m["vae"]["scaling_factor"], 0.18215)
        self.assertEqual(m["unet"], {"file": "unet/model.pt", "format": "torchscript", "inputs": ["down_block_additional_residuals", "mid_block_additional_residual", "motion_scale", "free_noise_windows", "free_noise_weights"]})
        self.assertEqual(m["text_encoder"]["file"], "text_encoder/model.pt")
        self.assertEqual(m["scheduler"], SCHEDULER_CONFIG)
        self.assertEqual(m["animatorch_export_version"], 1)
        with open(os.path.join(self.dir, "scheduler", "scheduler_config.json")) as f:
            self.assertEqual(json.load(f), SCHEDULER_CONFIG)
        self.assertEqual(
            sorted(m["files"]),
            sorted([
                "unet/model.pt", "unet/config.json", "vae/decoder.pt", "vae/encoder.pt", "vae/config.json",
                "text_encoder/model.pt", "text_encoder/config.json", "scheduler/scheduler_config.json",
            ]),
        )
        verify_files(self.dir, m)
        leftovers = [n for _, _, names in os.walk(self.dir) for n in names if n.endswith(".tmp")]
        self.assertEqual(leftovers, [])
        with open(os.path.join(self.dir, "unet", "config.json")) as f:
            self.assertEqual(UNet3DConfig.from_dict({k: v for k, v in json.load(f).items() if k != "_class_name"}), self.unet.config)

    def test_tampered_file_is_detected(self):
        d = os.path.join(self.tmp, "tamper")
        shutil.copytree(self.dir, d)
        with open(os.path.join(d, "vae", "config.json"), "a") as f:
            f.write(" ")
        with self.assertRaisesRegex(ExportError, "vae/config.json"):
            verify_files(d)

    def test_unet_round_trip_dynamic_shapes(self):
        s_unet = torch.jit.load(os.path.join(self.dir, "unet", "model.pt"))
        with torch.no_grad():
            for (b, f, h, w) in ((1, 2, 8, 8), (2, 4, 8, 8), (3, 1, 4, 4), (1, 5, 5, 7), (2, 3, 12, 6)):
                args = unet_inputs(b, f, h, w, t=[981, 1, 500][:b])
                self.assertLess(maxdiff(s_unet(*args), self.unet(*args)), 1e-4, (b, f, h, w))
            s, t, c = unet_inputs(1, 2, 8, 8)
            self.assertLess(maxdiff(s_unet(s, torch.tensor(321.5), c), self.unet(s, torch.tensor([321.5]), c)), 1e-4)
            with self.assertRaisesRegex(Exception, "frames exceed"):
                s_unet(*unet_inputs(1, 33, 4, 4))

    def test_vae_round_trip(self):
        dec = torch.jit.load(os.path.join(self.dir, "vae", "decoder.pt"))
        enc = torch.jit.load(os.path.join(self.dir, "vae", "encoder.pt"))
        with torch.no_grad():
            for (n, h, w) in ((1, 4, 4), (3, 5, 6)):
                z = torch.randn(n, 4, h, w)
                img = dec(z)
                self.assertEqual(tuple(img.shape), (n, 3, 8 * h, 8 * w))
                self.assertLess(maxdiff(img, self.vae.decode(z)), 1e-4)
                x = torch.rand(n, 3, 8 * h, 8 * w) * 2 - 1
                self.assertLess(maxdiff(enc(x), self.vae.encode_mean(x)), 1e-4)
                mean, logvar = enc.moments(x)
                ref = self.vae.encode_moments(x)
                self.assertLess(maxdiff(mean, ref[:, :4]), 1e-4)
                self.assertLess(maxdiff(logvar, ref[:, 4:].clamp(-30, 20)), 1e-4)

    def test_text_encoder_round_trip(self):
        te = torch.jit.load(os.path.join(self.dir, "text_encoder", "model.pt"))
        ids = torch.randint(0, 49408, (3, 77))
        with torch.no_grad():
            for skip in (0, 1, 2):
                self.assertLess(maxdiff(te(ids, skip), self.text(ids, skip)), 1e-4)
            self.assertLess(maxdiff(te(ids), self.text(ids, 0)), 1e-4)
            self.assertEqual(tuple(te(ids[:1]).shape), (1, 77, 32))

    def test_v1_diffusers_without_text_encoder(self):
        p = get_preset("tiny-v1", numerics="diffusers")
        unet = randomize_weights_(UNet3DConditionModel(p.unet), 5).eval()
        ref = copy.deepcopy(unet)
        d = os.path.join(self.tmp, "v1")
        m = export_model(unet, AutoencoderKL(p.vae), None, d)
        self.assertNotIn("text_encoder", m)
        self.assertEqual(m["numerics"], "diffusers")
        self.assertEqual(m["motion_module"], {"version": "v1", "max_frames": 24})
        self.assertFalse(os.path.exists(os.path.join(d, "text_encoder")))
        s_unet = torch.jit.load(os.path.join(d, "unet", "model.pt"))
        with torch.no_grad():
            args = unet_inputs(2, 5, 6, 6)
            self.assertLess(maxdiff(s_unet(*args), ref(*args)), 1e-4)

    def test_bfloat16_export(self):
        """Half-precision path on CPU (float16 convolutions do not exist on CPU in torch 1.13)."""
        d = os.path.join(self.tmp, "bf16")
        export_model(copy.deepcopy(self.unet), copy.deepcopy(self.vae), copy.deepcopy(self.text), d, dtype=torch.bfloat16)
        self.assertEqual(read_manifest(d)["dtype"], "bfloat16")
        s_unet = torch.jit.load(os.path.join(d, "unet", "model.pt"))
        dec = torch.jit.load(os.path.join(d, "vae", "decoder.pt"))
        te = torch.jit.load(os.path.join(d, "text_encoder", "model.pt"))
        unet_bf = copy.deepcopy(self.unet).to(torch.bfloat16)
        vae_bf = copy.deepcopy(self.vae).to(torch.bfloat16)
        with torch.no_grad():
            s, t, c = unet_inputs(2, 3, 6, 6)
            out32 = s_unet(s, t, c)  # float32 in -> float32 out, computed in bfloat16
            self.assertEqual(out32.dtype, torch.float32)
            out16 = s_unet(s.bfloat16(), t, c.bfloat16())
            self.assertEqual(out16.dtype, torch.bfloat16)
            # the file computes exactly what the eager model does in bfloat16 ...
            self.assertLess(maxdiff(out16, unet_bf(s.bfloat16(), t, c.bfloat16())), 1e-6)
            self.assertLess(maxdiff(out32, out16), 1e-6)
            # ... which is near float32 (random weights amplify bf16 rounding: ~8% here)
            ref = self.unet(s, t, c)
            self.assertLess(maxdiff(out32, ref) / float(ref.abs().max()), 0.2)
            z = torch.randn(2, 4, 4, 4)
            self.assertLess(maxdiff(dec(z.bfloat16()), vae_bf.decode(z.bfloat16())), 1e-6)
            img_ref = self.vae.decode(z)
            self.assertLess(maxdiff(dec(z), img_ref) / float(img_ref.abs().max()), 0.35)  # ~18% for this random VAE
            ids = torch.randint(0, 49408, (1, 77))
            self.assertEqual(te(ids).dtype, torch.bfloat16)

    def test_freeze_option(self):
        dec = script(VAEDecoderModule(copy.deepcopy(self.vae)), freeze=True)
        enc = script(VAEEncoderModule(copy.deepcopy(self.vae)), freeze=True, preserved_attrs=("moments",))
        z = torch.randn(2, 4, 3, 5)
        with torch.no_grad():
            self.assertLess(maxdiff(dec(z), self.vae.decode(z)), 1e-4)
            x = torch.rand(1, 3, 16, 24)
            self.assertLess(maxdiff(enc.moments(x)[0], self.vae.encode_mean(x)), 1e-4)

    def test_export_random_model_cli_reference(self):
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import export_random_model

        d = os.path.join(self.tmp, "cli-v3")
        rc = export_random_model.main(["--preset", "tiny-v3", "--seed", "0", "--out", d, "--quiet"])
        self.assertEqual(rc, 0)
        m = read_manifest(d)
        self.assertEqual(m["motion_module"]["version"], "v3")
        self.assertEqual(m["random_init"], {"preset": "tiny-v3", "seed": 0})
        with open(os.path.join(d, "reference.json")) as f:
            ref = json.load(f)
        self.assertEqual(ref["dtype"], "float32")
        names = [c["name"] for c in ref["cases"]]
        self.assertIn("unet_b2_f4_8x8", names)
        self.assertIn("text_encoder_clip_skip_1", names)
        mods = {}
        with torch.no_grad():
            for case in ref["cases"]:
                mod = mods.setdefault(case["file"], torch.jit.load(os.path.join(d, case["file"])))
                args = [tensor_from_json(a) if "data" in a else a["int"] for a in case["args"]]
                out = mod(*args)
                expect = tensor_from_json(case["output"])
                self.assertEqual(list(out.shape), case["output"]["shape"])
                self.assertLess(maxdiff(out, expect), 1e-5, case["name"])
        # same preset + seed -> same weights
        _, unet2, _, _ = export_random_model.build_random_models("tiny-v3", 0)
        s_unet = torch.jit.load(os.path.join(d, "unet", "model.pt"))
        for k, v in unet2.state_dict().items():
            self.assertTrue(torch.equal(v, s_unet.state_dict()[k]), k)


if __name__ == "__main__":
    unittest.main()
