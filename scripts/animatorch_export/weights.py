"""Reading weight files safely and loading them strictly.

* :func:`load_state_dict` reads ``.safetensors`` with our own reader and ``.ckpt``/``.pt``/``.pth``/
  ``.bin`` only through ``torch.load(weights_only=True)``: a pickle that needs any class or function
  outside torch's tensor allow-list is refused, never executed.
* :func:`load_into` loads a state dict into a module and raises :class:`WeightsError` listing
  missing keys, unexpected keys and shape mismatches instead of leaving random weights behind.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import pickletools
import re
from collections import OrderedDict
from typing import Iterable, List, Mapping, Sequence, Tuple

import torch

from .safetensors_io import SafetensorsError, load_file as _load_safetensors

__all__ = [
    "WeightsError",
    "PICKLE_EXTENSIONS",
    "SAFETENSORS_EXTENSIONS",
    "load_state_dict",
    "unwrap_checkpoint",
    "load_into",
    "check_state_dict",
    "expected_shapes",
    "adapt_linear_conv_shapes",
    "format_keys",
    "no_weight_init",
]

SAFETENSORS_EXTENSIONS = (".safetensors",)
PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pth", ".bin")


class WeightsError(ValueError):
    """A weight file cannot be used (the message says which file and why)."""


def format_keys(keys: Iterable[str], limit: int = 20) -> str:
    keys = sorted(keys)
    head = ", ".join(keys[:limit])
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return f"{len(keys)}: {head}{more}"


# ---------------------------------------------------------------------------------------------
# reading


def _opcode_name(msg: str) -> str:
    m = re.search(r"Unsupported operand (\d+)", msg)
    if not m:
        return ""
    op = pickletools.code2op.get(chr(int(m.group(1))))
    return f" {op.name}" if op is not None else ""


def _torch_load_weights_only(path: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        detail = msg.split("WeightsUnpickler error:")[-1].strip() if "WeightsUnpickler error:" in msg else msg
        detail = detail.splitlines()[0] if detail else "weights-only unpickling failed"
        if "Unsupported operand" in msg:
            # torch 1.13's weights-only reader lacks some plain-data opcodes (e.g. BINFLOAT, added in 2.0)
            raise WeightsError(
                f"{path}: refused: torch {torch.__version__}'s weights-only loader cannot read this pickle "
                f"({detail}{_opcode_name(msg)}); it was not loaded and nothing in it was executed. "
                "Use torch >= 2.0 or a .safetensors version of this checkpoint."
            ) from None
        if "Unsupported" in msg or "not an allowed global" in msg:
            raise WeightsError(
                f"{path}: refused: the file contains pickled code/objects that are not plain tensors "
                f"({detail}); it was not loaded and nothing in it was executed. Use a .safetensors version "
                "of this checkpoint (or convert it with a tool you trust)."
            ) from None
        raise WeightsError(f"{path}: not a readable PyTorch checkpoint ({detail})") from None
    except (RuntimeError, KeyError, EOFError, ValueError, OSError, AttributeError, TypeError, IndexError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsError(
            f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {first}); "
            "the file may be truncated or of another format"
        ) from None


def unwrap_checkpoint(obj, path: str = "<state dict>") -> "OrderedDict[str, torch.Tensor]":
    """Top-level ``state_dict`` unwrapped; non-tensor entries (``animatediff_config``, ``global_step``,
    ...) dropped. Parameters become plain tensors. Raises if nothing tensor-like is left."""
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: expected a dict of tensors, found a {type(obj).__name__}")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            if not isinstance(k, str):
                raise WeightsError(f"{path}: tensor key {k!r} is not a string")
            out[k] = v.detach()
    if not out:
        raise WeightsError(f"{path}: the file holds no tensors")
    return out


def load_state_dict(path, device: str = "cpu") -> "OrderedDict[str, torch.Tensor]":
    """Tensors of one weight file, by extension (safetensors, or weights-only torch pickles)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if os.path.isdir(path):
        raise WeightsError(f"{path}: is a directory, expected a weight file")
    ext = os.path.splitext(path)[1].lower()
    if ext in SAFETENSORS_EXTENSIONS:
        try:
            sd = _load_safetensors(path)
        except SafetensorsError as e:
            raise WeightsError(str(e)) from None
    elif ext in PICKLE_EXTENSIONS:
        sd = unwrap_checkpoint(_torch_load_weights_only(path), path)
    else:
        raise WeightsError(
            f"{path}: unknown weight file extension {ext or '(none)'!r}; expected one of "
            f"{', '.join(SAFETENSORS_EXTENSIONS + PICKLE_EXTENSIONS)}"
        )
    if not sd:
        raise WeightsError(f"{path}: the file holds no tensors")
    if device != "cpu":
        sd = OrderedDict((k, v.to(device)) for k, v in sd.items())
    return sd


