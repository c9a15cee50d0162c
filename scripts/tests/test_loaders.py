"""Tests of the weight loaders (safetensors I/O, weights-only pickles, strict loading, LDM single
files, diffusers folders, AnimateDiff motion modules, MotionAdapters, LoRAs) and of
``export_animatediff.py``.

Every source checkpoint is built here, tiny and random, WITH THE REAL KEY NAMES of its format.
The LDM and VAE layouts are enumerated independently of ``convert_ldm``'s tables (following the
original ``openaimodel.py`` / ``autoencoder.py`` construction order), together with the diffusers
name each tensor must end up at, so a wrong mapping cannot pass as a consistent round trip.

Run: cd scripts && /usr/bin/python3 -m unittest discover -s tests -p 'test_loaders.py' -v
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
if SCRIPTS not in sys.path:
    sys.path.insert(0, SCRIPTS)

from animatorch_export import safetensors_io as st  # noqa: E402
from animatorch_export.mapped_weights import load_module  # noqa: E402
from animatorch_export import weights as W  # noqa: E402
from animatorch_export import convert_ldm as CL  # noqa: E402
from animatorch_export import convert_diffusers as CD  # noqa: E402
from animatorch_export import motion_checkpoint as MC  # noqa: E402
from animatorch_export import lora as LO  # noqa: E402
from animatorch_export.configs import CLIPTextConfig, UNet3DConfig, VAEConfig  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402
from animatorch_export.vae import AutoencoderKL  # noqa: E402
from animatorch_export.clip_text import CLIPTextModel  # noqa: E402

torch.manual_seed(0)


# ---------------------------------------------------------------------------------------------
# helpers


def meta_shapes(module) -> "OrderedDict[str, tuple]":
    return OrderedDict((k, tuple(v.shape)) for k, v in module.state_dict().items())


def unet_shapes(cfg: UNet3DConfig):
    """(SD-part shapes, motion shapes) of our UNet for cfg."""
    shapes = meta_shapes(UNet3DConditionModel(cfg, device="meta"))
    sd = OrderedDict((k, s) for k, s in shapes.items() if ".motion_modules." not in k)
    mm = OrderedDict((k, s) for k, s in shapes.items() if ".motion_modules." in k)
    return sd, mm


def randn(shape, gen):
    return torch.randn(shape, generator=gen) if len(shape) else torch.randn((), generator=gen)


def random_sd(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return OrderedDict((k, randn(s, g)) for k, s in shapes.items())


def assert_same_tensors(tc, got, want, msg=""):
    tc.assertEqual(sorted(got), sorted(want), msg)
    for k in want:
        tc.assertEqual(tuple(got[k].shape), tuple(want[k].shape), f"{msg} {k}")
        tc.assertTrue(torch.equal(got[k], want[k]), f"{msg} {k} differs")


def layout_writers(rows):
    """lin / conv / norm: append a layer's (ldm key, diffusers key, shape) rows (weight, then bias) to rows."""

    def lin(lk, dk, o, i, bias=True):
        rows.append((lk + ".weight", dk + ".weight", (o, i)))
        if bias:
            rows.append((lk + ".bias", dk + ".bias", (o,)))

    def conv(lk, dk, o, i, k):
        rows.append((lk + ".weight", dk + ".weight", (o, i, k, k)))
        rows.append((lk + ".bias", dk + ".bias", (o,)))

    def norm(lk, dk, c):
        rows.append((lk + ".weight", dk + ".weight", (c,)))
        rows.append((lk + ".bias", dk + ".bias", (c,)))

    return lin, conv, norm


# -- LDM UNet layout, enumerated as ldm/modules/diffusionmodules/openaimodel.py builds it ------


