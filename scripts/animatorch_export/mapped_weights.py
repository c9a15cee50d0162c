"""Mapped weights: a TorchScript module's parameters in a flat file beside it, read through mmap.

A one-shot CPU render with the UNet fully in memory holds all 5 GB of an SD1.5 + motion module UNet
for the whole denoising loop. With mapped weights the addon maps ``model.weights.bin`` read-only, so
the weights are the kernel's page cache rather than the process's own memory, and the UNet releases
each block's pages (``madvise(MADV_DONTNEED)``) once the block has run: a step holds one block's
weights at a time and reads the next block's from the page cache.

Layout beside ``<name>.pt``::

    <name>.weights.bin    the parameters' bytes, contiguous, 64-byte aligned; segments 64 KiB aligned
    <name>.weights.json   {"format", "version", "file", "bytes", "segments": [{name, offset, bytes}],
                           "tensors": [{name, dtype, shape, offset, bytes, segment}]}

``<name>.pt`` keeps every mapped parameter as a NaN placeholder of the right shape (one element,
expanded), so a load that skips the mapping gives NaN, never a plausible wrong video.

The scripted forward calls ``torch.ops.animatorch.release_weights(x, segment)`` after each segment
(the addon's op; here an identity so the module can be scripted, checked and loaded in Python).
"""

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .atomic_io import atomic_write_json
from .dtypes import dtype_name, parse_dtype

FORMAT = "animatorch-mapped-weights"
VERSION = 1
TENSOR_ALIGN = 64
SEGMENT_ALIGN = 65536  # a page on every system we build for (4 KiB, 16 KiB and 64 KiB pages)
RELEASE_OP_SCHEMA = "release_weights(Tensor(a) x, int segment) -> Tensor(a)"

_library = None


def register_release_op() -> None:
    """Defines ``animatorch::release_weights`` (identity) in this process, once."""
    global _library
    if _library is not None:
        return
    try:
        torch.ops.animatorch.release_weights  # defined elsewhere in this process already
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("animatorch", "DEF")
    lib.define(RELEASE_OP_SCHEMA)
    lib.impl("release_weights", lambda x, segment: x, "CompositeExplicitAutograd")
    _library = lib


def paths(module_file: str) -> Tuple[str, str]:
    """-> (index json path, data file path) beside ``module_file``."""
    stem = os.path.splitext(module_file)[0]
    return stem + ".weights.json", stem + ".weights.bin"


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _segment_of(name: str, segments: Sequence[Sequence[str]]) -> Optional[int]:
    for i, prefixes in enumerate(segments):
        if any(name.startswith(p) for p in prefixes):
            return i
    return None


def _raw_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    return t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def write_mapped_weights(scripted: torch.jit.ScriptModule, module_file: str, segments: Sequence[Tuple[str, Sequence[str]]]) -> Dict:
    """Moves the parameters named under ``segments`` ((name, [prefix, ...]) in forward order) into
    ``<module_file stem>.weights.bin`` and leaves NaN placeholders in ``scripted`` (save it after this).
    Parameters under no prefix stay in the TorchScript file. Returns the index written."""
    index_path, data_path = paths(module_file)
    prefixes = [tuple(p) for _, p in segments]
    grouped: List[List[Tuple[str, torch.Tensor]]] = [[] for _ in segments]
    for name, p in scripted.named_parameters():
        seg = _segment_of(name, prefixes)
        if seg is not None and p.is_floating_point():
            grouped[seg].append((name, p))

    seg_entries, tensors, offset = [], [], 0
    tmp = data_path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(data_path)), exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            for seg, ((seg_name, _), params) in enumerate(zip(segments, grouped)):
                offset = _align(offset, SEGMENT_ALIGN)
                start = offset
                for name, p in params:
                    offset = _align(offset, TENSOR_ALIGN)
                    raw = _raw_bytes(p)
                    f.seek(offset)
                    f.write(raw)
                    tensors.append({"name": name, "dtype": dtype_name(p.dtype), "shape": list(p.shape), "offset": offset, "bytes": len(raw), "segment": seg})
                    offset += len(raw)
                seg_entries.append({"name": seg_name, "offset": start, "bytes": offset - start})
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, data_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    mapped = {t["name"] for t in tensors}
    for name, p in scripted.named_parameters():
        if name in mapped:
            p.data = torch.full((1,), float("nan"), dtype=p.dtype, device=p.device).expand(p.shape)
    index = {"format": FORMAT, "version": VERSION, "file": os.path.basename(data_path), "bytes": offset, "segments": seg_entries, "tensors": tensors}
    atomic_write_json(index_path, index)
    return index


def read_index(module_file: str) -> Optional[Dict]:
    index_path, _ = paths(module_file)
    if not os.path.exists(index_path):
        return None
    with open(index_path) as f:
        index = json.load(f)
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise ValueError(f"{index_path}: not an animatorch mapped-weights index (format {FORMAT!r}, version {VERSION})")
    return index


def load_module(module_file: str, map_location: str = "cpu") -> torch.jit.ScriptModule:
    """torch.jit.load with the weights file read back in (Python's way to load a mapped export)."""
    register_release_op()
    module = torch.jit.load(module_file, map_location="cpu")
    index = read_index(module_file)
    if index is not None:
        data = os.path.join(os.path.dirname(os.path.abspath(module_file)), index["file"])
        params = dict(module.named_parameters())
        with open(data, "rb") as f:
            for t in index["tensors"]:
                f.seek(t["offset"])
                raw = bytearray(f.read(t["bytes"]))
                dt = parse_dtype(t["dtype"])
                params[t["name"]].data = torch.frombuffer(raw, dtype=torch.uint8).view(dt).reshape(t["shape"]).clone() if raw else torch.empty(t["shape"], dtype=dt)
    return module.to(map_location)


# UNet3DConditionModel's segments, in forward order (the release_weights calls in its forward use these indices).
def unet_segments(num_down: int, num_up: int) -> List[Tuple[str, Sequence[str]]]:
    segs: List[Tuple[str, Sequence[str]]] = [("conv_in", ("time_embedding.", "conv_in."))]
    segs += [(f"down_blocks.{i}", (f"down_blocks.{i}.",)) for i in range(num_down)]
    segs.append(("mid_block", ("mid_block.",)))
    segs += [(f"up_blocks.{i}", (f"up_blocks.{i}.",)) for i in range(num_up)]
    segs.append(("conv_out", ("conv_norm_out.", "conv_out.")))
    return segs