# ---------------------------------------------------------------------------------------------
# strict loading


def expected_shapes(module: torch.nn.Module) -> "OrderedDict[str, Tuple[int, ...]]":
    return OrderedDict((k, tuple(v.shape)) for k, v in module.state_dict().items())


def adapt_linear_conv_shapes(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, Sequence[int]]
) -> "OrderedDict[str, torch.Tensor]":
    """Reshape weights that differ only by trailing 1x1 dims (1x1 conv [o,i,1,1] <-> linear [o,i])."""
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, v in state_dict.items():
        want = expected.get(k)
        if want is not None and tuple(v.shape) != tuple(want):
            a = [d for d in v.shape]
            b = [d for d in want]
            while len(a) > 2 and a[-1] == 1:
                a.pop()
            while len(b) > 2 and b[-1] == 1:
                b.pop()
            if a == b:
                v = v.reshape(tuple(want))
        out[k] = v
    return out


def check_state_dict(
    expected: Mapping[str, Sequence[int]], state_dict: Mapping[str, torch.Tensor], what: str
) -> None:
    """Raise WeightsError listing missing keys, unexpected keys and shape mismatches."""
    exp_keys = set(expected)
    got_keys = set(state_dict)
    missing = exp_keys - got_keys
    unexpected = got_keys - exp_keys
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(expected[k])}"
        for k in sorted(exp_keys & got_keys)
        if tuple(state_dict[k].shape) != tuple(expected[k])
    ]
    problems: List[str] = []
    if missing:
        problems.append(f"missing keys ({format_keys(missing)})")
    if unexpected:
        problems.append(f"unexpected keys ({format_keys(unexpected)})")
    if mismatched:
        head = "; ".join(mismatched[:20])
        more = f"; ... ({len(mismatched) - 20} more)" if len(mismatched) > 20 else ""
        problems.append(f"shape mismatches ({len(mismatched)}: {head}{more})")
    if problems:
        raise WeightsError(f"{what}: the weights do not fit the model: " + "; ".join(problems))


def load_into(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> torch.nn.Module:
    """Strictly load ``state_dict`` into ``module`` (values are cast to the module's dtypes).

    Every parameter and persistent buffer must be provided with its exact shape (1x1-conv vs
    linear layouts are reconciled), and nothing else may be provided.
    """
    expected = expected_shapes(module)
    sd = adapt_linear_conv_shapes(state_dict, expected)
    check_state_dict(expected, sd, what)
    with torch.no_grad():
        module.load_state_dict(sd, strict=True)
    return module


_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)


@contextlib.contextmanager
def no_weight_init():
    """Skip ``torch.nn.init`` fills while building a module whose every parameter will be
    overwritten by :func:`load_into` (strict, so nothing can stay uninitialised). Buffers computed
    in constructors (positional tables) are unaffected."""
    saved = {n: getattr(torch.nn.init, n) for n in _INIT_FUNCTIONS if hasattr(torch.nn.init, n)}

    def skip(tensor, *args, **kwargs):
        return tensor

    try:
        for n in saved:
            setattr(torch.nn.init, n, skip)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)