def ldm_unet_layout(cfg: UNet3DConfig):
    """[(ldm key, diffusers key, shape)] of an LDM UNetModel matching cfg's SD part."""
    rows = []
    boc = list(cfg.block_out_channels)
    mc = boc[0]
    temb = mc * 4
    ctx = cfg.cross_attention_dim
    n = len(boc)
    lpb = cfg.layers_per_block
    lin, conv, norm = layout_writers(rows)

    def resblock(lp, dp, cin, cout):
        norm(lp + ".in_layers.0", dp + ".norm1", cin)
        conv(lp + ".in_layers.2", dp + ".conv1", cout, cin, 3)
        lin(lp + ".emb_layers.1", dp + ".time_emb_proj", cout, temb)
        norm(lp + ".out_layers.0", dp + ".norm2", cout)
        conv(lp + ".out_layers.3", dp + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(lp + ".skip_connection", dp + ".conv_shortcut", cout, cin, 1)

    def spatial(lp, dp, c):
        norm(lp + ".norm", dp + ".norm", c)
        conv(lp + ".proj_in", dp + ".proj_in", c, c, 1)
        tb, tbd = lp + ".transformer_blocks.0", dp + ".transformer_blocks.0"
        for a, kv in (("attn1", c), ("attn2", ctx)):
            lin(f"{tb}.{a}.to_q", f"{tbd}.{a}.to_q", c, c, bias=False)
            lin(f"{tb}.{a}.to_k", f"{tbd}.{a}.to_k", c, kv, bias=False)
            lin(f"{tb}.{a}.to_v", f"{tbd}.{a}.to_v", c, kv, bias=False)
            lin(f"{tb}.{a}.to_out.0", f"{tbd}.{a}.to_out.0", c, c)
        lin(f"{tb}.ff.net.0.proj", f"{tbd}.ff.net.0.proj", 8 * c, c)
        lin(f"{tb}.ff.net.2", f"{tbd}.ff.net.2", c, 4 * c)
        for i in (1, 2, 3):
            norm(f"{tb}.norm{i}", f"{tbd}.norm{i}", c)
        conv(lp + ".proj_out", dp + ".proj_out", c, c, 1)

    lin("time_embed.0", "time_embedding.linear_1", temb, mc)
    lin("time_embed.2", "time_embedding.linear_2", temb, temb)
    conv("input_blocks.0.0", "conv_in", mc, cfg.in_channels, 3)
    chans = [mc]
    ch = mc
    k = 1
    for level in range(n):
        attn = "CrossAttn" in cfg.down_block_types[level]
        for j in range(lpb):
            out = boc[level]
            resblock(f"input_blocks.{k}.0", f"down_blocks.{level}.resnets.{j}", ch, out)
            ch = out
            if attn:
                spatial(f"input_blocks.{k}.1", f"down_blocks.{level}.attentions.{j}", ch)
            chans.append(ch)
            k += 1
        if level != n - 1:
            conv(f"input_blocks.{k}.0.op", f"down_blocks.{level}.downsamplers.0.conv", ch, ch, 3)
            chans.append(ch)
            k += 1
    resblock("middle_block.0", "mid_block.resnets.0", ch, ch)
    spatial("middle_block.1", "mid_block.attentions.0", ch)
    resblock("middle_block.2", "mid_block.resnets.1", ch, ch)
    k = 0
    for u, level in enumerate(reversed(range(n))):
        attn = "CrossAttn" in cfg.up_block_types[u]
        for j in range(lpb + 1):
            ich = chans.pop()
            out = boc[level]
            resblock(f"output_blocks.{k}.0", f"up_blocks.{u}.resnets.{j}", ch + ich, out)
            ch = out
            sub = 1
            if attn:
                spatial(f"output_blocks.{k}.1", f"up_blocks.{u}.attentions.{j}", ch)
                sub = 2
            if level and j == lpb:
                conv(f"output_blocks.{k}.{sub}.conv", f"up_blocks.{u}.upsamplers.0.conv", ch, ch, 3)
            k += 1
    norm("out.0", "conv_norm_out", ch)
    conv("out.2", "conv_out", cfg.out_channels, mc, 3)
    return rows


def ldm_vae_layout(cfg: VAEConfig):
    """[(ldm key, diffusers key, shape)] of ldm's AutoencoderKL (Encoder/Decoder) for cfg."""
    rows = []
    boc = list(cfg.block_out_channels)
    n = len(boc)
    lpb = cfg.layers_per_block
    z = cfg.latent_channels
    _, conv, norm = layout_writers(rows)

    def res(lp, dp, cin, cout):
        norm(lp + ".norm1", dp + ".norm1", cin)
        conv(lp + ".conv1", dp + ".conv1", cout, cin, 3)
        norm(lp + ".norm2", dp + ".norm2", cout)
        conv(lp + ".conv2", dp + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(lp + ".nin_shortcut", dp + ".conv_shortcut", cout, cin, 1)

    def attn(lp, dp, c):
        norm(lp + ".norm", dp + ".group_norm", c)
        for a, b in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")):
            rows.append((f"{lp}.{a}.weight", f"{dp}.{b}.weight", (c, c, 1, 1)))
            rows.append((f"{lp}.{a}.bias", f"{dp}.{b}.bias", (c,)))

    conv("encoder.conv_in", "encoder.conv_in", boc[0], cfg.in_channels, 3)
    ch = boc[0]
    for i in range(n):
        for j in range(lpb):
            res(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}", ch, boc[i])
            ch = boc[i]
        if i != n - 1:
            conv(f"encoder.down.{i}.downsample.conv", f"encoder.down_blocks.{i}.downsamplers.0.conv", ch, ch, 3)
    for part in ("encoder", "decoder"):
        c = boc[-1]
        res(f"{part}.mid.block_1", f"{part}.mid_block.resnets.0", c, c)
        attn(f"{part}.mid.attn_1", f"{part}.mid_block.attentions.0", c)
        res(f"{part}.mid.block_2", f"{part}.mid_block.resnets.1", c, c)
    norm("encoder.norm_out", "encoder.conv_norm_out", boc[-1])
    conv("encoder.conv_out", "encoder.conv_out", 2 * z, boc[-1], 3)
    conv("decoder.conv_in", "decoder.conv_in", boc[-1], z, 3)
    ch = boc[-1]
    for level in reversed(range(n)):
        u = n - 1 - level
        for j in range(lpb + 1):
            res(f"decoder.up.{level}.block.{j}", f"decoder.up_blocks.{u}.resnets.{j}", ch, boc[level])
            ch = boc[level]
        if level != 0:
            conv(f"decoder.up.{level}.upsample.conv", f"decoder.up_blocks.{u}.upsamplers.0.conv", ch, ch, 3)
    norm("decoder.norm_out", "decoder.conv_norm_out", boc[0])
    conv("decoder.conv_out", "decoder.conv_out", cfg.out_channels, boc[0], 3)
    conv("quant_conv", "quant_conv", 2 * z, 2 * z, 1)
    conv("post_quant_conv", "post_quant_conv", z, z, 1)
    return rows


def tiny_cfgs(version="v2"):
    return UNet3DConfig.tiny(version), VAEConfig.tiny(), CLIPTextConfig.tiny(vocab_size=1000)


def diffusers_unet_config(cfg: UNet3DConfig, motion=False):
    down = [t.replace("3D", "Motion" if motion else "2D") for t in cfg.down_block_types]
    up = [t.replace("3D", "Motion" if motion else "2D") for t in cfg.up_block_types]
    d = {
        "_class_name": "UNetMotionModel" if motion else "UNet2DConditionModel",
        "_diffusers_version": "0.30.0",
        "act_fn": "silu",
        "block_out_channels": list(cfg.block_out_channels),
        "center_input_sample": False,
        "cross_attention_dim": cfg.cross_attention_dim,
        "down_block_types": down,
        "up_block_types": up,
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "layers_per_block": cfg.layers_per_block,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": cfg.norm_num_groups,
        "sample_size": cfg.sample_size,
        "use_linear_projection": False,
    }
    if motion:
        d.update(num_attention_heads=cfg.attention_head_dim, motion_max_seq_length=cfg.motion_max_seq_length,
                 use_motion_mid_block=cfg.motion_module_mid_block)
    else:
        d["attention_head_dim"] = cfg.attention_head_dim
    return d


def diffusers_vae_config(cfg: VAEConfig):
    n = len(cfg.block_out_channels)
    return {
        "_class_name": "AutoencoderKL",
        "act_fn": "silu",
        "block_out_channels": list(cfg.block_out_channels),
        "down_block_types": ["DownEncoderBlock2D"] * n,
        "up_block_types": ["UpDecoderBlock2D"] * n,
        "in_channels": cfg.in_channels,
        "out_channels": cfg.out_channels,
        "latent_channels": cfg.latent_channels,
        "layers_per_block": cfg.layers_per_block,
        "norm_num_groups": cfg.norm_num_groups,
        "sample_size": cfg.sample_size,
        "scaling_factor": 0.18215,
    }


def diffusers_text_config(cfg: CLIPTextConfig):
    return {
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "hidden_act": cfg.hidden_act,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "max_position_embeddings": cfg.max_position_embeddings,
        "layer_norm_eps": cfg.layer_norm_eps,
        "vocab_size": cfg.vocab_size,
        "projection_dim": cfg.hidden_size,
    }


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def sinusoid_pe(length, c):
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, c, 2, dtype=torch.float32) * (-torch.log(torch.tensor(10000.0)) / c))
    pe = torch.zeros(1, length, c)
    pe[0, :, 0::2] = torch.sin(pos * div)
    pe[0, :, 1::2] = torch.cos(pos * div)
    return pe


def original_motion_file_dict(motion_sd, pe_len):
    """Our motion state dict + the two pos_encoder.pe tables per module (original file layout)."""
    out = OrderedDict()
    for k, v in motion_sd.items():
        out[k] = v
        if k.endswith("temporal_transformer.norm.weight"):
            prefix = k[: -len("norm.weight")]
            c = v.shape[0]
            for a in (0, 1):
                out[f"{prefix}transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"] = sinusoid_pe(pe_len, c)
    return out


def motion_prefixes(motion_sd):
    return sorted({k.split(".temporal_transformer.")[0] + "." for k in motion_sd})


