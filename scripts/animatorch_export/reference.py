"""Random weights and reference outputs for tests and Node fixtures: deterministic weights that
do not depend on construction order, tensors as JSON, and the eager outputs an exported folder's
TorchScript files must reproduce."""

import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import torch
import torch.nn as nn

from .dtypes import can_run, dtype_name, parse_dtype
from .errors import ExportError
from .mapped_weights import load_module
from .manifest import TEXT_ENCODER_FILE, TEXT_MAX_LENGTH, UNET_FILE, VAE_DECODER_FILE, VAE_ENCODER_FILE

def randomize_weights_(module: nn.Module, seed: int, gain: float = 1.0) -> nn.Module:
    """Deterministic random weights from ``seed`` that do not depend on construction order:
    matrices ~ N(0, gain^2/fan_in), biases ~ N(0, 0.02^2), norm weights ~ 1 + N(0, 0.1^2),
    norm biases ~ N(0, 0.1^2), embeddings ~ N(0, 1). Zero-initialised proj_outs become non-zero,
    so motion modules are exercised. Parameters are visited in sorted-name order."""
    g = torch.Generator().manual_seed(int(seed))
    norm_types = (nn.GroupNorm, nn.LayerNorm)
    owners: Dict[str, nn.Module] = {}
    for mname, mod in module.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            owners[f"{mname}.{pname}" if mname else pname] = mod
    params = dict(module.named_parameters())
    with torch.no_grad():
        for key in sorted(params):
            p = params[key]
            owner = owners[key]
            leaf = key.rsplit(".", 1)[-1]
            if isinstance(owner, norm_types):
                r = torch.randn(p.shape, generator=g) * 0.1
                if leaf == "weight":
                    r += 1.0
            elif isinstance(owner, nn.Embedding):
                r = torch.randn(p.shape, generator=g)
            elif leaf == "bias":
                r = torch.randn(p.shape, generator=g) * 0.02
            else:
                fan_in = max(1, p[0].numel()) if p.dim() > 1 else p.numel()
                r = torch.randn(p.shape, generator=g) * (gain / math.sqrt(fan_in))
            p.copy_(r.to(dtype=p.dtype, device=p.device))
    return module


def tensor_to_json(t: torch.Tensor) -> Dict[str, Any]:
    """{"shape", "dtype", "data"}: data flattened row-major; floats written with float32 precision."""
    dtype = str(t.dtype).replace("torch.", "")
    flat = t.detach().cpu().reshape(-1)
    if t.is_floating_point():
        data = [float(str(v)) for v in flat.float().numpy()]  # shortest float32 repr (numpy 2 repr() says np.float32(...))
    else:
        data = [int(v) for v in flat.tolist()]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def tensor_from_json(obj: Mapping[str, Any]) -> torch.Tensor:
    dtype = getattr(torch, obj["dtype"])
    return torch.tensor(obj["data"], dtype=torch.float32 if dtype.is_floating_point else dtype).to(dtype).reshape(obj["shape"])


