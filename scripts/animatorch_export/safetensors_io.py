"""A small, dependency-free safetensors reader and writer (torch + numpy only).

File layout (https://github.com/huggingface/safetensors, "Format"):

    8 bytes      little-endian unsigned header length N
    N bytes      UTF-8 JSON: {name: {"dtype": D, "shape": [...], "data_offsets": [begin, end]}, ...,
                              optional "__metadata__": {str: str}}
    rest         the byte buffer; offsets are relative to its start

The reader validates everything it relies on and raises :class:`SafetensorsError` (a ValueError)
naming the file and the problem: header length within the file and below a sane limit, JSON that
parses to an object without duplicate names, known dtypes, integer shapes, offsets inside the
buffer that cover it contiguously without overlaps, and byte length = numel x itemsize.

Tensors are created from a copy-on-write memory map, so opening a multi-GB file is cheap and the
returned tensors are writable (changes never reach the file).
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import torch

__all__ = [
    "SafetensorsError",
    "DTYPES",
    "read_header",
    "load_file",
    "save_file",
]

# Largest header we accept (the reference implementation uses the same limit).
MAX_HEADER_BYTES = 100_000_000


class SafetensorsError(ValueError):
    """A file is not a valid safetensors file (the message names the file and the problem)."""


class _DType:
    __slots__ = ("name", "torch", "numpy", "itemsize")

    def __init__(self, name: str, torch_dtype: torch.dtype, numpy_dtype: str, itemsize: int):
        self.name = name
        self.torch = torch_dtype
        # numpy dtype used to view the raw bytes; bfloat16 is read as int16 and re-viewed in torch
        self.numpy = np.dtype(numpy_dtype)
        self.itemsize = itemsize


DTYPES: Dict[str, _DType] = {
    d.name: d
    for d in (
        _DType("F64", torch.float64, "<f8", 8),
        _DType("F32", torch.float32, "<f4", 4),
        _DType("F16", torch.float16, "<f2", 2),
        _DType("BF16", torch.bfloat16, "<i2", 2),
        _DType("I64", torch.int64, "<i8", 8),
        _DType("I32", torch.int32, "<i4", 4),
        _DType("I16", torch.int16, "<i2", 2),
        _DType("I8", torch.int8, "i1", 1),
        _DType("U8", torch.uint8, "u1", 1),
        _DType("BOOL", torch.bool, "?", 1),
    )
}
_TORCH_TO_NAME = {d.torch: d.name for d in DTYPES.values()}
_FLOAT8_NAMES = {"F8_E4M3", "F8_E5M2", "F8_E4M3FN", "F8_E5M2FNUZ", "F8_E4M3FNUZ", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}
_OTHER_KNOWN_UNSUPPORTED = {"U16", "U32", "U64", "C64", "C128"}


def _err(path, msg: str) -> SafetensorsError:
    return SafetensorsError(f"{path}: not a valid safetensors file: {msg}")


def _no_duplicates(pairs):
    out = OrderedDict()
    for k, v in pairs:
        if k in out:
            raise KeyError(k)
        out[k] = v
    return out


def _parse_header(path, header_bytes: bytes, buffer_size: int):
    """Parse and validate a header. Returns (entries sorted by offset, metadata)."""
    if not header_bytes.lstrip(b" ").startswith(b"{"):
        raise _err(path, "the header does not start with '{' (is this really a .safetensors file?)")
    try:
        text = header_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _err(path, f"the header is not UTF-8 ({e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except KeyError as e:
        raise _err(path, f"the header names tensor {e.args[0]!r} twice") from None
    except ValueError as e:
        raise _err(path, f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _err(path, "the header is not a JSON object")

    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise _err(path, "__metadata__ must map strings to strings")

    entries: List[Tuple[str, _DType, Tuple[int, ...], int, int]] = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise _err(path, f"tensor {name!r}: entry is not an object")
        missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
        if missing:
            raise _err(path, f"tensor {name!r}: entry lacks {', '.join(missing)}")
        dname = info["dtype"]
        if not isinstance(dname, str):
            raise _err(path, f"tensor {name!r}: dtype {dname!r} is not a string")
        if dname in _FLOAT8_NAMES:
            raise _err(
                path,
                f"tensor {name!r} has dtype {dname}: 8-bit (and smaller) float formats are not supported; "
                "use a float16/bfloat16/float32 version of the checkpoint",
            )
        if dname not in DTYPES:
            known = " ".join(DTYPES)
            what = "unsupported" if dname in _OTHER_KNOWN_UNSUPPORTED else "unknown"
            raise _err(path, f"tensor {name!r} has {what} dtype {dname!r} (supported: {known})")
        dt = DTYPES[dname]
        shape = info["shape"]
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise _err(path, f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        offs = info["data_offsets"]
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
        ):
            raise _err(path, f"tensor {name!r}: data_offsets {offs!r} is not a pair of integers")
        begin, end = offs
        if begin < 0 or end < begin:
            raise _err(path, f"tensor {name!r}: data_offsets {offs!r} are not ordered non-negative offsets")
        if end > buffer_size:
            raise _err(
                path,
                f"tensor {name!r}: data_offsets {offs!r} end past the data buffer ({buffer_size} bytes); "
                "the file is probably truncated",
            )
        numel = 1
        for s in shape:
            numel *= s
        if numel * dt.itemsize != end - begin:
            raise _err(
                path,
                f"tensor {name!r}: {dname} shape {shape} needs {numel * dt.itemsize} bytes "
                f"but data_offsets {offs} span {end - begin}",
            )
        entries.append((name, dt, tuple(shape), begin, end))

    # Offsets must tile the buffer: sorted, no overlap, no hole, nothing left over.
    ordered = sorted(entries, key=lambda e: (e[3], e[4]))
    pos = 0
    prev = None
    for name, _dt, _shape, begin, end in ordered:
        if begin < pos:
            raise _err(path, f"tensor {name!r} (bytes {begin}..{end}) overlaps tensor {prev!r} (ends at {pos})")
        if begin > pos:
            raise _err(path, f"bytes {pos}..{begin} of the data buffer belong to no tensor (before {name!r})")
        pos = end
        prev = name
    if pos != buffer_size:
        raise _err(path, f"the data buffer has {buffer_size} bytes but the tensors cover {pos}")
    return ordered, metadata


def _read_prefix(path, f, file_size: int) -> Tuple[bytes, int]:
    if file_size < 8:
        raise _err(path, f"the file has {file_size} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n == 0 or n > MAX_HEADER_BYTES:
        raise _err(path, f"header length {n} is not sane (must be 1..{MAX_HEADER_BYTES} bytes)")
    if 8 + n > file_size:
        raise _err(
            path,
            f"header length {n} runs past the end of the file ({file_size} bytes); "
            "the file is truncated or not a safetensors file",
        )
    header = f.read(n)
    if len(header) != n:
        raise _err(path, "could not read the whole header")
    return header, 8 + n


def read_header(path) -> Tuple[Dict[str, Dict], Optional[Dict[str, str]]]:
    """Validated header: ({name: {"dtype", "shape", "data_offsets"}}, metadata or None)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_prefix(path, f, size)
    entries, metadata = _parse_header(path, header, size - start)
    out = OrderedDict()
    for name, dt, shape, begin, end in sorted(entries, key=lambda e: e[0]):
        out[name] = {"dtype": dt.name, "shape": list(shape), "data_offsets": [begin, end]}
    return out, metadata


