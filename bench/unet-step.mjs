// UNet step: the addon against Python running the same exported TorchScript
// file (scripts/export_random_model.py, or a model folder given as argument),
// same input, same threads, side by side in one run. Prints figures only.
//   node bench/unet-step.mjs [MODEL_DIR] [--frames 16] [--size 64]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as at from '../dist/index.mjs';
import { exportedModel } from './exported-model.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const frames = opt('--frames', 16);
const size = opt('--size', 64); // pixels
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const python = (await at.findTorchPython()).executable;

let modelDir = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
modelDir ??= exportedModel('tiny-v2', 0);
const manifest = await at.readModelManifest(modelDir);
const unetFile = manifest.unet.file; // absolute: readModelManifest resolves file paths
const h = size / 8;
const shape = [2, 4, frames, h, h]; // guidance batch 2
const g = at.createGenerator(0);
const sample = at.randn(shape, { generator: g });
const ctx = at.randn([2, 77, manifest.crossAttentionDim], { generator: g });
const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-bench-in-'));
writeFileSync(path.join(dir, 'sample.bin'), Buffer.from((await sample.toArray()).buffer));
writeFileSync(path.join(dir, 'ctx.bin'), Buffer.from((await ctx.toArray()).buffer));
const reps = 10;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

at.setNumThreads(threads);
const unet = await at.loadModule(unetFile);
const t = at.tensor(new BigInt64Array([500n, 500n]), [2]);
async function nodeStep() {
  for (let i = 0; i < 2; i++) (await unet.forward(sample, t, ctx)).dispose();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    (await unet.forward(sample, t, ctx)).dispose();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}
const pyStep = () => JSON.parse(
  execFileSync(python, ['-c', `
import json, time, statistics, numpy as np, torch
torch.set_num_threads(${threads})
m = torch.jit.load(${JSON.stringify(unetFile)})
s = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'sample.bin'))}, dtype='<f4').reshape(${JSON.stringify(shape)}))
c = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'ctx.bin'))}, dtype='<f4').reshape(2, 77, ${manifest.crossAttentionDim}))
t = torch.tensor([500, 500])
with torch.inference_mode():
    for _ in range(2): m(s, t, c)
    ts = []
    for _ in range(${reps}):
        t0 = time.perf_counter(); m(s, t, c); ts.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"ms": statistics.median(ts), "torch": torch.__version__}))
`]).toString(),
);
// Alternated, best of two rounds each side: this machine's neighbours come and go.
const nodeA = await nodeStep();
const pyA = pyStep();
const nodeB = await nodeStep();
const pyB = pyStep();
rmSync(dir, { recursive: true, force: true });
const node = Math.min(nodeA, nodeB);
const py = { torch: pyA.torch, ms: Math.min(pyA.ms, pyB.ms) };
console.log(
  `\nUNet step (${manifest.name}, batch 2, ${frames} frames, ${size}x${size}), ${threads} threads, ` +
    `OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? 'unset'}, best of 2 alternated rounds, each the median of ${reps}`,
);
console.log('| runtime | ms/step |');
console.log('| --- | ---: |');
console.log(`| animatorch addon (libtorch ${at.versions().libtorch}) | ${node.toFixed(1)} |`);
console.log(`| Python torch ${py.torch}, same file | ${py.ms.toFixed(1)} |`);
console.log(`| ratio addon / Python | ${(node / py.ms).toFixed(3)}x |`);

