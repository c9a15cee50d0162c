"""Weight-only int8: the UNet's Linear and Conv2d weights stored as int8 with one float scale per
output channel (symmetric, scale = max|w| / 127), dequantized inside forward, one layer at a time.

Why weight-only and not torch's quantized ops: those need a quantized engine at load time
(fbgemm is missing from Debian's libtorch 1.13, qnnpack kernels differ across builds), while these
modules are plain TorchScript (int8 buffers, a cast, a multiply, F.linear / F.conv2d) and run the
same on libtorch 1.13 and 2.x, on CPU and CUDA. Weights take a quarter of float32's memory; the
activations stay in the compute dtype.
"""

from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resnet import InflatedConv3d, fold_frames, unfold_frames


def _quantize(weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per output channel (dim 0): int8 values and float scales of shape [O, 1, ...]."""
    w = weight.detach().float()
    amax = w.abs().reshape(w.shape[0], -1).amax(dim=1).clamp(min=1e-12)
    scale = (amax / 127.0).reshape([w.shape[0]] + [1] * (w.dim() - 1))
    q = torch.round(w / scale).clamp(-127, 127).to(torch.int8)
    return q, scale.to(weight.dtype)


def _bias(layer: nn.Module, features: int) -> torch.Tensor:
    """The layer's bias, or zeros (TorchScript wants one tensor type), in the weight's dtype."""
    bias = getattr(layer, "bias", None)
    return bias.detach() if bias is not None else torch.zeros(features, dtype=layer.weight.dtype)


class Int8Linear(nn.Module):
    """nn.Linear with an int8 weight and per-output-channel scales."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        q, scale = _quantize(linear.weight)
        self.register_buffer("weight_int8", q)
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", _bias(linear, linear.out_features))
        self.in_features = linear.in_features
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight_int8.to(self.weight_scale.dtype) * self.weight_scale
        return F.linear(x, w, self.bias)


class _StoredConv2d(nn.Module):
    """A Conv2d (or InflatedConv3d: 5-D input runs per frame) whose weight is stored otherwise than in the
    compute dtype; subclasses store it and say how to make the compute weight (`weight()`)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.register_buffer("bias", _bias(conv, conv.out_channels))
        self.stride: Tuple[int, int] = (int(conv.stride[0]), int(conv.stride[1]))
        self.padding: Tuple[int, int] = (int(conv.padding[0]), int(conv.padding[1]))
        self.dilation: Tuple[int, int] = (int(conv.dilation[0]), int(conv.dilation[1]))
        self.groups = int(conv.groups)

    def weight(self) -> torch.Tensor:
        raise NotImplementedError

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:
            f = x.shape[2]
            return unfold_frames(self._conv(fold_frames(x)), f)
        return self._conv(x)


class Int8Conv2d(_StoredConv2d):
    """nn.Conv2d (or InflatedConv3d) with an int8 weight and per-output-channel scales."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__(conv)
        q, scale = _quantize(conv.weight)
        self.register_buffer("weight_int8", q)
        self.register_buffer("weight_scale", scale)

    def weight(self) -> torch.Tensor:
        return self.weight_int8.to(self.weight_scale.dtype) * self.weight_scale


class Float16Conv2d(_StoredConv2d):
    """nn.Conv2d (or InflatedConv3d) with its weight stored in float16 and computed in the bias's dtype,
    as stable-diffusion.cpp stores every convolution kernel, its float32 runs included."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__(conv)
        self.register_buffer("weight_f16", conv.weight.detach().to(torch.float16))

    def weight(self) -> torch.Tensor:
        return self.weight_f16.to(self.bias.dtype)


def _convertible_conv(child: nn.Module) -> bool:
    return type(child) in (nn.Conv2d, InflatedConv3d) and child.padding_mode == "zeros" and not isinstance(child.padding, str)


def float16_convs_(module: nn.Module, skip: Tuple[str, ...] = ("conv_in",)) -> Dict[str, int]:
    """Stores every zero-padded Conv2d / InflatedConv3d weight below `module` (but `skip`) in float16;
    Linear layers stay as they are. Returns {'linear': 0, 'conv': n, 'params': converted values}."""
    counts = {"linear": 0, "conv": 0, "params": 0}
    for parent_name, parent in list(module.named_modules()):
        for name, child in list(parent.named_children()):
            full = f"{parent_name}.{name}" if parent_name else name
            if full not in skip and _convertible_conv(child):
                setattr(parent, name, Float16Conv2d(child))
                counts["conv"] += 1
                counts["params"] += child.weight.numel()
    return counts


def quantize_int8_(module: nn.Module, skip: Tuple[str, ...] = ("conv_in",)) -> Dict[str, int]:
    """Replaces, in place, every nn.Linear and zero-padded nn.Conv2d / InflatedConv3d below `module`
    (except the children named in `skip`: the UNet reads conv_in.weight's dtype) with its int8 form.
    Returns counts: {'linear': n, 'conv': n, 'params': quantized weight values}."""
    counts = {"linear": 0, "conv": 0, "params": 0}
    for parent_name, parent in list(module.named_modules()):
        for name, child in list(parent.named_children()):
            full = f"{parent_name}.{name}" if parent_name else name
            if full in skip:
                continue
            if type(child) is nn.Linear:
                setattr(parent, name, Int8Linear(child))
                counts["linear"] += 1
                counts["params"] += child.weight.numel()
            elif _convertible_conv(child):
                setattr(parent, name, Int8Conv2d(child))
                counts["conv"] += 1
                counts["params"] += child.weight.numel()
    return counts
