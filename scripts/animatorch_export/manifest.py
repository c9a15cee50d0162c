"""The model folder's layout and its ``model.yaml`` manifest (what lib/model-manifest.ts reads):
file names, AnimateDiff's scheduler config, building, writing, reading and verifying the manifest."""

import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from .atomic_io import atomic_write_text, sha256_file
from .attention import MATH_SLICE_ELEMENTS
from .dtypes import dtype_name, parse_dtype
from .errors import ExportError

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
UNET_OPTIONAL_INPUTS = ("down_block_additional_residuals", "mid_block_additional_residual", "motion_scale", "free_noise_windows", "free_noise_weights")
VAE_DECODER_FILE = "vae/decoder.pt"
VAE_ENCODER_FILE = "vae/encoder.pt"
VAE_CONFIG_FILE = "vae/config.json"
TEXT_ENCODER_FILE = "text_encoder/model.pt"
TEXT_ENCODER_CONFIG_FILE = "text_encoder/config.json"
SCHEDULER_FILE = "scheduler/scheduler_config.json"
MANIFEST_FILE = "model.yaml"


def file_entry(out_dir: str, rel: str) -> Dict[str, Any]:
    path = os.path.join(out_dir, rel)
    return {"sha256": sha256_file(path), "bytes": os.path.getsize(path)}


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
        # the UNet's optional run-time inputs (unet3d.py); exports without the key take only the three required ones
        "unet": {"file": unet_file, "format": "torchscript", "inputs": list(UNET_OPTIONAL_INPUTS)},
        "vae": vae,
        # score elements per slice of the math attention path (attention.py), for lib's memory estimate
        "attention_slice_elements": MATH_SLICE_ELEMENTS,
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
    header = "# animatorch model manifest (written by scripts/animatorch_export/manifest.py)\n"
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
