"""TorchScript export of the three components + ``model.yaml`` manifest.

Layout written by :func:`export_model` into ``out_dir``::

    model.yaml                        manifest (written LAST; its presence means "complete")
    unet/model.pt                     torch.jit.script(UNet3DConditionModel)
    unet/config.json                  our UNet3DConfig (+ _class_name)
    vae/decoder.pt                    VAEDecoderModule: raw latents [N,4,h,w] -> images [N,3,8h,8w]
    vae/encoder.pt                    VAEEncoderModule: images [N,3,H,W] -> latent mean; .moments()
    vae/config.json
    text_encoder/model.pt             CLIPTextModel: (input_ids [B,77] int64, clip_skip: int = 0) -> [B,77,D]
    text_encoder/config.json
    scheduler/scheduler_config.json   AnimateDiff's DDIM settings (diffusers keys)

Every module is exported with ``torch.jit.script`` (never traced), so batch, frames and
spatial size stay dynamic. Files are written atomically (temp file + ``os.replace``).

Calling conventions (what the TypeScript side relies on):

* ``unet(sample [B,4,F,h,w], timestep [B] | [] float or int64, encoder_hidden_states [B,77,C]) -> eps [B,4,F,h,w]``
  (computes in the weights' dtype, returns the dtype of ``sample``; F <= motion max frames)
* ``vae_decode(latents [N,4,h,w]) -> images [N,3,8h,8w]`` in ~[-1,1]; the caller divides by
  ``vae.scaling_factor`` first.
* ``vae_encode(images [N,3,H,W]) -> mean [N,4,H/8,W/8]`` (unscaled; multiply by scaling_factor);
  ``vae_encode.moments(images) -> (mean, logvar)``.
* ``text_encoder(input_ids [B,77] int64, clip_skip: int = 0) -> [B,77,D]``.
"""

import hashlib
import json
import math
import os
import tempfile
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from . import __version__ as PACKAGE_VERSION
from .attention import resolve_backend
from .clip_text import CLIPTextModel
from .unet3d import UNet3DConditionModel
from .vae import AutoencoderKL, VAEDecoderModule, VAEEncoderModule

EXPORT_VERSION = 1  # bump when the layout / calling conventions change
FAMILY = "animatediff-sd15"
TEXT_MAX_LENGTH = 77

# AnimateDiff's inference scheduler (configs/inference/inference-v*.yaml); everything else
# is a DDIMScheduler constructor default (1000 steps, set_alpha_to_one, epsilon, "leading").
SCHEDULER_CONFIG: Dict[str, Any] = {
    "_class_name": "DDIMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "linear",
    "steps_offset": 1,
    "clip_sample": False,
}

UNET_FILE = "unet/model.pt"
UNET_CONFIG_FILE = "unet/config.json"
VAE_DECODER_FILE = "vae/decoder.pt"
VAE_ENCODER_FILE = "vae/encoder.pt"
VAE_CONFIG_FILE = "vae/config.json"
TEXT_ENCODER_FILE = "text_encoder/model.pt"
TEXT_ENCODER_CONFIG_FILE = "text_encoder/config.json"
SCHEDULER_FILE = "scheduler/scheduler_config.json"
MANIFEST_FILE = "model.yaml"

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


class ExportError(RuntimeError):
    pass


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


