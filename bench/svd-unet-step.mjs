// Stable Video Diffusion UNet step at full size (1.52 B parameters, SVD's config) on CPU at a small size:
// the addon running our exported TorchScript UNetSpatioTemporalConditionModel against diffusers' own
// UNetSpatioTemporalConditionModel in eager mode, with the same random weights and inputs, in one run.
// The weights are made here (seeded, from the config), exported by the Python the addon pairs with
// (findTorchPython; attention 'math' so Debian's libtorch 1.13 loads the file), then loaded into diffusers
// by a Python that has it. Needs ~7 GB free memory per side (one side at a time) and ~6 GB of temp disk.
//   BENCH_DIFFUSERS_PYTHON=venv/bin/python node bench/svd-unet-step.mjs [--frames 4] [--size 64] [--reps 2]
// (the venv of scripts/requirements-torch2.txt has diffusers). Without it the benchmark says so and stops.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as at from '../dist/index.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const frames = opt('--frames', 4);
const size = opt('--size', 64); // pixels; latents size / 8
const reps = opt('--reps', 2);
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const diffusersPython = process.env.BENCH_DIFFUSERS_PYTHON;
if (!diffusersPython) {
  console.log('svd-unet-step: set BENCH_DIFFUSERS_PYTHON to a Python with diffusers (scripts/requirements-torch2.txt) to compare with diffusers eager');
  process.exit(0);
}
const python = (await at.findTorchPython()).executable;
const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-bench-svd-'));
const unetFile = path.join(dir, 'unet.pt');
const h = size / 8;
const shape = [2, frames, 8, h, h]; // guidance batch 2: noisy latents + image latents on channels
const t = 0.25 * Math.log(700); // the first continuous timestep of SVD's schedule
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const t0 = Date.now();
  execFileSync(python, ['-c', `
import sys, torch
sys.path.insert(0, ${JSON.stringify(path.join(here, '..', 'scripts'))})
from animatorch_export.reference import randomize_weights_
from animatorch_export.svd_configs import SVDUNetConfig
from animatorch_export.svd_unet import UNetSpatioTemporalConditionModel
from animatorch_export.weights import no_weight_init
with no_weight_init():
    m = UNetSpatioTemporalConditionModel(SVDUNetConfig.svd(attention_backend="math"))
randomize_weights_(m, 0).eval()
torch.jit.script(m).save(${JSON.stringify(unetFile)})
`], { stdio: 'inherit' });
  console.log(`exported the random full-size UNet in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  const g = at.createGenerator(0);
  const sample = at.randn(shape, { generator: g });
  const embeds = at.randn([2, 1, 1024], { generator: g });
  const ids = at.tensor(new Float32Array([6, 127, 0.02, 6, 127, 0.02]), [2, 3]);
  const ts = at.full([2], t);
  writeFileSync(path.join(dir, 'sample.bin'), Buffer.from((await sample.toArray()).buffer));
  writeFileSync(path.join(dir, 'embeds.bin'), Buffer.from((await embeds.toArray()).buffer));

  at.setNumThreads(threads);
  const unet = await at.loadModule(unetFile);
  const times = [];
  let out;
  for (let i = 0; i <= reps; i++) {
    const s = process.hrtime.bigint();
    out?.dispose();
    out = await unet.forward(sample, ts, embeds, ids);
    if (i > 0) times.push(Number(process.hrtime.bigint() - s) / 1e6); // the first call warms up
  }
  writeFileSync(path.join(dir, 'out.bin'), Buffer.from((await out.toArray()).buffer));
  out.dispose();
  unet.dispose(); // free its 6 GB before diffusers loads its copy
  const node = median(times);

  const py = JSON.parse(execFileSync(diffusersPython, ['-c', `
import json, statistics, time, numpy as np, torch, diffusers
torch.set_num_threads(${threads})
sd = torch.jit.load(${JSON.stringify(unetFile)}).state_dict()
with torch.device("meta"):
    m = diffusers.UNetSpatioTemporalConditionModel()
m.load_state_dict(sd, strict=True, assign=True)
m.eval()
del sd
shape = ${JSON.stringify(shape)}
s = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'sample.bin'))}, dtype="<f4").reshape(shape))
e = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'embeds.bin'))}, dtype="<f4").reshape(2, 1, 1024))
ids = torch.tensor([[6.0, 127.0, 0.02]] * 2)
t = torch.tensor(${t}, dtype=torch.float32)
ts = []
with torch.inference_mode():
    for i in range(${reps} + 1):
        t0 = time.perf_counter(); o = m(s, t, e, ids).sample; dt = (time.perf_counter() - t0) * 1e3
        if i > 0: ts.append(dt)
ours = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'out.bin'))}, dtype="<f4").reshape(o.shape))
diff = float((ours - o).abs().max()); scale = float(o.abs().max())
print(json.dumps({"ms": statistics.median(ts), "torch": torch.__version__, "diffusers": diffusers.__version__, "diff": diff, "scale": scale}))
`], { maxBuffer: 1 << 20 }).toString().trim().split('\n').pop());

  console.log(`\nSVD UNet step, full size (1.52 B parameters, random weights), batch 2, ${frames} frames, ${size}x${size} px (${h}x${h} latents), float32 on cpu, ${threads} threads, OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? 'unset'}, median of ${reps} after a warm-up`);
  console.log('| runtime | ms/step |');
  console.log('| --- | ---: |');
  console.log(`| animatorch addon (libtorch ${at.versions().libtorch}), our TorchScript UNet | ${node.toFixed(0)} |`);
  console.log(`| diffusers ${py.diffusers} eager (torch ${py.torch}) | ${py.ms.toFixed(0)} |`);
  console.log(`| ratio addon / diffusers | ${(node / py.ms).toFixed(3)}x |`);
  console.log(`outputs: max |addon − diffusers| = ${py.diff.toExponential(2)} (max |output| ${py.scale.toFixed(2)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
