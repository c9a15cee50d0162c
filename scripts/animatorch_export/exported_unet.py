"""An exported UNet back as our eager UNet3DConditionModel, for the scripts that rewrite an exported folder
(quantize_exported.py, map_weights.py) without the original checkpoints."""

import json
import os
from typing import Tuple

import torch

from .configs import UNet3DConfig
from .mapped_weights import load_module
from .unet3d import UNet3DConditionModel
from .weights import no_weight_init


def rebuild_unet(unet_file: str) -> Tuple[torch.jit.ScriptModule, UNet3DConditionModel]:
    """-> (the TorchScript UNet as loaded, mapped weights read back in; our eager UNet from the ``config.json``
    beside it, holding the same weights in eval mode, without gradients). ValueError when they do not fit."""
    with open(os.path.join(os.path.dirname(unet_file), "config.json"), encoding="utf-8") as f:
        cfg = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    scripted = load_module(unet_file)
    state = scripted.state_dict()
    dtype = next(iter(state.values())).dtype
    with no_weight_init():
        unet = UNet3DConditionModel(UNet3DConfig.from_dict(cfg), device="cpu", dtype=dtype)
    res = unet.load_state_dict(state, strict=False)
    # non-persistent buffers (the motion modules' positional tables) are in a scripted state_dict too
    buffers = dict(unet.named_buffers())
    extra = [k for k in res.unexpected_keys if k not in buffers]
    if res.missing_keys or extra:
        raise ValueError(f"{unet_file}: the UNet's weights do not match its config.json (missing {res.missing_keys[:5]}, unexpected {extra[:5]})")
    for k in res.unexpected_keys:
        buffers[k].copy_(state[k])
    unet.eval()
    for p in unet.parameters():
        p.requires_grad_(False)
    return scripted, unet
