"""Stable Video Diffusion: a diffusers SVD / SVD-XT folder -> our modules -> a TorchScript model folder.

Layout written by :func:`export_svd_model` (``family: svd`` in model.yaml)::

    unet/model.pt            (sample [B,F,8,h,w], timestep [B]|[] float, image_embeds [B,1,D], added_time_ids [B,3]) -> [B,F,4,h,w]
    vae/decoder.pt           (raw latents [N,4,h,w], num_frames: int) -> images [N,3,8h,8w]
    vae/encoder.pt           images [N,3,H,W] in [-1,1] -> latent mean [N,4,H/8,W/8] (unscaled); .moments()
    image_encoder/model.pt   CLIP pixel_values [N,3,224,224] -> image_embeds [N,D]
    {unet,vae,image_encoder}/config.json, scheduler/scheduler_config.json
    model.yaml               written last

Weights are read with our safetensors reader (or weights-only torch pickles) and loaded strictly.
"""

import json
import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch

from . import __version__ as PACKAGE_VERSION
from .atomic_io import atomic_jit_save, atomic_write_json
from .attention import MATH_SLICE_ELEMENTS, resolve_backend
from .clip_vision import CLIPVisionModelWithProjection
from .dtypes import can_run, dtype_name, parse_dtype
from .errors import ExportError
from .manifest import EXPORT_VERSION, MANIFEST_FILE, file_entry, write_manifest
from .svd_configs import CLIPVisionConfig, SVDUNetConfig, TemporalVAEConfig
from .svd_unet import UNetSpatioTemporalConditionModel
from .svd_vae import AutoencoderKLTemporalDecoder, TemporalDecoderModule
from .torchscript_export import _check_close, _prepare, script
from .vae import VAEEncoderModule
from .weights import WeightsError, load_into, load_state_dict, no_weight_init

FAMILY = "svd"
UNET_FILE, UNET_CONFIG = "unet/model.pt", "unet/config.json"
VAE_DECODER_FILE, VAE_ENCODER_FILE, VAE_CONFIG = "vae/decoder.pt", "vae/encoder.pt", "vae/config.json"
IMAGE_ENCODER_FILE, IMAGE_ENCODER_CONFIG = "image_encoder/model.pt", "image_encoder/config.json"
SCHEDULER_FILE = "scheduler/scheduler_config.json"

# stabilityai/stable-video-diffusion-img2vid(-xt) scheduler/scheduler_config.json (EDM-style Euler).
SVD_SCHEDULER_CONFIG: Dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "use_karras_sigmas": True,
}
# CLIPImageProcessor of SVD's feature_extractor (OpenAI CLIP statistics).
CLIP_IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]

_WEIGHT_NAMES = ("diffusion_pytorch_model", "model")
_WEIGHT_EXTS = (".safetensors", ".fp16.safetensors", ".bin", ".fp16.bin")


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ExportError(f"{path}: missing (is this a diffusers Stable Video Diffusion folder?)") from None
    except ValueError as e:
        raise ExportError(f"{path}: invalid JSON ({e})") from None


def _weights_file(folder: str) -> str:
    for name in _WEIGHT_NAMES:
        for ext in _WEIGHT_EXTS:
            p = os.path.join(folder, name + ext)
            if os.path.isfile(p):
                return p
    raise ExportError(f"{folder}: no weights (expected diffusion_pytorch_model[.fp16].safetensors or model[.fp16].safetensors)")


def _load(module: torch.nn.Module, folder: str, what: str, drop: Tuple[str, ...] = ()) -> None:
    sd = load_state_dict(_weights_file(folder))
    sd = {k: v for k, v in sd.items() if not any(k.endswith(d) for d in drop)}
    dtypes = {v.dtype for v in sd.values()}
    if len(dtypes) > 1 or dtypes != {torch.float32}:
        sd = {k: v.float() for k, v in sd.items()}
    load_into(module, sd, what)