def reference_cases(
    unet_cfg,
    vae_cfg,
    text_cfg,
    seed: int = 0,
) -> List[Dict[str, Any]]:
    """Fixed inputs (float32, CPU) for the reference file; outputs are filled by :func:`compute_reference`."""
    g = torch.Generator().manual_seed(int(seed) + 7)
    c_text = unet_cfg.cross_attention_dim
    cases: List[Dict[str, Any]] = []

    def arg(name: str, value: Any) -> Dict[str, Any]:
        if isinstance(value, torch.Tensor):
            return {"name": name, "tensor": value}
        return {"name": name, "int": int(value)}

    for (b, f, h, w, t) in ((2, 4, 8, 8, [981, 1]), (1, 3, 6, 10, [500])):
        cases.append(
            {
                "name": f"unet_b{b}_f{f}_{h}x{w}",
                "component": "unet",
                "file": UNET_FILE,
                "method": "forward",
                "args": [
                    arg("sample", torch.randn(b, unet_cfg.in_channels, f, h, w, generator=g)),
                    arg("timestep", torch.tensor(t, dtype=torch.int64)),
                    arg("encoder_hidden_states", torch.randn(b, TEXT_MAX_LENGTH, c_text, generator=g)),
                ],
            }
        )
    cases.append(
        {
            "name": "unet_float_timestep",
            "component": "unet",
            "file": UNET_FILE,
            "method": "forward",
            "args": [
                arg("sample", torch.randn(1, unet_cfg.in_channels, 2, 4, 4, generator=g)),
                arg("timestep", torch.tensor([321.5], dtype=torch.float32)),
                arg("encoder_hidden_states", torch.randn(1, TEXT_MAX_LENGTH, c_text, generator=g)),
            ],
        }
    )
    cases.append(
        {
            "name": "vae_decode_n2_4x4",
            "component": "vae_decoder",
            "file": VAE_DECODER_FILE,
            "method": "forward",
            "args": [arg("latents", torch.randn(2, vae_cfg.latent_channels, 4, 4, generator=g))],
        }
    )
    cases.append(
        {
            "name": "vae_encode_n1_32x32",
            "component": "vae_encoder",
            "file": VAE_ENCODER_FILE,
            "method": "forward",
            "args": [arg("images", torch.rand(1, vae_cfg.in_channels, 32, 32, generator=g) * 2 - 1)],
        }
    )
    if text_cfg is not None:
        ids = torch.full((2, TEXT_MAX_LENGTH), 49407, dtype=torch.int64)
        ids[:, 0] = 49406
        words = torch.randint(0, min(text_cfg.vocab_size, 49406), (2, 6), generator=g)
        ids[0, 1:7] = words[0]
        ids[1, 1:4] = words[1, :3]
        ids[0, 7] = 49407
        ids[1, 4] = 49407
        ids = ids.clamp(max=text_cfg.vocab_size - 1)
        for skip in (0, 1):
            cases.append(
                {
                    "name": f"text_encoder_clip_skip_{skip}",
                    "component": "text_encoder",
                    "file": TEXT_ENCODER_FILE,
                    "method": "forward",
                    "args": [arg("input_ids", ids), arg("clip_skip", skip)],
                }
            )
    return cases


def _run_case(module, case: Mapping[str, Any], dtype: torch.dtype, device) -> torch.Tensor:
    args: List[Any] = []
    for a in case["args"]:
        if "tensor" in a:
            t = a["tensor"]
            if t.is_floating_point() and a["name"] != "timestep":
                t = t.to(dtype)
            args.append(t.to(device))
        else:
            args.append(a["int"])
    with torch.no_grad():
        fn = module if case["method"] == "forward" else getattr(module, case["method"])
        return fn(*args)


def compute_reference(
    out_dir: str,
    cases: List[Dict[str, Any]],
    dtype: Union[str, torch.dtype],
    device: Union[str, torch.device] = "cpu",
    eager: Optional[Mapping[str, Callable]] = None,
) -> Dict[str, Any]:
    """Runs every case through the EXPORTED file (torch.jit.load) when ``dtype`` can run on ``device``,
    else through ``eager[component]`` (float32). Returns the JSON-able reference document."""
    dt = parse_dtype(dtype)
    dev = torch.device(device)
    use_files = can_run(dt, dev)
    run_dtype = dt if use_files else torch.float32
    loaded: Dict[str, Any] = {}
    out_cases = []
    for case in cases:
        if use_files:
            if case["file"] not in loaded:
                loaded[case["file"]] = load_module(os.path.join(out_dir, case["file"]), map_location=dev)
            module = loaded[case["file"]]
        else:
            if eager is None or case["component"] not in eager:
                raise ExportError(f"reference: {dtype_name(dt)} cannot run on {dev} and no eager module given")
            module = eager[case["component"]]
        y = _run_case(module, case, run_dtype, dev if use_files else "cpu")
        args_json = []
        for a in case["args"]:
            if "tensor" in a:
                args_json.append({"name": a["name"], **tensor_to_json(a["tensor"])})
            else:
                args_json.append({"name": a["name"], "int": a["int"]})
        out_cases.append(
            {
                "name": case["name"],
                "component": case["component"],
                "file": case["file"],
                "method": case["method"],
                "args": args_json,
                "output": tensor_to_json(y),
            }
        )
    tol = {"float32": {"atol": 1e-4, "rtol": 1e-3}, "float16": {"atol": 2e-2, "rtol": 2e-2}, "bfloat16": {"atol": 5e-2, "rtol": 5e-2}}
    return {
        "format": "animatorch-reference",
        "version": 1,
        "description": (
            "Inputs are float32 (int64 for ids/timesteps); the module computes in `dtype` and returns the input dtype "
            "(cast float inputs except timestep to `dtype` before calling, as done here). Compare outputs with "
            "|a-b| <= atol + rtol*|b|."
        ),
        "dtype": dtype_name(run_dtype),
        "device": str(dev if use_files else "cpu"),
        "computed_with": "torchscript-file" if use_files else "eager-float32",
        "torch_version": str(torch.__version__),
        "tolerance": tol[dtype_name(run_dtype)],
        "cases": out_cases,
    }
