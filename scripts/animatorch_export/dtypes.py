"""Export dtypes: names <-> torch dtypes, and which dtype can run where."""

from typing import Union

import torch

from .errors import ExportError

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def parse_dtype(dtype: Union[str, torch.dtype]) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ExportError(f"unsupported export dtype {dtype} (float32, float16 or bfloat16)")
        return dtype
    key = str(dtype).lower().replace("torch.", "")
    if key not in _DTYPES:
        raise ExportError(f"unknown dtype {dtype!r}; expected float32, float16 or bfloat16")
    return _DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}[dtype]


def can_run(dtype: torch.dtype, device: Union[str, torch.device]) -> bool:
    """float16 convolutions do not exist on CPU (torch 1.13/2.x); everything else runs."""
    return not (torch.device(device).type == "cpu" and dtype == torch.float16)