# ---------------------------------------------------------------------------------------------
# files


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: str, write: Callable[[str], None]) -> None:
    """Writes through ``write(tmp_path)`` into a temp file next to ``path``, fsyncs, then os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    _atomic(path, write)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any, indent: Optional[int] = 2) -> None:
    if indent is None:
        text = json.dumps(obj, separators=(",", ":"))
    else:
        text = json.dumps(obj, indent=indent)
    atomic_write_text(path, text + "\n")


def atomic_jit_save(module: torch.jit.ScriptModule, path: str) -> None:
    _atomic(path, lambda tmp: torch.jit.save(module, tmp))


def file_entry(out_dir: str, rel: str) -> Dict[str, Any]:
    path = os.path.join(out_dir, rel)
    return {"sha256": sha256_file(path), "bytes": os.path.getsize(path)}


# ---------------------------------------------------------------------------------------------
# scripting


def script(module: nn.Module, freeze: bool = False, preserved_attrs: Sequence[str] = ()) -> torch.jit.ScriptModule:
    """``torch.jit.script`` in eval mode; optional ``torch.jit.freeze``.

    Freezing inlines weights as constants: slightly less dispatch overhead, but the
    module can then no longer be moved with ``.to(device)`` or have weights patched
    (LoRA) from libtorch, so it is off by default.
    """
    module = module.eval()
    scripted = torch.jit.script(module)
    if freeze:
        scripted = torch.jit.freeze(scripted, preserved_attrs=list(preserved_attrs))
    return scripted


def _prepare(module: nn.Module, dtype: torch.dtype, device: Union[str, torch.device]) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(device=torch.device(device), dtype=dtype).eval()


def _max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def _check_close(what: str, ref: torch.Tensor, got: torch.Tensor, dtype: torch.dtype) -> None:
    if ref.shape != got.shape:
        raise ExportError(f"{what}: scripted output shape {tuple(got.shape)} != eager {tuple(ref.shape)}")
    scale = max(1.0, float(ref.float().abs().max()))
    tol = (1e-4 if dtype == torch.float32 else 2e-2) * scale
    diff = _max_abs_diff(ref, got)
    if not math.isfinite(diff) or diff > tol:
        raise ExportError(f"{what}: scripted output differs from eager by {diff:.3g} (tolerance {tol:.3g})")


def _probe_inputs_unet(unet: UNet3DConditionModel, device, dtype, b: int, f: int, h: int, w: int):
    g = torch.Generator().manual_seed(1234)
    cfg = unet.config
    sample = torch.randn(b, cfg.in_channels, f, h, w, generator=g).to(device=device, dtype=dtype)
    t = torch.tensor([981, 1, 500, 250][:b] + [10] * max(0, b - 4), dtype=torch.int64, device=device)
    text = torch.randn(b, TEXT_MAX_LENGTH, cfg.cross_attention_dim, generator=g).to(device=device, dtype=dtype)
    return sample, t, text


def verify_unet(eager: nn.Module, scripted: torch.jit.ScriptModule, device, dtype,
                shapes: Sequence[Tuple[int, int, int, int]] = ((1, 2, 8, 8), (2, 3, 5, 7))) -> None:
    """Compares scripted vs eager at a few (B, F, h, w), the second deliberately odd-sized."""
    with torch.no_grad():
        for (b, f, h, w) in shapes:
            args = _probe_inputs_unet(eager, device, dtype, b, f, h, w)
            _check_close(f"unet at B={b} F={f} {h}x{w}", eager(*args), scripted(*args), dtype)


def verify_vae(vae: AutoencoderKL, dec: torch.jit.ScriptModule, enc: torch.jit.ScriptModule, device, dtype) -> None:
    g = torch.Generator().manual_seed(4321)
    lc = vae.config.latent_channels
    with torch.no_grad():
        for (n, h, w) in ((1, 4, 4), (2, 3, 5)):
            z = torch.randn(n, lc, h, w, generator=g).to(device=device, dtype=dtype)
            _check_close(f"vae decode at N={n} {h}x{w}", vae.decode(z), dec(z), dtype)
            x = torch.rand(n, vae.config.in_channels, 8 * h, 8 * w, generator=g).to(device=device, dtype=dtype) * 2 - 1
            _check_close(f"vae encode at N={n} {8*h}x{8*w}", vae.encode_mean(x), enc(x), dtype)


def verify_text(text: CLIPTextModel, scripted: torch.jit.ScriptModule, device, dtype) -> None:
    g = torch.Generator().manual_seed(99)
    cfg = text.config
    with torch.no_grad():
        for b in (1, 2):
            ids = torch.randint(0, cfg.vocab_size, (b, cfg.max_position_embeddings), generator=g).to(device)
            for skip in (0, 1):
                if skip <= cfg.num_hidden_layers:
                    _check_close(f"text encoder B={b} clip_skip={skip}", text(ids, skip), scripted(ids, skip), dtype)


# ---------------------------------------------------------------------------------------------
# manifest


def _yaml_dump(obj: Any) -> str:
    try:
        import yaml  # type: ignore

        return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    except ImportError:  # JSON is valid YAML 1.2
        return json.dumps(obj, indent=2) + "\n"


def build_manifest(
    *,
    name: str,
    motion_module_version: str,
    numerics: str,
    dtype: Union[str, torch.dtype],
    sample_size: Tuple[int, int],
    in_channels: int,
    cross_attention_dim: int,
    vae_file: str,
    scaling_factor: float,
    unet_file: str,
    files: Mapping[str, Mapping[str, Any]],
    text_encoder_file: Optional[str] = None,
    vae_encoder_file: Optional[str] = None,
    max_frames: Optional[int] = None,
    text_hidden_size: Optional[int] = None,
    text_num_layers: Optional[int] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    dt = dtype_name(parse_dtype(dtype))
    motion: Dict[str, Any] = {"version": motion_module_version}
    if max_frames is not None:
        motion["max_frames"] = int(max_frames)
    vae: Dict[str, Any] = {"file": vae_file, "scaling_factor": float(scaling_factor), "format": "torchscript"}
    if vae_encoder_file is not None:
        vae["encoder_file"] = vae_encoder_file
    manifest: Dict[str, Any] = {
        "name": name,
        "family": FAMILY,
        "motion_module": motion,
        "numerics": numerics,
        "dtype": dt,
        "sample_size": [int(sample_size[0]), int(sample_size[1])],
        "in_channels": int(in_channels),
        "cross_attention_dim": int(cross_attention_dim),
        "text_max_length": TEXT_MAX_LENGTH,
        "unet": {"file": unet_file, "format": "torchscript"},
        "vae": vae,
    }
    if text_encoder_file is not None:
        te: Dict[str, Any] = {"file": text_encoder_file, "format": "torchscript"}
        if text_hidden_size is not None:
            te["hidden_size"] = int(text_hidden_size)
        if text_num_layers is not None:
            te["num_layers"] = int(text_num_layers)
        manifest["text_encoder"] = te
    manifest["scheduler"] = dict(SCHEDULER_CONFIG)
    manifest["files"] = {k: {"sha256": v["sha256"], "bytes": int(v["bytes"])} for k, v in sorted(files.items())}
    manifest["animatorch_export_version"] = EXPORT_VERSION
    if extra:
        for k, v in extra.items():
            if k in manifest:
                raise ExportError(f"manifest: extra key {k!r} would overwrite a standard field")
            manifest[k] = v
    return manifest


def write_manifest(out_dir: str, manifest: Optional[Mapping[str, Any]] = None, **fields: Any) -> str:
    """Writes ``out_dir/model.yaml`` atomically. Pass a ready ``manifest`` or the keyword
    arguments of :func:`build_manifest`. Returns the path."""
    if manifest is None:
        manifest = build_manifest(**fields)
    elif fields:
        raise TypeError("write_manifest: pass either manifest or fields, not both")
    path = os.path.join(out_dir, MANIFEST_FILE)
    header = "# animatorch model manifest (written by scripts/animatorch_export/export.py)\n"
    atomic_write_text(path, header + _yaml_dump(dict(manifest)))
    return path


def read_manifest(out_dir: str) -> Dict[str, Any]:
    import yaml  # type: ignore

    with open(os.path.join(out_dir, MANIFEST_FILE), "r", encoding="utf-8") as f:
        return yaml.safe_load(f)


def verify_files(out_dir: str, manifest: Optional[Mapping[str, Any]] = None) -> None:
    """Raises ExportError if any file listed in the manifest is missing or has another hash/size."""
    manifest = manifest if manifest is not None else read_manifest(out_dir)
    for rel, entry in manifest["files"].items():
        path = os.path.join(out_dir, rel)
        if not os.path.isfile(path):
            raise ExportError(f"{rel}: missing")
        if os.path.getsize(path) != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise ExportError(f"{rel}: size or sha256 differs from the manifest")


# ---------------------------------------------------------------------------------------------
# export


def export_model(
    unet: UNet3DConditionModel,
    vae: AutoencoderKL,
    text_encoder: Optional[CLIPTextModel],
    out_dir: str,
    dtype: Union[str, torch.dtype] = torch.float32,
    device: Union[str, torch.device] = "cpu",
    name: Optional[str] = None,
    freeze: bool = False,
    verify: bool = True,
    export_vae_encoder: bool = True,
    extra_manifest: Optional[Mapping[str, Any]] = None,
    log: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Scripts and saves unet / vae decoder (+ encoder) / text encoder, then writes the manifest.

    The modules are converted IN PLACE to ``dtype`` on ``device`` (no second copy of a 5 GB UNet).
    float16 cannot run on CPU: exporting float16 with ``device='cpu'`` is allowed (the files hold
    CPU half tensors; load them onto CUDA), but then ``verify`` is skipped.
    Returns the manifest dict.
    """
    say = log or (lambda msg: None)
    dt = parse_dtype(dtype)
    dev = torch.device(device)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    if name is None:
        name = os.path.basename(out_dir.rstrip(os.sep)) or "animatediff"
    manifest_path = os.path.join(out_dir, MANIFEST_FILE)
    if os.path.exists(manifest_path):  # an interrupted re-export must not look complete
        os.unlink(manifest_path)
    do_verify = verify and can_run(dt, dev)
    if verify and not do_verify:
        say(f"note: {dtype_name(dt)} cannot run on {dev}; skipping the scripted-vs-eager check")

    written: List[str] = []
    ucfg = unet.config

    say("unet: scripting")
    _prepare(unet, dt, dev)
    s_unet = script(unet, freeze=freeze)
    if do_verify:
        verify_unet(unet, s_unet, dev, dt)
    atomic_jit_save(s_unet, os.path.join(out_dir, UNET_FILE))
    atomic_write_json(os.path.join(out_dir, UNET_CONFIG_FILE), {"_class_name": "UNet3DConditionModel", **ucfg.to_dict()})
    written += [UNET_FILE, UNET_CONFIG_FILE]
    del s_unet

    say("vae: scripting decoder" + (" and encoder" if export_vae_encoder else ""))
    _prepare(vae, dt, dev)
    s_dec = script(VAEDecoderModule(vae), freeze=freeze)
    s_enc = script(VAEEncoderModule(vae), freeze=freeze, preserved_attrs=("moments",)) if export_vae_encoder else None
    if do_verify:
        if s_enc is not None:
            verify_vae(vae, s_dec, s_enc, dev, dt)
        else:
            verify_vae(vae, s_dec, script(VAEEncoderModule(vae)), dev, dt)
    atomic_jit_save(s_dec, os.path.join(out_dir, VAE_DECODER_FILE))
    written.append(VAE_DECODER_FILE)
    if s_enc is not None:
        atomic_jit_save(s_enc, os.path.join(out_dir, VAE_ENCODER_FILE))
        written.append(VAE_ENCODER_FILE)
    atomic_write_json(os.path.join(out_dir, VAE_CONFIG_FILE), {"_class_name": "AutoencoderKL", **vae.config.to_dict()})
    written.append(VAE_CONFIG_FILE)

    if text_encoder is not None:
        say("text encoder: scripting")
        _prepare(text_encoder, dt, dev)
        s_text = script(text_encoder, freeze=freeze)
        if do_verify:
            verify_text(text_encoder, s_text, dev, dt)
        atomic_jit_save(s_text, os.path.join(out_dir, TEXT_ENCODER_FILE))
        atomic_write_json(
            os.path.join(out_dir, TEXT_ENCODER_CONFIG_FILE),
            {"_class_name": "CLIPTextModel", "architectures": ["CLIPTextModel"], **text_encoder.config.to_dict()},
        )
        written += [TEXT_ENCODER_FILE, TEXT_ENCODER_CONFIG_FILE]

    atomic_write_json(os.path.join(out_dir, SCHEDULER_FILE), SCHEDULER_CONFIG)
    written.append(SCHEDULER_FILE)

    files = {rel: file_entry(out_dir, rel) for rel in written}
    extra: Dict[str, Any] = {
        "export": {
            "torch_version": str(torch.__version__),
            "package_version": PACKAGE_VERSION,
            "device": str(dev),
            "frozen": bool(freeze),
            "attention_backend": resolve_backend(ucfg.attention_backend),
        }
    }
    if extra_manifest:
        extra.update(extra_manifest)
    manifest = build_manifest(
        name=name,
        motion_module_version=ucfg.motion_module_version,
        numerics=ucfg.numerics,
        dtype=dt,
        sample_size=(ucfg.sample_size, ucfg.sample_size),
        in_channels=ucfg.in_channels,
        cross_attention_dim=ucfg.cross_attention_dim,
        vae_file=VAE_DECODER_FILE,
        vae_encoder_file=VAE_ENCODER_FILE if export_vae_encoder else None,
        scaling_factor=vae.config.scaling_factor,
        unet_file=UNET_FILE,
        text_encoder_file=TEXT_ENCODER_FILE if text_encoder is not None else None,
        text_hidden_size=text_encoder.config.hidden_size if text_encoder is not None else None,
        text_num_layers=text_encoder.config.num_hidden_layers if text_encoder is not None else None,
        max_frames=ucfg.motion_max_seq_length if ucfg.use_motion_module else None,
        files=files,
        extra=extra,
    )
    write_manifest(out_dir, manifest)
    say(f"wrote {manifest_path}")
    return manifest


# ---------------------------------------------------------------------------------------------
# random weights and reference outputs (tests, Node fixtures)


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
                loaded[case["file"]] = torch.jit.load(os.path.join(out_dir, case["file"]), map_location=dev)
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
