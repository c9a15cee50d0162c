#!/usr/bin/env python3
"""Reference trajectories from diffusers' schedulers for cases the shared golden file lacks
(DPM-Solver third order), in the format of test/fixtures/schedulers.json: same x0, same toy model
(eps = 0.3 * scale_model_input(x, t) + 0.01 * t / 1000), float64 on the CPU.

    python scripts/reference/scheduler_trajectories.py > test/fixtures/schedulers-third-order.json

Runs with torch 1.13 (Debian's, in a venv made with --system-site-packages) or torch 2.x. Pins used
for the committed fixture: diffusers==0.29.2 transformers==4.44.2 safetensors==0.4.5
huggingface_hub==0.24.6 accelerate==0.33.0 on torch 1.13.0 (Debian python3-torch).
"""

import json
import os
import sys

import diffusers
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "test", "fixtures")
SD = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}

CASES = {
    "dpmpp_3m": ("DPMSolverMultistepScheduler", {**SD, "algorithm_type": "dpmsolver++", "solver_order": 3}, [25, 10]),
    "dpmpp_3m_karras": ("DPMSolverMultistepScheduler", {**SD, "algorithm_type": "dpmsolver++", "solver_order": 3, "use_karras_sigmas": True}, [25]),
    "dpm_3m_sigma_min": ("DPMSolverMultistepScheduler", {**SD, "algorithm_type": "dpmsolver", "solver_order": 3, "final_sigmas_type": "sigma_min"}, [25]),
    "dpmpp_3m_vpred_no_lower_order_final": (
        "DPMSolverMultistepScheduler",
        {**SD, "algorithm_type": "dpmsolver++", "solver_order": 3, "prediction_type": "v_prediction", "lower_order_final": False, "final_sigmas_type": "sigma_min"},
        [20],
    ),
}


def as_list(v):
    return [float(x) for x in (v.tolist() if hasattr(v, "tolist") else v)]


def run(cls_name, config, steps, x0, shape):
    s = getattr(diffusers, cls_name)(**config)
    s.set_timesteps(steps)
    x = torch.tensor(x0, dtype=torch.float64).reshape(shape) * float(s.init_noise_sigma)
    out = {"timesteps": as_list(s.timesteps), "init_noise_sigma": float(s.init_noise_sigma)}
    if getattr(s, "sigmas", None) is not None:
        out["sigmas"] = as_list(s.sigmas)
    for t in s.timesteps:
        xin = s.scale_model_input(x, t)
        eps = xin * 0.3 + 0.01 * float(t) / 1000
        x = s.step(eps, t, x).prev_sample
    out["final"] = as_list(x.reshape(-1))
    return out


def main():
    base = json.load(open(os.path.join(FIXTURES, "schedulers.json")))
    cases = {}
    for name, (cls_name, config, steps_list) in CASES.items():
        cases[name] = {"class": cls_name, "config": config, "runs": {str(n): run(cls_name, config, n, base["x0"], base["shape"]) for n in steps_list}}
    json.dump({"diffusers": diffusers.__version__, "torch": torch.__version__, "model": base["model"], "cases": cases}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
