"""export_model(): our PyTorch modules (already holding their weights) -> a TorchScript model folder.

The library step behind the ``scripts/export_animatediff.py`` command (which reads checkpoint
files, converts and loads their weights, then calls this). Tests and the demo call it directly.

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

import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from . import __version__ as PACKAGE_VERSION
from .atomic_io import atomic_jit_save, atomic_write_json
from .attention import resolve_backend
from .clip_text import CLIPTextModel
from .dtypes import can_run, dtype_name, parse_dtype
from .errors import ExportError
from .manifest import (
    MANIFEST_FILE,
    build_manifest,
    SCHEDULER_CONFIG,
    SCHEDULER_FILE,
    TEXT_ENCODER_CONFIG_FILE,
    TEXT_ENCODER_FILE,
    TEXT_MAX_LENGTH,
    UNET_CONFIG_FILE,
    UNET_FILE,
    VAE_CONFIG_FILE,
    VAE_DECODER_FILE,
    VAE_ENCODER_FILE,
    file_entry,
    write_manifest,
)
from .mapped_weights import paths as mapped_paths, register_release_op, unet_segments, write_mapped_weights
from .unet3d import UNet3DConditionModel
from .vae import AutoencoderKL, VAEDecoderModule, VAEEncoderModule


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


def export_model(
    unet: UNet3DConditionModel,
    vae: AutoencoderKL,
    text_encoder: Optional[CLIPTextModel],
    out_dir: str,
    dtype: Union[str, torch.dtype] = torch.float32,
    device: Union[str, torch.device] = "cpu",
    name: Optional[str] = None,
    freeze: bool = False,
    mapped_weights: bool = False,
    verify: bool = True,
    export_vae_encoder: bool = True,
    extra_manifest: Optional[Mapping[str, Any]] = None,
    log: Optional[Callable[[str], None]] = None,
) -> Dict[str, Any]:
    """Scripts and saves unet / vae decoder (+ encoder) / text encoder, then writes the manifest.

    The modules are converted IN PLACE to ``dtype`` on ``device`` (no second copy of a 5 GB UNet).
    float16 cannot run on CPU: exporting float16 with ``device='cpu'`` is allowed (the files hold
    CPU half tensors; load them onto CUDA), but then ``verify`` is skipped.
    ``mapped_weights``: the UNet's parameters go to ``unet/model.weights.bin`` (mapped_weights.py).
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

    if mapped_weights and freeze:
        raise ExportError("mapped weights need the parameters as module attributes; a frozen module inlines them (leave out freeze)")
    written: List[str] = []
    ucfg = unet.config

    say("unet: scripting")
    _prepare(unet, dt, dev)
    if mapped_weights:
        register_release_op()
        unet.release_weights = True
    s_unet = script(unet, freeze=freeze)
    if do_verify:
        verify_unet(unet, s_unet, dev, dt)
    if mapped_weights:
        say("unet: writing mapped weights")
        write_mapped_weights(s_unet, os.path.join(out_dir, UNET_FILE), unet_segments(len(unet.down_blocks), len(unet.up_blocks)))
        written += [os.path.relpath(p, out_dir) for p in mapped_paths(os.path.join(out_dir, UNET_FILE))]
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
            "mapped_weights": bool(mapped_weights),
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