def load_svd_folder(path: str, attention_backend: str = "auto", log: Optional[Callable[[str], None]] = None):
    """A diffusers SVD / SVD-XT pipeline folder -> (unet, vae, image_encoder, scheduler_config, image_mean, image_std)."""
    say = log or (lambda msg: None)
    if not os.path.isdir(path):
        raise ExportError(f"--svd {path}: not a folder (expected a diffusers Stable Video Diffusion pipeline folder)")
    index = os.path.join(path, "model_index.json")
    if os.path.isfile(index):
        cls = _read_json(index).get("_class_name")
        if cls not in (None, "StableVideoDiffusionPipeline"):
            raise ExportError(f"{index}: _class_name {cls!r}, expected StableVideoDiffusionPipeline")
    ucfg = SVDUNetConfig.from_json(_read_json(os.path.join(path, "unet", "config.json"))).replace(attention_backend=attention_backend)
    vcfg = TemporalVAEConfig.from_json(_read_json(os.path.join(path, "vae", "config.json"))).replace(attention_backend=attention_backend)
    ccfg = CLIPVisionConfig.from_json(_read_json(os.path.join(path, "image_encoder", "config.json"))).replace(attention_backend=attention_backend)
    with no_weight_init():
        unet, vae, image_encoder = UNetSpatioTemporalConditionModel(ucfg), AutoencoderKLTemporalDecoder(vcfg), CLIPVisionModelWithProjection(ccfg)
    say("unet: loading weights")
    _load(unet, os.path.join(path, "unet"), "unet")
    say("vae: loading weights")
    _load(vae, os.path.join(path, "vae"), "vae")
    say("image encoder: loading weights")
    _load(image_encoder, os.path.join(path, "image_encoder"), "image_encoder", drop=("position_ids",))
    sched_path = os.path.join(path, "scheduler", "scheduler_config.json")
    scheduler = _read_json(sched_path) if os.path.isfile(sched_path) else dict(SVD_SCHEDULER_CONFIG)
    fe_path = os.path.join(path, "feature_extractor", "preprocessor_config.json")
    fe = _read_json(fe_path) if os.path.isfile(fe_path) else {}
    mean, std = fe.get("image_mean", CLIP_IMAGE_MEAN), fe.get("image_std", CLIP_IMAGE_STD)
    return unet, vae, image_encoder, scheduler, mean, std


def _verify(unet, s_unet, vae, s_dec, s_enc, enc, s_img, dev, dt) -> None:
    g = torch.Generator().manual_seed(2024)
    r = lambda *shape: torch.randn(*shape, generator=g).to(device=dev, dtype=dt)  # noqa: E731
    uc, cc = unet.config, enc.config
    with torch.no_grad():
        for (b, f, h, w) in ((1, 2, 8, 8), (2, 3, 5, 7)):
            args = (r(b, f, uc.in_channels, h, w), torch.tensor([0.7, -1.1][:b], device=dev), r(b, 1, uc.cross_attention_dim),
                    torch.tensor([[6.0, 127.0, 0.02]] * b, device=dev, dtype=dt))
            _check_close(f"unet at B={b} F={f} {h}x{w}", unet(*args), s_unet(*args), dt)
        z = r(4, vae.config.latent_channels, 3, 5)
        _check_close("vae decode (2 frames x 2)", vae.decode(z, 2), s_dec(z, 2), dt)
        x = r(2, 3, 24, 40)
        _check_close("vae encode", vae.encode_mean(x), s_enc(x), dt)
        px = r(2, 3, cc.image_size, cc.image_size)
        _check_close("image encoder", enc(px), s_img(px), dt)


