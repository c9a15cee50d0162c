"""Mapped weights (animatorch_export/mapped_weights.py): export --mapped-weights and scripts/map_weights.py.

Run:  cd scripts && /usr/bin/python3 -m unittest tests.test_mapped_weights -v
"""

import copy
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import map_weights  # noqa: E402
from quantize_exported import quantize_exported  # noqa: E402
from animatorch_export.clip_text import CLIPTextModel  # noqa: E402
from animatorch_export.configs import get_preset  # noqa: E402
from animatorch_export.errors import ExportError  # noqa: E402
from animatorch_export.manifest import UNET_FILE, read_manifest, verify_files  # noqa: E402
from animatorch_export.mapped_weights import SEGMENT_ALIGN, TENSOR_ALIGN, load_module, read_index, register_release_op  # noqa: E402
from animatorch_export.reference import randomize_weights_  # noqa: E402
from animatorch_export.torchscript_export import export_model  # noqa: E402
from animatorch_export.unet3d import UNet3DConditionModel  # noqa: E402
from animatorch_export.vae import AutoencoderKL  # noqa: E402

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def probe(unet):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 3, 8, 8, generator=g)
    c = torch.randn(2, 77, 32, generator=g)
    with torch.no_grad():
        return unet(x, torch.tensor([10, 700]), c)


class TestMappedWeights(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="animatorch-mapped-test-")
        p = get_preset("tiny-v2")
        cls.unet = randomize_weights_(UNet3DConditionModel(p.unet), 0).eval()
        cls.vae = randomize_weights_(AutoencoderKL(p.vae), 1).eval()
        cls.text = randomize_weights_(CLIPTextModel(p.text_encoder), 2).eval()
        cls.plain = os.path.join(cls.tmp, "plain")
        cls.mapped = os.path.join(cls.tmp, "mapped")
        export_model(copy.deepcopy(cls.unet), copy.deepcopy(cls.vae), None, cls.plain)
        cls.manifest = export_model(copy.deepcopy(cls.unet), copy.deepcopy(cls.vae), None, cls.mapped, mapped_weights=True)
        cls.want = probe(cls.unet)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layout_and_manifest(self):
        unet = os.path.join(self.mapped, UNET_FILE)
        index = read_index(unet)
        self.assertEqual(self.manifest["export"]["mapped_weights"], True)
        for rel in ("unet/model.weights.bin", "unet/model.weights.json"):
            self.assertIn(rel, self.manifest["files"])
        verify_files(self.mapped, read_manifest(self.mapped))
        self.assertEqual(os.path.getsize(os.path.join(self.mapped, "unet", index["file"])), index["bytes"])
        names = [s["name"] for s in index["segments"]]
        self.assertEqual(names, ["conv_in", "down_blocks.0", "down_blocks.1", "mid_block", "up_blocks.0", "up_blocks.1", "conv_out"])
        # every floating-point parameter is mapped, once, inside its segment, aligned
        params = dict(self.unet.named_parameters())
        self.assertEqual(sorted(t["name"] for t in index["tensors"]), sorted(params))
        for t in index["tensors"]:
            seg = index["segments"][t["segment"]]
            self.assertTrue(t["name"].startswith(seg["name"].split(".")[0]) or seg["name"] in ("conv_in", "conv_out"), t["name"])
            self.assertEqual(t["offset"] % TENSOR_ALIGN, 0)
            self.assertLessEqual(seg["offset"], t["offset"])
            self.assertLessEqual(t["offset"] + t["bytes"], seg["offset"] + seg["bytes"])
            self.assertEqual(t["bytes"], params[t["name"]].numel() * params[t["name"]].element_size())
        self.assertTrue(all(s["offset"] % SEGMENT_ALIGN == 0 for s in index["segments"]))
        # the TorchScript file keeps placeholders only: far smaller than the plain export's
        self.assertLess(os.path.getsize(unet), os.path.getsize(os.path.join(self.plain, UNET_FILE)) / 4)

    def test_same_output_and_one_release_per_segment(self):
        unet = load_module(os.path.join(self.mapped, UNET_FILE))
        self.assertTrue(torch.equal(probe(unet), probe(torch.jit.load(os.path.join(self.plain, UNET_FILE)))))
        self.assertLess(float((probe(unet) - self.want).abs().max()), 1e-5)
        graph = str(unet.inlined_graph)
        self.assertEqual(graph.count("animatorch::release_weights"), len(read_index(os.path.join(self.mapped, UNET_FILE))["segments"]))
        self.assertNotIn("release_weights", str(torch.jit.load(os.path.join(self.plain, UNET_FILE)).inlined_graph))

    def test_placeholders_are_nan_without_the_weights_file(self):
        register_release_op()
        bare = torch.jit.load(os.path.join(self.mapped, UNET_FILE))
        self.assertTrue(bool(probe(bare).isnan().all()))

    def test_freeze_is_refused(self):
        with self.assertRaisesRegex(ExportError, "frozen module inlines them"):
            export_model(copy.deepcopy(self.unet), copy.deepcopy(self.vae), None, os.path.join(self.tmp, "frozen"), freeze=True, mapped_weights=True)

    def test_map_weights_rewrites_a_plain_export(self):
        d = os.path.join(self.tmp, "converted")
        shutil.copytree(self.plain, d)
        with redirect_stdout(io.StringIO()) as out:
            self.assertEqual(map_weights.main(["--model", d]), 0)
        self.assertIn("max |diff| 0", out.getvalue())
        verify_files(d, read_manifest(d))
        self.assertEqual(read_manifest(d)["export"]["mapped_weights"], True)
        self.assertTrue(torch.equal(probe(load_module(os.path.join(d, UNET_FILE))), probe(torch.jit.load(os.path.join(self.plain, UNET_FILE)))))
        with redirect_stdout(io.StringIO()) as out:
            self.assertEqual(map_weights.main(["--model", d]), 0)
        self.assertIn("already has mapped weights", out.getvalue())
        with open(os.path.join(d, "unet", "model.weights.json")) as f:
            self.assertEqual(json.load(f)["format"], "animatorch-mapped-weights")

    def test_quantize_reads_the_mapped_weights(self):
        outs = {}
        for name, src in (("plain", self.plain), ("mapped", self.mapped)):
            out = os.path.join(self.tmp, "int8-" + name)
            quantize_exported(src, out, verify=False, log=lambda m: None)
            manifest = read_manifest(out)
            verify_files(out, manifest)
            self.assertFalse(any("weights" in rel for rel in manifest["files"]), list(manifest["files"]))
            self.assertFalse(os.path.exists(os.path.join(out, "unet", "model.weights.json")))
            register_release_op()
            outs[name] = probe(torch.jit.load(os.path.join(out, UNET_FILE)))
        self.assertFalse(bool(outs["mapped"].isnan().any()))
        self.assertTrue(torch.equal(outs["mapped"], outs["plain"]))


if __name__ == "__main__":
    unittest.main()