def load_file(path, device: str = "cpu", with_metadata: bool = False):
    """Load every tensor of a safetensors file.

    Returns an OrderedDict {name: tensor} sorted by name (and the metadata dict or None when
    ``with_metadata``). CPU tensors share pages with a private copy-on-write map of the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_prefix(path, f, size)
        entries, metadata = _parse_header(path, header, size - start)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size > 0 else None
    tensors = OrderedDict()
    for name, dt, shape, begin, end in sorted(entries, key=lambda e: e[0]):
        numel = (end - begin) // dt.itemsize
        if numel == 0:
            t = torch.empty(shape, dtype=dt.torch)
        else:
            arr = np.frombuffer(mm, dtype=dt.numpy, count=numel, offset=start + begin)
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            t = torch.from_numpy(arr)
            if dt.name == "BF16":
                t = t.view(torch.bfloat16)
            t = t.reshape(shape)
        if device != "cpu":
            t = t.to(device)
        tensors[name] = t
    if with_metadata:
        return tensors, metadata
    return tensors


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    t = t.detach().to("cpu").contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    arr = t.numpy()
    if not np.little_endian and arr.dtype.itemsize > 1:
        arr = arr.byteswap()
    return memoryview(np.ascontiguousarray(arr).reshape(-1)).cast("B")


def save_file(tensors: Mapping[str, torch.Tensor], path, metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write tensors (names sorted; larger itemsizes first, as the reference writer does)."""
    path = os.fspath(path)
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map strings to strings")
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid tensor name {name!r}")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(t).__name__}, not a tensor")
        if t.dtype not in _TORCH_TO_NAME:
            raise ValueError(f"{name!r}: dtype {t.dtype} cannot be written to safetensors by this writer")
        items.append((name, t))
    items.sort(key=lambda it: (-it[1].element_size(), it[0]))

    header: Dict[str, object] = OrderedDict()
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, t in items:
        nbytes = t.numel() * t.element_size()
        header[name] = {
            "dtype": _TORCH_TO_NAME[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hb)))
            f.write(hb)
            for _name, t in items:
                if t.numel():
                    f.write(_tensor_bytes(t))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def iter_names(path) -> Iterable[str]:
    """Tensor names of a file, from its header only."""
    return list(read_header(path)[0])