def export_svd_model(
    unet: UNetSpatioTemporalConditionModel,
    vae: AutoencoderKLTemporalDecoder,
    image_encoder: CLIPVisionModelWithProjection,
    out_dir: str,
    scheduler_config: Optional[Dict[str, Any]] = None,
    image_mean: Optional[List[float]] = None,
    image_std: Optional[List[float]] = None,
    dtype: Union[str, torch.dtype] = torch.float32,
    device: Union[str, torch.device] = "cpu",
    name: Optional[str] = None,
    verify: bool = True,
    log: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Scripts the three modules (converted in place to ``dtype`` on ``device``), writes the folder; returns the manifest."""
    say = log or (lambda msg: None)
    dt, dev = parse_dtype(dtype), torch.device(device)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    name = name or os.path.basename(out_dir.rstrip(os.sep)) or "svd"
    manifest_path = os.path.join(out_dir, MANIFEST_FILE)
    if os.path.exists(manifest_path):
        os.unlink(manifest_path)
    do_verify = verify and can_run(dt, dev)
    for m in (unet, vae, image_encoder):
        _prepare(m, dt, dev)
    say("scripting unet, vae decoder/encoder, image encoder")
    s_unet = script(unet)
    s_dec = script(TemporalDecoderModule(vae))
    s_enc = script(VAEEncoderModule(vae), preserved_attrs=("moments",))  # type: ignore[arg-type]
    s_img = script(image_encoder)
    if do_verify:
        say("checking scripted against eager")
        _verify(unet, s_unet, vae, s_dec, s_enc, image_encoder, s_img, dev, dt)
    uc, vc, cc = unet.config, vae.config, image_encoder.config
    atomic_jit_save(s_unet, os.path.join(out_dir, UNET_FILE))
    atomic_jit_save(s_dec, os.path.join(out_dir, VAE_DECODER_FILE))
    atomic_jit_save(s_enc, os.path.join(out_dir, VAE_ENCODER_FILE))
    atomic_jit_save(s_img, os.path.join(out_dir, IMAGE_ENCODER_FILE))
    atomic_write_json(os.path.join(out_dir, UNET_CONFIG), {"_class_name": "UNetSpatioTemporalConditionModel", **uc.to_dict()})
    atomic_write_json(os.path.join(out_dir, VAE_CONFIG), {"_class_name": "AutoencoderKLTemporalDecoder", **vc.to_dict()})
    atomic_write_json(os.path.join(out_dir, IMAGE_ENCODER_CONFIG), {"_class_name": "CLIPVisionModelWithProjection", **cc.to_dict()})
    scheduler = dict(scheduler_config if scheduler_config is not None else SVD_SCHEDULER_CONFIG)
    scheduler = {k: v for k, v in scheduler.items() if k == "_class_name" or not k.startswith("_")}
    atomic_write_json(os.path.join(out_dir, SCHEDULER_FILE), scheduler)
    written = [UNET_FILE, UNET_CONFIG, VAE_DECODER_FILE, VAE_ENCODER_FILE, VAE_CONFIG, IMAGE_ENCODER_FILE, IMAGE_ENCODER_CONFIG, SCHEDULER_FILE]
    manifest: Dict[str, Any] = {
        "name": name,
        "family": FAMILY,
        "numerics": "diffusers",
        "dtype": dtype_name(dt),
        "sample_size": [int(uc.sample_size), int(uc.sample_size)],
        "in_channels": int(uc.in_channels),
        "cross_attention_dim": int(uc.cross_attention_dim),
        "unet": {"file": UNET_FILE, "format": "torchscript", "num_frames": int(uc.num_frames),
                 "out_channels": int(uc.out_channels), "addition_time_embed_dim": int(uc.addition_time_embed_dim)},
        "vae": {"file": VAE_DECODER_FILE, "encoder_file": VAE_ENCODER_FILE, "scaling_factor": float(vc.scaling_factor),
                "scale_factor": 2 ** (len(vc.block_out_channels) - 1), "format": "torchscript", "temporal_decoder": True},
        "image_encoder": {"file": IMAGE_ENCODER_FILE, "format": "torchscript", "image_size": int(cc.image_size),
                          "projection_dim": int(cc.projection_dim),
                          "image_mean": [float(v) for v in (image_mean or CLIP_IMAGE_MEAN)],
                          "image_std": [float(v) for v in (image_std or CLIP_IMAGE_STD)]},
        "scheduler": scheduler,
        # score elements per slice of the math attention path (attention.py), for lib's memory estimate
        "attention_slice_elements": MATH_SLICE_ELEMENTS,
        "files": {rel: file_entry(out_dir, rel) for rel in sorted(written)},
        "animatorch_export_version": EXPORT_VERSION,
        "export": {"torch_version": str(torch.__version__), "package_version": PACKAGE_VERSION, "device": str(dev),
                   "attention_backend": resolve_backend(uc.attention_backend)},
    }
    write_manifest(out_dir, manifest)
    say(f"wrote {manifest_path}")
    return manifest


__all__ = ["load_svd_folder", "export_svd_model", "SVD_SCHEDULER_CONFIG", "WeightsError"]