def make_ldm(ucfg, vcfg, tcfg, seed=0):
    """An LDM single-file dict (+ the expected UNet/VAE/CLIP state dicts in our names)."""
    g = torch.Generator().manual_seed(seed)
    ckpt = OrderedDict()
    expect_unet, expect_vae, expect_text = OrderedDict(), OrderedDict(), OrderedDict()
    for lk, dk, shape in ldm_unet_layout(ucfg):
        t = torch.randn(shape, generator=g)
        ckpt[CL.UNET_PREFIX + lk] = t
        expect_unet[dk] = t
    for lk, dk, shape in ldm_vae_layout(vcfg):
        t = torch.randn(shape, generator=g)
        ckpt[CL.VAE_PREFIX + lk] = t
        expect_vae[dk] = t.reshape(shape[:2]) if ".mid_block.attentions.0.to_" in dk and dk.endswith("weight") else t
    for k, shape in meta_shapes(CLIPTextModel(tcfg, device="meta")).items():
        t = torch.randn(shape, generator=g)
        ckpt[CL.CLIP_PREFIX + k] = t
        expect_text[k] = t
    ckpt[CL.CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(77)[None]
    # non-weight entries of real SD files
    ckpt["alphas_cumprod"] = torch.rand(1000)
    ckpt["model_ema.decay"] = torch.tensor(0.9999)
    ckpt["model_ema.num_updates"] = torch.tensor(0)
    return ckpt, expect_unet, expect_vae, expect_text


def make_pipeline(root, ucfg, vcfg, tcfg, old_vae_names=False, flat_clip=False, motion=None, bin_vae=False):
    """A diffusers pipeline folder; returns the UNet (SD part), VAE and CLIP state dicts in our names."""
    sd_shapes, mm_shapes = unet_shapes(ucfg)
    unet = random_sd(sd_shapes, 1)
    vae = random_sd(meta_shapes(AutoencoderKL(vcfg, device="meta")), 2)
    text = random_sd(meta_shapes(CLIPTextModel(tcfg, device="meta")), 3)
    write_json(os.path.join(root, "model_index.json"), {"_class_name": "StableDiffusionPipeline"})
    write_json(os.path.join(root, "unet", "config.json"), diffusers_unet_config(ucfg, motion=motion is not None))
    unet_file = OrderedDict(unet)
    if motion is not None:
        pe = {p: sinusoid_pe(ucfg.motion_max_seq_length, motion[p + "temporal_transformer.norm.weight"].shape[0])
              for p in motion_prefixes(motion)}
        unet_file.update(CD.motion_ours_to_diffusers(motion, pe))
    st.save_file(unet_file, os.path.join(root, "unet", "diffusion_pytorch_model.safetensors"))
    write_json(os.path.join(root, "vae", "config.json"), diffusers_vae_config(vcfg))
    vae_file = OrderedDict()
    for k, v in vae.items():
        if old_vae_names and ".attentions.0." in k:
            k2 = (k.replace(".to_q.", ".query.").replace(".to_k.", ".key.").replace(".to_v.", ".value.")
                  .replace(".to_out.0.", ".proj_attn."))
            vae_file[k2] = v.reshape(*v.shape, 1, 1) if k.endswith("weight") and v.dim() == 2 else v
        else:
            vae_file[k] = v
    if bin_vae:
        torch.save(vae_file, os.path.join(root, "vae", "diffusion_pytorch_model.bin"))
    else:
        st.save_file(vae_file, os.path.join(root, "vae", "diffusion_pytorch_model.safetensors"))
    write_json(os.path.join(root, "text_encoder", "config.json"), diffusers_text_config(tcfg))
    text_file = OrderedDict(
        (k[len("text_model."):] if flat_clip else k, v) for k, v in text.items()
    )
    text_file[("" if flat_clip else "text_model.") + "embeddings.position_ids"] = torch.arange(77)[None]
    st.save_file(text_file, os.path.join(root, "text_encoder", "model.safetensors"))
    return unet, vae, text


# ---------------------------------------------------------------------------------------------


class TmpDirCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="animatorch-loaders-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def p(self, *names):
        return os.path.join(self.tmp, *names)


class SafetensorsTests(TmpDirCase):
    def sample(self):
        g = torch.Generator().manual_seed(1)
        return OrderedDict(
            [
                ("f64", torch.randn(3, 2, generator=g, dtype=torch.float64)),
                ("f32", torch.randn(2, 3, 4, generator=g)),
                ("f16", torch.randn(5, generator=g).half()),
                ("bf16", torch.randn(4, 3, generator=g).to(torch.bfloat16)),
                ("i64", torch.tensor([1, -2, 2 ** 40], dtype=torch.int64)),
                ("i32", torch.tensor([[7, -8]], dtype=torch.int32)),
                ("i16", torch.tensor([300, -300], dtype=torch.int16)),
                ("i8", torch.tensor([-5, 5], dtype=torch.int8)),
                ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
                ("bool", torch.tensor([True, False, True])),
                ("scalar", torch.tensor(3.5)),
                ("empty", torch.zeros(0, 4)),
                ("noncontig", torch.arange(12.0).reshape(3, 4).t()),
            ]
        )

    def test_round_trip_all_dtypes(self):
        src = self.sample()
        path = self.p("a.safetensors")
        st.save_file(src, path, metadata={"format": "pt", "note": "x"})
        got, meta = st.load_file(path, with_metadata=True)
        self.assertEqual(meta, {"format": "pt", "note": "x"})
        self.assertEqual(list(got), sorted(src))
        for k, v in src.items():
            self.assertEqual(got[k].dtype, v.dtype, k)
            self.assertEqual(tuple(got[k].shape), tuple(v.shape), k)
            self.assertTrue(torch.equal(got[k], v), k)
        # tensors are writable and changes do not reach the file
        got["f32"].mul_(0)
        again = st.load_file(path)
        self.assertTrue(torch.equal(again["f32"], src["f32"]))
        hdr, _ = st.read_header(path)
        self.assertEqual(hdr["bf16"]["dtype"], "BF16")
        self.assertEqual(hdr["scalar"]["shape"], [])
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
        self.assertEqual(n % 8, 0)

    def test_bytes_match_reference_layout(self):
        """A hand-built file in the reference layout reads back (independent of our writer)."""
        data = struct.pack("<2f", 1.5, -2.0) + struct.pack("<h", 0x3F80)  # bf16 1.0
        header = {
            "b": {"dtype": "BF16", "shape": [1], "data_offsets": [8, 10]},
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "__metadata__": {"format": "pt"},
        }
        hb = json.dumps(header).encode()
        path = self.p("ref.safetensors")
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + data)
        got = st.load_file(path)
        self.assertEqual(got["a"].tolist(), [1.5, -2.0])
        self.assertEqual(got["b"].dtype, torch.bfloat16)
        self.assertEqual(got["b"].float().tolist(), [1.0])

    def write_raw(self, name, header, data=b"", length=None, pad=True):
        hb = json.dumps(header).encode() if isinstance(header, dict) else header
        path = self.p(name)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hb) if length is None else length) + hb + data)
        return path

    def assertCorrupt(self, path, *words):
        with self.assertRaises(ValueError) as cm:
            st.load_file(path)
        msg = str(cm.exception)
        self.assertIn(os.path.basename(path), msg)
        for w in words:
            self.assertIn(w, msg)
        # weights.load_state_dict wraps it into a WeightsError (also a ValueError) with the same text
        with self.assertRaises(W.WeightsError):
            W.load_state_dict(path)

    def test_truncated(self):
        path = self.p("t.safetensors")
        st.save_file({"x": torch.randn(64)}, path)
        with open(path, "rb") as f:
            blob = f.read()
        with open(path, "wb") as f:
            f.write(blob[:-10])
        self.assertCorrupt(path, "truncated")
        with open(path, "wb") as f:
            f.write(blob[:5])
        self.assertCorrupt(path, "8-byte")

    def test_bad_header_length(self):
        self.assertCorrupt(self.write_raw("h1.safetensors", b"{}", length=2 ** 40), "header length")
        self.assertCorrupt(self.write_raw("h2.safetensors", b'{"a":1}', length=500), "header length", "past the end")
        self.assertCorrupt(self.write_raw("h3.safetensors", b"", length=0), "header length")

    def test_bad_json(self):
        self.assertCorrupt(self.write_raw("j1.safetensors", b'{"a": [1,'), "JSON")
        self.assertCorrupt(self.write_raw("j2.safetensors", b"PK\x03\x04junk"), "'{'")

    def test_overlapping_offsets(self):
        h = {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        }
        self.assertCorrupt(self.write_raw("o.safetensors", h, bytes(12)), "overlaps")

    def test_hole_and_leftover(self):
        h = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
        self.assertCorrupt(self.write_raw("hole.safetensors", h, bytes(8)), "belong to no tensor")
        h = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
        self.assertCorrupt(self.write_raw("left.safetensors", h, bytes(8)), "cover 4")

    def test_offsets_outside_buffer(self):
        h = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
        self.assertCorrupt(self.write_raw("out.safetensors", h, bytes(8)), "past the data buffer")

    def test_size_mismatch(self):
        h = {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
        self.assertCorrupt(self.write_raw("sz.safetensors", h, bytes(8)), "needs 12 bytes")

    def test_unknown_and_f8_dtype(self):
        h = {"a": {"dtype": "F12", "shape": [1], "data_offsets": [0, 2]}}
        self.assertCorrupt(self.write_raw("u.safetensors", h, bytes(2)), "unknown dtype", "'F12'")
        h = {"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}
        self.assertCorrupt(self.write_raw("f8.safetensors", h, bytes(2)), "F8_E4M3", "not supported")

    def test_duplicate_names_and_bad_shape(self):
        hb = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
        self.assertCorrupt(self.write_raw("dup.safetensors", hb, bytes(2)), "twice")
        h = {"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}
        self.assertCorrupt(self.write_raw("neg.safetensors", h, bytes(1)), "shape")


class _Evil:
    marker = ""

    def __reduce__(self):
        return (open, (_Evil.marker, "w"))


class WeightsTests(TmpDirCase):
    def test_ckpt_unwraps_state_dict_and_drops_non_tensors(self):
        sd = OrderedDict(a=torch.randn(2, 3), b=torch.nn.Parameter(torch.randn(4)))
        for ext in (".ckpt", ".pt", ".pth", ".bin"):
            path = self.p("m" + ext)
            torch.save({"state_dict": sd, "global_step": 7, "epoch": 1}, path)
            got = W.load_state_dict(path)
            self.assertEqual(list(got), ["a", "b"])
            self.assertFalse(got["b"].requires_grad)
            self.assertTrue(torch.equal(got["a"], sd["a"]))
        path = self.p("flat.ckpt")
        torch.save({"x": torch.ones(2), "animatediff_config": {"rank": 4, "name": "lora", "ok": True}}, path)
        self.assertEqual(list(W.load_state_dict(path)), ["x"])
        # plain floats: torch 1.13's weights-only reader lacks BINFLOAT -> a clear refusal; 2.x loads it
        path = self.p("floats.ckpt")
        torch.save({"x": torch.ones(2), "animatediff_config": {"alpha": 1.0}}, path)
        if int(torch.__version__.split(".")[0]) >= 2:
            self.assertEqual(list(W.load_state_dict(path)), ["x"])
        else:
            with self.assertRaises(W.WeightsError) as cm:
                W.load_state_dict(path)
            self.assertIn("BINFLOAT", str(cm.exception))
            self.assertIn("floats.ckpt", str(cm.exception))
        path = self.p("legacy.pt")
        torch.save({"x": torch.ones(2, dtype=torch.bfloat16)}, path, _use_new_zipfile_serialization=False)
        self.assertEqual(W.load_state_dict(path)["x"].dtype, torch.bfloat16)

    def test_pickle_with_custom_class_is_refused_and_not_executed(self):
        marker = self.p("EXECUTED")
        _Evil.marker = marker
        path = self.p("evil.ckpt")
        torch.save({"state_dict": {"w": torch.ones(1)}, "payload": _Evil()}, path)
        self.assertFalse(os.path.exists(marker))
        with self.assertRaises(W.WeightsError) as cm:
            W.load_state_dict(path)
        msg = str(cm.exception)
        self.assertIn("evil.ckpt", msg)
        self.assertIn("pickled code/objects", msg)
        self.assertIn("not loaded", msg)
        self.assertFalse(os.path.exists(marker), "pickled code was executed")

    def test_garbage_and_unknown_extension(self):
        path = self.p("junk.ckpt")
        with open(path, "wb") as f:
            f.write(b"this is not a checkpoint at all")
        with self.assertRaises(W.WeightsError) as cm:
            W.load_state_dict(path)
        self.assertIn("junk.ckpt", str(cm.exception))
        path = self.p("w.onnx")
        open(path, "wb").close()
        with self.assertRaises(W.WeightsError) as cm:
            W.load_state_dict(path)
        self.assertIn(".onnx", str(cm.exception))
        with self.assertRaises(FileNotFoundError):
            W.load_state_dict(self.p("nope.safetensors"))
        path = self.p("list.pt")
        torch.save([torch.ones(1)], path)
        with self.assertRaises(W.WeightsError):
            W.load_state_dict(path)

    def test_load_into_lists_problems(self):
        m = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(15)])
        good = OrderedDict((k, torch.randn(v.shape)) for k, v in m.state_dict().items())
        W.load_into(m, good, "seq")
        self.assertTrue(torch.equal(m[0].weight, good["0.weight"]))
        bad = OrderedDict(good)
        for i in range(12):
            del bad[f"{i}.weight"]
        bad["extra.weight"] = torch.ones(1)
        bad["14.bias"] = torch.ones(5)
        with self.assertRaises(W.WeightsError) as cm:
            W.load_into(m, bad, "seq")
        msg = str(cm.exception)
        self.assertIn("seq", msg)
        self.assertIn("missing keys (12: 0.weight, 1.weight", msg)
        self.assertIn("unexpected keys (1: extra.weight)", msg)
        self.assertIn("14.bias: file (5,) vs model (3,)", msg)
        many = OrderedDict((f"x{i}", torch.ones(1)) for i in range(30))
        with self.assertRaises(W.WeightsError) as cm:
            W.load_into(m, {**good, **many}, "seq")
        self.assertIn("unexpected keys (30:", str(cm.exception))
        self.assertIn("(10 more)", str(cm.exception))

    def test_load_into_reconciles_1x1_conv_and_linear(self):
        m = torch.nn.Conv2d(4, 5, 1)
        W.load_into(m, {"weight": torch.randn(5, 4), "bias": torch.randn(5)}, "conv")
        self.assertEqual(tuple(m.weight.shape), (5, 4, 1, 1))


class LDMTests(TmpDirCase):
    def test_tiny_single_file_round_trip(self):
        ucfg, vcfg, tcfg = tiny_cfgs("v2")
        ckpt, eu, ev, et = make_ldm(ucfg, vcfg, tcfg)
        path = self.p("model.safetensors")
        st.save_file(ckpt, path)
        sd = W.load_state_dict(path)
        res = CL.convert_ldm_checkpoint(sd, path=path)
        assert_same_tensors(self, res["unet"], eu, "unet")
        assert_same_tensors(self, res["vae"], ev, "vae")
        assert_same_tensors(self, res["text_encoder"], et, "text")
        # inferred configs
        uc = res["unet_config"]
        self.assertEqual(list(uc["block_out_channels"]), list(ucfg.block_out_channels))
        self.assertEqual(uc["layers_per_block"], ucfg.layers_per_block)
        self.assertEqual([t.replace("2D", "3D") for t in uc["down_block_types"]], list(ucfg.down_block_types))
        self.assertEqual([t.replace("2D", "3D") for t in uc["up_block_types"]], list(ucfg.up_block_types))
        self.assertEqual(uc["cross_attention_dim"], ucfg.cross_attention_dim)
        vc = res["vae_config"]
        self.assertEqual(list(vc["block_out_channels"]), list(vcfg.block_out_channels))
        self.assertEqual(vc["layers_per_block"], vcfg.layers_per_block)
        tc = res["text_config"]
        self.assertEqual(tc["num_hidden_layers"], tcfg.num_hidden_layers)
        self.assertEqual(tc["vocab_size"], tcfg.vocab_size)
        # strict loading into our modules
        unet = UNet3DConditionModel(ucfg.replace(use_motion_module=False))
        W.load_into(unet, res["unet"], "unet")
        W.load_into(AutoencoderKL(vcfg), res["vae"], "vae")
        W.load_into(CLIPTextModel(tcfg), res["text_encoder"], "text")
        # inverse tables reproduce the LDM names
        inv = CL.unet_ours_to_ldm(res["unet"], uc)
        self.assertEqual(sorted(inv), sorted(k[len(CL.UNET_PREFIX):] for k in ckpt if k.startswith(CL.UNET_PREFIX)))
        inv = CL.vae_ours_to_ldm(res["vae"], vc)
        for k, v in inv.items():
            self.assertTrue(torch.equal(v, ckpt[CL.VAE_PREFIX + k]), k)

    def test_two_layers_per_block_and_ckpt(self):
        ucfg = UNet3DConfig.tiny("v3", layers_per_block=2)
        vcfg = VAEConfig.tiny(layers_per_block=2, block_out_channels=(32, 64))
        tcfg = CLIPTextConfig.tiny(vocab_size=500)
        ckpt, eu, ev, et = make_ldm(ucfg, vcfg, tcfg, seed=3)
        path = self.p("model.ckpt")
        torch.save({"state_dict": ckpt, "global_step": 1}, path)
        res = CL.convert_ldm_checkpoint(W.load_state_dict(path), path=path)
        assert_same_tensors(self, res["unet"], eu, "unet")
        assert_same_tensors(self, res["vae"], ev, "vae")
        self.assertEqual(res["unet_config"]["layers_per_block"], 2)
        W.load_into(UNet3DConditionModel(ucfg.replace(use_motion_module=False), device="meta"), res["unet"], "unet")

    def test_sd15_names(self):
        """Full-size SD1.5 key names and shapes (meta tensors) -> exactly our SD1.5 modules."""
        ucfg = UNet3DConfig.sd15("v2")
        rows = ldm_unet_layout(ucfg)
        self.assertEqual(len(rows), 686)  # the real SD1.5 UNet has 686 tensors
        sd = OrderedDict((lk, torch.empty(s, device="meta")) for lk, _dk, s in rows)
        conv = CL.unet_ldm_to_ours(sd, CL.SD15_UNET_CONFIG)
        for lk, dk, _s in rows:
            self.assertIs(conv[dk], sd[lk])
        want, _mm = unet_shapes(ucfg)
        W.check_state_dict(want, conv, "sd15 unet")
        # well-known pairs (diffusers single_file_utils / facts sheet section 6)
        spot = {
            "input_blocks.3.0.op.weight": "down_blocks.0.downsamplers.0.conv.weight",
            "input_blocks.9.0.op.bias": "down_blocks.2.downsamplers.0.conv.bias",
            "input_blocks.11.0.out_layers.3.weight": "down_blocks.3.resnets.1.conv2.weight",
            "input_blocks.4.0.skip_connection.weight": "down_blocks.1.resnets.0.conv_shortcut.weight",
            "input_blocks.8.1.transformer_blocks.0.attn2.to_k.weight":
                "down_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight",
            "middle_block.1.proj_out.weight": "mid_block.attentions.0.proj_out.weight",
            "middle_block.2.emb_layers.1.weight": "mid_block.resnets.1.time_emb_proj.weight",
            "output_blocks.2.1.conv.weight": "up_blocks.0.upsamplers.0.conv.weight",
            "output_blocks.5.2.conv.weight": "up_blocks.1.upsamplers.0.conv.weight",
            "output_blocks.8.2.conv.bias": "up_blocks.2.upsamplers.0.conv.bias",
            "output_blocks.11.1.norm.weight": "up_blocks.3.attentions.2.norm.weight",
            "output_blocks.0.0.in_layers.0.weight": "up_blocks.0.resnets.0.norm1.weight",
            "time_embed.2.bias": "time_embedding.linear_2.bias",
            "out.0.weight": "conv_norm_out.weight",
            "out.2.weight": "conv_out.weight",
        }
        for lk, dk in spot.items():
            self.assertIs(conv[dk], sd[lk], lk)
        inferred = CL.infer_unet_config(sd)
        for k in ("block_out_channels", "layers_per_block", "down_block_types", "up_block_types", "cross_attention_dim"):
            self.assertEqual(inferred[k], CL.SD15_UNET_CONFIG[k], k)
        # VAE
        vcfg = VAEConfig.sd15()
        vrows = ldm_vae_layout(vcfg)
        self.assertEqual(len(vrows), 248)  # the real SD1.5 VAE has 248 tensors
        vsd = OrderedDict((lk, torch.empty(s, device="meta")) for lk, _dk, s in vrows)
        vconv = CL.vae_ldm_to_ours(vsd, CL.SD15_VAE_CONFIG)
        W.check_state_dict(meta_shapes(AutoencoderKL(vcfg, device="meta")), vconv, "sd15 vae")
        self.assertEqual(tuple(vconv["decoder.mid_block.attentions.0.to_out.0.weight"].shape), (512, 512))
        self.assertEqual(tuple(vconv["decoder.up_blocks.0.upsamplers.0.conv.weight"].shape), (512, 512, 3, 3))
        self.assertEqual(CL.infer_vae_config(vsd)["block_out_channels"], [128, 256, 512, 512])

    def test_errors(self):
        ucfg, vcfg, tcfg = tiny_cfgs()
        ckpt, *_ = make_ldm(ucfg, vcfg, tcfg)
        bad = OrderedDict(ckpt)
        bad[CL.UNET_PREFIX + "input_blocks.1.0.in_layers.7.weight"] = torch.ones(1)
        bad[CL.UNET_PREFIX + "label_emb.0.0.weight"] = torch.ones(1)
        with self.assertRaises(W.WeightsError) as cm:
            CL.convert_ldm_checkpoint(bad, path="bad.ckpt")
        self.assertIn("in_layers.7", str(cm.exception))
        self.assertIn("label_emb", str(cm.exception))
        only_unet = OrderedDict((k, v) for k, v in ckpt.items() if k.startswith(CL.UNET_PREFIX))
        with self.assertRaises(W.WeightsError) as cm:
            CL.convert_ldm_checkpoint(only_unet, path="unet_only.ckpt")
        self.assertIn("first_stage_model", str(cm.exception))
        with self.assertRaises(W.WeightsError) as cm:
            CL.split_ldm_checkpoint({"conditioner.embedders.0.transformer.x": torch.ones(1)}, "xl.safetensors")
        self.assertIn("SDXL", str(cm.exception))


class DiffusersTests(TmpDirCase):
    def test_pipeline_folder(self):
        ucfg, vcfg, tcfg = tiny_cfgs()
        root = self.p("sd")
        unet, vae, text = make_pipeline(root, ucfg, vcfg, tcfg)
        self.assertTrue(CD.is_diffusers_pipeline(root))
        res = CD.load_diffusers_pipeline(root)
        assert_same_tensors(self, res["unet"], unet, "unet")
        assert_same_tensors(self, res["vae"], vae, "vae")
        assert_same_tensors(self, res["text_encoder"], text, "text")
        self.assertNotIn("motion", res)
        # configs become our dataclasses
        u = UNet3DConfig.tiny("v2").replace(**res["unet_config"])
        self.assertEqual(u, ucfg)
        self.assertEqual(VAEConfig(**res["vae_config"]).validate(), vcfg)
        self.assertEqual(CLIPTextConfig(**res["text_config"]).validate(), tcfg)

    def test_old_vae_names_bin_and_flat_clip(self):
        ucfg, vcfg, tcfg = tiny_cfgs()
        root = self.p("old")
        unet, vae, text = make_pipeline(root, ucfg, vcfg, tcfg, old_vae_names=True, flat_clip=True, bin_vae=True)
        res = CD.load_diffusers_pipeline(root)
        assert_same_tensors(self, res["vae"], vae, "vae")
        assert_same_tensors(self, res["text_encoder"], text, "text")
        W.load_into(AutoencoderKL(vcfg, device="meta"), res["vae"], "vae")

    def test_unet_motion_model_folder(self):
        ucfg, vcfg, tcfg = tiny_cfgs("v2")
        _sd, mm_shapes = unet_shapes(ucfg)
        motion = random_sd(mm_shapes, 9)
        root = self.p("ad")
        unet, _v, _t = make_pipeline(root, ucfg, vcfg, tcfg, motion=motion)
        res = CD.load_diffusers_pipeline(root)
        assert_same_tensors(self, res["unet"], unet, "unet")
        assert_same_tensors(self, res["motion"], motion, "motion")
        self.assertEqual(set(res["motion_pe_lengths"].values()), {32})
        self.assertEqual(res["unet_config"]["down_block_types"], ucfg.down_block_types)

    def test_animatediff_pipeline_folder_with_motion_adapter(self):
        import export_animatediff as E

        ucfg, vcfg, tcfg = tiny_cfgs("v1")
        root = self.p("adpipe")
        make_pipeline(root, ucfg, vcfg, tcfg)
        _sd, mm = unet_shapes(ucfg)
        motion = random_sd(mm, 13)
        pe = {p: sinusoid_pe(24, motion[p + "temporal_transformer.norm.weight"].shape[0]) for p in motion_prefixes(motion)}
        write_json(os.path.join(root, "motion_adapter", "config.json"),
                   {"_class_name": "MotionAdapter", "motion_max_seq_length": 24, "use_motion_mid_block": False})
        st.save_file(CD.motion_ours_to_diffusers(motion, pe),
                     os.path.join(root, "motion_adapter", "diffusion_pytorch_model.safetensors"))
        base = E.load_base(root)
        assert_same_tensors(self, base["motion"], motion, "motion")
        mw = E.load_motion(None, base, None)
        self.assertEqual((mw.version, mw.pe_length, mw.has_mid_block), ("v1", 24, False))
        self.assertFalse(mw.config_overrides()["use_inflated_groupnorm"])

    def test_missing_parts(self):
        os.makedirs(self.p("half", "unet"))
        with self.assertRaises(W.WeightsError) as cm:
            CD.load_diffusers_pipeline(self.p("half"))
        self.assertIn("vae/", str(cm.exception))
        write_json(self.p("x", "config.json"), {"_class_name": "AutoencoderKL"})
        with self.assertRaises(W.WeightsError) as cm:
            CD.load_component(self.p("x"))
        self.assertIn("no weight file", str(cm.exception))


class MotionTests(TmpDirCase):
    def motion(self, version, seed=5):
        _sd, mm = unet_shapes(UNet3DConfig.tiny(version))
        return random_sd(mm, seed)

    def test_original_checkpoints_v1_v2_v3(self):
        for version, pe_len in (("v1", 24), ("v2", 32), ("v3", 32)):
            with self.subTest(version=version):
                motion = self.motion(version)
                self.assertEqual(any(k.startswith("mid_block.") for k in motion), version == "v2")
                file_sd = original_motion_file_dict(motion, pe_len)
                # .ckpt with a state_dict wrapper and animatediff_config; .safetensors flat
                ck = self.p(f"mm_{version}.ckpt")
                torch.save({"state_dict": file_sd, "animatediff_config": {"v": version}}, ck)
                sf = self.p(f"mm_{version}.safetensors")
                st.save_file(file_sd, sf)
                for path in (ck, sf):
                    mw = MC.load_motion_module(path)
                    self.assertEqual(mw.version, version)
                    self.assertEqual(mw.pe_length, pe_len)
                    self.assertEqual(mw.source, "animatediff")
                    assert_same_tensors(self, mw.state_dict, motion, path)
                    ov = mw.config_overrides()
                    self.assertEqual(ov["motion_module_mid_block"], version == "v2")
                    self.assertEqual(ov["use_inflated_groupnorm"], version != "v1")
                    cfg = UNet3DConfig.tiny(version).replace(**ov)
                    unet = UNet3DConditionModel(cfg, device="meta")
                    want = OrderedDict((k, s) for k, s in meta_shapes(unet).items() if ".motion_modules." in k)
                    W.check_state_dict(want, mw.state_dict, "motion")

    def test_ignored_and_unknown_keys_and_ambiguity(self):
        motion = self.motion("v3")
        extra = OrderedDict(motion)
        extra["conv_in.weight"] = torch.ones(1)
        mw = MC.convert_motion_state_dict(original_motion_file_dict(extra, 32), "x.ckpt")
        self.assertEqual(mw.ignored_keys, ["conv_in.weight"])
        bad = OrderedDict(motion)
        bad["down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.2.to_q.weight"] = torch.ones(1)
        with self.assertRaises(W.WeightsError) as cm:
            MC.convert_motion_state_dict(bad, "bad.ckpt")
        self.assertIn("attention_blocks.2", str(cm.exception))
        with self.assertRaises(W.WeightsError) as cm:
            MC.convert_motion_state_dict(motion, "nope.ckpt")  # no pe, no mid block
        self.assertIn("v1 from v3", str(cm.exception))
        self.assertEqual(MC.convert_motion_state_dict(motion, "x", version="v1").version, "v1")
        with self.assertRaises(W.WeightsError):
            MC.convert_motion_state_dict(motion, "x", version="v2")
        with self.assertRaises(W.WeightsError) as cm:
            MC.convert_motion_state_dict({"model.diffusion_model.x": torch.ones(1)}, "sd.ckpt")
        self.assertIn("--base", str(cm.exception))

    def test_motion_adapter_folder(self):
        for version, pe_len, mid in (("v1", 24, False), ("v2", 32, True), ("v3", 32, False)):
            with self.subTest(version=version):
                motion = self.motion(version, seed=11)
                pe = {p: sinusoid_pe(pe_len, motion[p + "temporal_transformer.norm.weight"].shape[0])
                      for p in motion_prefixes(motion)}
                adapter = CD.motion_ours_to_diffusers(motion, pe)
                self.assertIn("down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.weight", adapter)
                self.assertIn("down_blocks.0.motion_modules.0.transformer_blocks.0.norm3.weight", adapter)
                self.assertIn("down_blocks.0.motion_modules.0.proj_in.weight", adapter)
                folder = self.p(f"adapter_{version}")
                write_json(os.path.join(folder, "config.json"), {
                    "_class_name": "MotionAdapter", "block_out_channels": [32, 64],
                    "motion_layers_per_block": 1, "motion_max_seq_length": pe_len,
                    "use_motion_mid_block": mid, "motion_num_attention_heads": 8})
                st.save_file(adapter, os.path.join(folder, "diffusion_pytorch_model.safetensors"))
                mw = MC.load_motion_module(folder)
                self.assertEqual((mw.version, mw.pe_length, mw.source), (version, pe_len, "diffusers"))
                assert_same_tensors(self, mw.state_dict, motion, version)
                # the bare weight file works too
                mw2 = MC.load_motion_module(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
                assert_same_tensors(self, mw2.state_dict, motion, version)


def proc_lora(targets, rank, seed):
    """AnimateDiff processor-format LoRA for weight keys ``targets``."""
    g = torch.Generator().manual_seed(seed)
    out = OrderedDict()
    for key, shape in targets.items():
        module, proj = key[: -len(".weight")].rsplit(".", 1)
        if proj == "0":  # to_out.0
            module, proj = module.rsplit(".", 1)
        out[f"{module}.processor.{proj}_lora.down.weight"] = torch.randn(rank, shape[1], generator=g)
        out[f"{module}.processor.{proj}_lora.up.weight"] = torch.randn(shape[0], rank, generator=g)
    return out


class LoraTests(TmpDirCase):
    def test_motion_lora_and_adapter(self):
        cfg = UNet3DConfig.tiny("v2")
        shapes = meta_shapes(UNet3DConditionModel(cfg, device="meta"))
        base = random_sd(shapes, 4)
        mt = OrderedDict((k, s) for k, s in shapes.items()
                         if ".attention_blocks." in k and k.endswith("weight"))
        lora = proc_lora(mt, 2, 1)
        self.assertIn("down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0."
                      "processor.to_out_lora.up.weight", lora)
        path = self.p("v2_lora_ZoomIn.ckpt")
        torch.save({"state_dict": lora, "animatediff_config": {"name": "zoom-in"}}, path)
        loaded = LO.load_lora_file(path)
        self.assertEqual(LO.detect_lora_format(loaded), "processor")
        target = OrderedDict(base)
        merged = LO.merge_processor_lora(target, loaded, 0.7, "motion lora")
        self.assertEqual(sorted(merged), sorted(mt))
        for k in mt:
            module, proj = k[: -len(".weight")].rsplit(".", 1)
            if proj == "0":
                module, proj = module.rsplit(".", 1)
            up = lora[f"{module}.processor.{proj}_lora.up.weight"]
            down = lora[f"{module}.processor.{proj}_lora.down.weight"]
            self.assertTrue(torch.allclose(target[k], base[k] + 0.7 * up @ down, atol=1e-5), k)
        untouched = [k for k in base if k not in mt]
        for k in untouched:
            self.assertIs(target[k], base[k])
        # v3 domain adapter: spatial attn1/attn2 projections
        at = OrderedDict((k, s) for k, s in shapes.items()
                         if ".attentions." in k and (".attn1." in k or ".attn2." in k) and k.endswith("weight"))
        adapter = proc_lora(at, 3, 2)
        self.assertIn("down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight", adapter)
        t2 = OrderedDict(base)
        LO.merge_processor_lora(t2, adapter, 1.0, "adapter")
        k = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"
        up = adapter["mid_block.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.up.weight"]
        down = adapter["mid_block.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight"]
        self.assertTrue(torch.allclose(t2[k], base[k] + up @ down, atol=1e-5))
        # unknown targets are listed
        bad = OrderedDict(lora)
        bad["up_blocks.9.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora.down.weight"] = torch.ones(2, 32)
        bad["up_blocks.9.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora.up.weight"] = torch.ones(32, 2)
        with self.assertRaises(W.WeightsError) as cm:
            LO.merge_processor_lora(OrderedDict(base), bad, 1.0, "bad lora")
        self.assertIn("up_blocks.9.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q",
                      str(cm.exception))

    def test_kohya_lora(self):
        cfg = UNet3DConfig.tiny("v3")
        tcfg = CLIPTextConfig.tiny(vocab_size=100)
        unet = random_sd(meta_shapes(UNet3DConditionModel(cfg, device="meta")), 6)
        text = random_sd(meta_shapes(CLIPTextModel(tcfg, device="meta")), 7)
        g = torch.Generator().manual_seed(3)
        lora = OrderedDict()
        expected = {}

        def add(name, comp, key, conv=False, rank=4):
            w = (unet if comp == "unet" else text)[key]
            if conv:
                down = torch.randn(rank, *w.shape[1:], generator=g)
                up = torch.randn(w.shape[0], rank, 1, 1, generator=g)
                delta = (up.reshape(w.shape[0], rank) @ down.reshape(rank, -1)).reshape(w.shape)
            else:
                down = torch.randn(rank, w.shape[1], generator=g)
                up = torch.randn(w.shape[0], rank, generator=g)
                delta = up @ down
            lora[name + ".lora_down.weight"] = down
            lora[name + ".lora_up.weight"] = up
            lora[name + ".alpha"] = torch.tensor(1.0)  # ignored, as in AnimateDiff
            expected[(comp, key)] = delta

        add("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", "unet",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight")
        add("lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_out_0", "unet",
            "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0.weight")
        add("lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj", "unet",
            "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj.weight")
        add("lora_unet_down_blocks_0_attentions_0_proj_in", "unet", "down_blocks.0.attentions.0.proj_in.weight", conv=True)
        add("lora_unet_down_blocks_1_resnets_0_conv1", "unet", "down_blocks.1.resnets.0.conv1.weight", conv=True)
        # LDM-style name: input_blocks.1.1 = down_blocks.0.attentions.0 (tiny: 1 layer per block)
        add("lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_v", "unet",
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v.weight")
        add("lora_te_text_model_encoder_layers_0_self_attn_q_proj", "text_encoder",
            "text_model.encoder.layers.0.self_attn.q_proj.weight")
        add("lora_te_text_model_encoder_layers_1_mlp_fc2", "text_encoder", "text_model.encoder.layers.1.mlp.fc2.weight")
        path = self.p("style.safetensors")
        st.save_file(lora, path)
        loaded = LO.load_lora_file(path)
        self.assertEqual(LO.detect_lora_format(loaded), "kohya")
        u2, t2 = OrderedDict(unet), OrderedDict(text)
        merged = LO.merge_kohya_lora(u2, t2, loaded, 0.8, unet_config=cfg)
        self.assertEqual(len(merged["unet"]) + len(merged["text_encoder"]), len(expected))
        for (comp, key), delta in expected.items():
            base = (unet if comp == "unet" else text)[key]
            got = (u2 if comp == "unet" else t2)[key]
            self.assertTrue(torch.allclose(got, base + 0.8 * delta, atol=1e-4), key)
        changed = {k for k in u2 if u2[k] is not unet[k]} | {k for k in t2 if t2[k] is not text[k]}
        self.assertEqual(changed, {k for _c, k in expected})
        # unknown target modules are listed
        bad = OrderedDict(loaded)
        bad["lora_unet_down_blocks_7_attentions_0_proj_in.lora_down.weight"] = torch.ones(1, 32)
        bad["lora_unet_down_blocks_7_attentions_0_proj_in.lora_up.weight"] = torch.ones(32, 1)
        with self.assertRaises(W.WeightsError) as cm:
            LO.merge_kohya_lora(OrderedDict(unet), OrderedDict(text), bad, 0.8, unet_config=cfg)
        self.assertIn("lora_unet_down_blocks_7_attentions_0_proj_in", str(cm.exception))
        # unsupported LoRA flavours
        loha = {"lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a": torch.ones(1)}
        with self.assertRaises(W.WeightsError) as cm:
            LO.merge_kohya_lora(OrderedDict(unet), None, loha, 0.8)
        self.assertIn("hada_w1_a", str(cm.exception))

    def test_format_detection_and_parse(self):
        with self.assertRaises(W.WeightsError) as cm:
            LO.detect_lora_format({"down_blocks.0.motion_modules.0.temporal_transformer.norm.weight": torch.ones(1)}, "m.ckpt")
        self.assertIn("--motion-module", str(cm.exception))
        with self.assertRaises(W.WeightsError):
            LO.detect_lora_format({"lora_te1_text_model_x.lora_down.weight": torch.ones(1)}, "xl.safetensors")
        self.assertEqual(LO.parse_path_alpha("a/b.ckpt:0.5", 1.0), ("a/b.ckpt", 0.5))
        self.assertEqual(LO.parse_path_alpha("a/b.ckpt", 0.8), ("a/b.ckpt", 0.8))
        self.assertEqual(LO.parse_path_alpha("C:/x/b.ckpt", 0.8), ("C:/x/b.ckpt", 0.8))


EXPORT_SCRIPT = os.path.join(SCRIPTS, "export_animatediff.py")


class ExportCLITests(TmpDirCase):
    """End to end: source files in real layouts -> export_animatediff.py -> model folder."""

    def run_cli(self, *args):
        proc = subprocess.run([sys.executable, EXPORT_SCRIPT, *args], capture_output=True, text=True, timeout=300)
        return proc.returncode, proc.stdout + proc.stderr

    def test_diffusers_folder_motion_ckpt_and_loras(self):
        import yaml

        ucfg, vcfg, tcfg = tiny_cfgs("v2")
        unet, vae, text = make_pipeline(self.p("sd"), ucfg, vcfg, tcfg)
        _sd, mm = unet_shapes(ucfg)
        motion = random_sd(mm, 21)
        torch.save({"state_dict": original_motion_file_dict(motion, 32), "animatediff_config": {"v": "2"}},
                   self.p("mm_sd_v15_v2.ckpt"))
        # MotionLoRA on two motion projections, kohya LoRA on one UNet and one text weight
        mkeys = OrderedDict((k, mm[k]) for k in (
            "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight",
            "mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.weight"))
        mlora = proc_lora(mkeys, 2, 5)
        torch.save({"state_dict": mlora}, self.p("v2_lora_PanLeft.ckpt"))
        g = torch.Generator().manual_seed(8)
        kl = OrderedDict()
        kl["lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"] = torch.randn(4, 32, generator=g)
        kl["lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight"] = torch.randn(32, 4, generator=g)
        kl["lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.alpha"] = torch.tensor(4.0)
        kl["lora_te_text_model_encoder_layers_1_self_attn_v_proj.lora_down.weight"] = torch.randn(4, 32, generator=g)
        kl["lora_te_text_model_encoder_layers_1_self_attn_v_proj.lora_up.weight"] = torch.randn(32, 4, generator=g)
        st.save_file(kl, self.p("style.safetensors"))

        out = self.p("out")
        rc, log = self.run_cli("--base", self.p("sd"), "--motion-module", self.p("mm_sd_v15_v2.ckpt"),
                               "--motion-lora", self.p("v2_lora_PanLeft.ckpt") + ":0.5",
                               "--lora", self.p("style.safetensors"), "--out", out, "--name", "tiny-test")
        self.assertEqual(rc, 0, log)
        with open(os.path.join(out, "model.yaml")) as f:
            manifest = yaml.safe_load(f)
        self.assertEqual(manifest["name"], "tiny-test")
        self.assertEqual(manifest["motion_module"]["version"], "v2")
        self.assertEqual(manifest["sources"]["motion_module"]["version"], "v2")
        self.assertEqual([l["alpha"] for l in manifest["sources"]["loras"]], [0.8, 0.5])
        for rel in manifest["files"]:
            self.assertTrue(os.path.isfile(os.path.join(out, rel)), rel)
        self.assertIn("unet/model.weights.bin", manifest["files"])  # mapped weights: the exporter's default
        s_unet = load_module(os.path.join(out, manifest["unet"]["file"]))
        s_dec = torch.jit.load(os.path.join(out, manifest["vae"]["file"]))
        s_text = torch.jit.load(os.path.join(out, manifest["text_encoder"]["file"]))
        torch.jit.load(os.path.join(out, manifest["vae"]["encoder_file"]))
        # every exported weight is the source weight (+ the LoRA deltas where merged)
        want = OrderedDict(unet)
        want.update(motion)
        for k in mkeys:
            module, proj = k[: -len(".weight")].rsplit(".", 1)
            if proj == "0":
                module, proj = module.rsplit(".", 1)
            want[k] = want[k] + 0.5 * mlora[f"{module}.processor.{proj}_lora.up.weight"] @ \
                mlora[f"{module}.processor.{proj}_lora.down.weight"]
        k = "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
        want[k] = want[k] + 0.8 * kl["lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight"] @ \
            kl["lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"]
        got = OrderedDict((k, v) for k, v in s_unet.state_dict().items() if not k.endswith("pos_encoder.pe"))
        self.assertEqual(sorted(got), sorted(want))
        for k, v in want.items():
            self.assertTrue(torch.allclose(got[k], v, atol=1e-5), k)
        tk = "text_model.encoder.layers.1.self_attn.v_proj.weight"
        t_got = s_text.state_dict()
        self.assertTrue(torch.allclose(
            t_got[tk], text[tk] + 0.8 * kl["lora_te_text_model_encoder_layers_1_self_attn_v_proj.lora_up.weight"]
            @ kl["lora_te_text_model_encoder_layers_1_self_attn_v_proj.lora_down.weight"], atol=1e-5))
        self.assertTrue(torch.equal(s_dec.state_dict()["decoder.conv_in.weight"], vae["decoder.conv_in.weight"]))
        # the files run
        with torch.no_grad():
            y = s_unet(torch.randn(1, 4, 2, 8, 8), torch.tensor([10]), torch.randn(1, 77, 32))
            self.assertEqual(tuple(y.shape), (1, 4, 2, 8, 8))
            self.assertTrue(torch.isfinite(y).all())

    def test_single_file_and_motion_adapter_in_process(self):
        import export_animatediff as E
        from animatorch_export.manifest import read_manifest, verify_files

        ucfg, vcfg, tcfg = tiny_cfgs("v3")
        ckpt, eu, ev, et = make_ldm(ucfg, vcfg, tcfg, seed=4)
        ckpt[CL.CLIP_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(77)[None].float() - 1e-3
        st.save_file(ckpt, self.p("dreambooth.safetensors"))
        _sd, mm = unet_shapes(ucfg)
        motion = random_sd(mm, 31)
        pe = {p: sinusoid_pe(32, motion[p + "temporal_transformer.norm.weight"].shape[0]) for p in motion_prefixes(motion)}
        folder = self.p("motion_adapter")
        write_json(os.path.join(folder, "config.json"), {"_class_name": "MotionAdapter", "motion_max_seq_length": 32,
                                                         "use_motion_mid_block": False, "block_out_channels": [32, 64]})
        st.save_file(CD.motion_ours_to_diffusers(motion, pe), os.path.join(folder, "diffusion_pytorch_model.safetensors"))
        at = OrderedDict((k, s) for k, s in _sd.items() if ".attn1.to_" in k and k.endswith("weight"))
        adapter = proc_lora(at, 2, 3)
        torch.save(adapter, self.p("v3_sd15_adapter.ckpt"))
        logs = []
        args = E.parse_args(["--base", self.p("dreambooth.safetensors"), "--motion-module", folder,
                             "--adapter-lora", self.p("v3_sd15_adapter.ckpt"), "--numerics", "diffusers",
                             "--out", self.p("out3"), "--quiet"])
        E.export_animatediff(args, logs.append)
        self.assertTrue(any("position_ids" in m for m in logs), logs)
        m = read_manifest(self.p("out3"))
        verify_files(self.p("out3"), m)
        self.assertEqual((m["motion_module"]["version"], m["numerics"]), ("v3", "diffusers"))
        self.assertEqual(m["sources"]["base"]["format"], "ldm-single-file")
        s_unet = load_module(self.p("out3", "unet", "model.pt")).state_dict()
        for k, v in eu.items():
            if k not in at:
                self.assertTrue(torch.equal(s_unet[k], v), k)
        for k, v in motion.items():
            self.assertTrue(torch.equal(s_unet[k], v), k)
        k = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v.weight"
        delta = (adapter["down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_v_lora.up.weight"]
                 @ adapter["down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_v_lora.down.weight"])
        self.assertTrue(torch.allclose(s_unet[k], eu[k] + delta, atol=1e-5))
        s_text = torch.jit.load(self.p("out3", "text_encoder", "model.pt")).state_dict()
        for k, v in et.items():
            self.assertTrue(torch.equal(s_text[k], v), k)

    def test_cli_errors(self):
        rc, log = self.run_cli("--base", self.p("missing"), "--motion-module", self.p("mm.ckpt"), "--out", self.p("o"))
        self.assertEqual(rc, 2)
        self.assertIn("--base", log)
        self.assertIn("no such file", log)
        self.assertNotIn("Traceback", log)
        # a motion module passed as --base
        _sd, mm = unet_shapes(UNet3DConfig.tiny("v3"))
        st.save_file(original_motion_file_dict(random_sd(mm, 1), 32), self.p("mm.safetensors"))
        rc, log = self.run_cli("--base", self.p("mm.safetensors"), "--motion-module", self.p("mm.safetensors"),
                               "--out", self.p("o"))
        self.assertEqual(rc, 2)
        self.assertIn("--motion-module", log)
        # a pickle with code as the motion module: refused, nothing exported
        ucfg, vcfg, tcfg = tiny_cfgs("v3")
        make_pipeline(self.p("sd"), ucfg, vcfg, tcfg)
        marker = self.p("EXECUTED")
        _Evil.marker = marker
        torch.save({"state_dict": {"w": torch.ones(1)}, "x": _Evil()}, self.p("evil.ckpt"))
        rc, log = self.run_cli("--base", self.p("sd"), "--motion-module", self.p("evil.ckpt"), "--out", self.p("o"))
        self.assertEqual(rc, 2)
        self.assertIn("pickled code/objects", log)
        self.assertFalse(os.path.exists(marker))
        self.assertFalse(os.path.exists(self.p("o", "model.yaml")))
        # a motion module of another architecture: strict load lists the problems
        _sd, mm_small = unet_shapes(UNet3DConfig.tiny("v3", block_out_channels=(32, 96)))
        st.save_file(original_motion_file_dict(random_sd(mm_small, 1), 32), self.p("other.safetensors"))
        rc, log = self.run_cli("--base", self.p("sd"), "--motion-module", self.p("other.safetensors"), "--out", self.p("o"))
        self.assertEqual(rc, 2)
        self.assertIn("shape mismatches", log)
        self.assertIn("down_blocks.1.motion_modules.0.temporal_transformer.norm.weight", log)
        # no motion module at all
        rc, log = self.run_cli("--base", self.p("sd"), "--out", self.p("o"))
        self.assertEqual(rc, 2)
        self.assertIn("motion module is required", log)


if __name__ == "__main__":
    unittest.main()
