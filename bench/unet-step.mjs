// UNet step: the addon against Python running the same exported TorchScript
// file (scripts/export_random_model.py, or a model folder given as argument),
// same input, same threads, same device and dtype, side by side in one run.
// Prints figures only.
//   node bench/unet-step.mjs [MODEL_DIR] [--frames 16] [--size 64]
//   BENCH_DEVICE=cuda node bench/unet-step.mjs /tmp/sd15-fp16 --size 512   (dtype: the model's)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as at from '../dist/index.mjs';
import testing from '../scripts/testing/exported-model.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const frames = opt('--frames', 16);
const size = opt('--size', 64); // pixels
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const device = process.env.BENCH_DEVICE ?? 'cpu';
const cuda = device.startsWith('cuda');
const python = (await at.findTorchPython()).executable;

let modelDir = argv.find((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
modelDir ??= await testing.exportedModel({ python, preset: 'tiny-v2', seed: 0 });
const manifest = await at.readModelManifest(modelDir);
const unetFile = manifest.unet.file; // absolute: readModelManifest resolves file paths
const dtype = manifest.dtype;
const h = size / 8;
const shape = [2, 4, frames, h, h]; // guidance batch 2
const g = at.createGenerator(0);
const sampleCpu = at.randn(shape, { generator: g });
const ctxCpu = at.randn([2, 77, manifest.crossAttentionDim], { generator: g });
const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-bench-in-'));
writeFileSync(path.join(dir, 'sample.bin'), Buffer.from((await sampleCpu.toArray()).buffer));
writeFileSync(path.join(dir, 'ctx.bin'), Buffer.from((await ctxCpu.toArray()).buffer));
const reps = 10;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

at.setNumThreads(threads);
const unet = await at.loadModule(unetFile, { device });
const sample = await sampleCpu.to({ device, dtype });
const ctx = await ctxCpu.to({ device, dtype });
const t = await at.tensor(new BigInt64Array([500n, 500n]), [2]).to({ device });
const step = async () => {
  (await unet.forward(sample, t, ctx)).dispose();
  if (cuda) await at.cuda.synchronize(); // forward returns once its kernels are queued
};
async function nodeStep() {
  for (let i = 0; i < 2; i++) await step();
  if (cuda) at.cuda.resetPeakMemoryStats();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await step();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), peakGiB: cuda ? at.memoryStats().cuda.peakAllocated / 2 ** 30 : undefined };
}
const pyStep = () => JSON.parse(
  execFileSync(python, ['-c', `
import json, time, statistics, numpy as np, torch
torch.set_num_threads(${threads})
dev, dt = torch.device(${JSON.stringify(device)}), getattr(torch, ${JSON.stringify(dtype)})
cuda = dev.type == "cuda"
m = torch.jit.load(${JSON.stringify(unetFile)}, map_location=dev)
s = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'sample.bin'))}, dtype='<f4').reshape(${JSON.stringify(shape)})).to(dev, dt)
c = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'ctx.bin'))}, dtype='<f4').reshape(2, 77, ${manifest.crossAttentionDim})).to(dev, dt)
t = torch.tensor([500, 500], device=dev)
def step():
    m(s, t, c)
    if cuda: torch.cuda.synchronize()
with torch.inference_mode():
    for _ in range(2): step()
    if cuda: torch.cuda.reset_peak_memory_stats()
    ts = []
    for _ in range(${reps}):
        t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1e3)
peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
print(json.dumps({"ms": statistics.median(ts), "peakGiB": peak, "torch": torch.__version__}))
`]).toString(),
);
// Alternated, best of two rounds each side: this machine's neighbours come and go.
const nodeA = await nodeStep();
const pyA = pyStep();
const nodeB = await nodeStep();
const pyB = pyStep();
rmSync(dir, { recursive: true, force: true });
const node = nodeA.ms <= nodeB.ms ? nodeA : nodeB;
const py = pyA.ms <= pyB.ms ? pyA : pyB;
const where = cuda ? `${dtype} on ${device}` : `${dtype} on cpu, ${threads} threads, OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? 'unset'}`;
console.log(
  `\nUNet step (${manifest.name}, batch 2, ${frames} frames, ${size}x${size}), ${where}, ` +
    `best of 2 alternated rounds, each the median of ${reps}`,
);
console.log(`| runtime | ms/step |${cuda ? ' peak GiB |' : ''}`);
console.log(`| --- | ---: |${cuda ? ' ---: |' : ''}`);
const peak = (r) => (cuda ? ` ${r.peakGiB.toFixed(2)} |` : '');
console.log(`| animatorch addon (libtorch ${at.versions().libtorch}) | ${node.ms.toFixed(1)} |${peak(node)}`);
console.log(`| Python torch ${py.torch}, same file | ${py.ms.toFixed(1)} |${peak(py)}`);
console.log(`| ratio addon / Python | ${(node.ms / py.ms).toFixed(3)}x |${cuda ? ' |' : ''}`);
