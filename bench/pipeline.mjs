// Text-to-video pipeline benchmark (tiny random model, or BENCH_MODEL): ms per denoising step,
// end-to-end seconds, and peak memory of the decode with and without VAE tiling.
// Each configuration runs in its own child process so its peak RSS is its own.
// Prints figures only; nothing here is a pass/fail test.
//
//   npm run build:ts && node --expose-gc bench/pipeline.mjs
//   BENCH_SIZE=384 BENCH_FRAMES=8 BENCH_STEPS=4 BENCH_DEVICE=cuda node bench/pipeline.mjs
//   BENCH_MODEL=/tmp/sd15-fp16 BENCH_SIZE=512 BENCH_FRAMES=16 BENCH_STEPS=25 BENCH_DEVICE=cuda node bench/pipeline.mjs
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import testing from '../scripts/testing/exported-model.js';

const here = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);
const root = testing.repoRoot;
const genSize = Number(process.env.BENCH_SIZE ?? 128);
const decodeSize = Number(process.env.BENCH_DECODE_SIZE ?? 320);
const numFrames = Number(process.env.BENCH_FRAMES ?? 8);
const steps = Number(process.env.BENCH_STEPS ?? 4);
const device = process.env.BENCH_DEVICE ?? 'cpu';
// A model folder (e.g. a full-size random export for the GPU figures); default: the tiny random model.
const { findTorchPython } = require(path.join(root, 'dist', 'python.js'));
const model = async () => process.env.BENCH_MODEL ?? testing.exportedModel({ python: (await findTorchPython()).executable });

const loadAt = () => {
  const at = require(path.join(root, 'dist', 'index.js'));
  return { at, loadPipeline: at.loadPipeline };
};

/** Polls live tensor bytes every millisecond (the event loop is free while libtorch runs). */
function pollHost(at) {
  let peak = at.memoryStats().hostBytes;
  const timer = setInterval(() => (peak = Math.max(peak, at.memoryStats().hostBytes)), 1);
  return () => (clearInterval(timer), peak);
}

/** Part A: a whole generate() (text encoder, CFG denoising, untiled decode). */
async function generateChild() {
  const { at, loadPipeline } = loadAt();
  const pipe = await loadPipeline(await model(), { device });
  const base = { prompt: 'a lighthouse in a storm', width: genSize, height: genSize, numFrames, numInferenceSteps: steps, seed: 1 };
  await pipe.generate({ ...base, numInferenceSteps: 1, width: 64, height: 64 }); // warm-up
  const cuda = at.cuda.isAvailable() && device.startsWith('cuda');
  if (cuda) at.cuda.resetPeakMemoryStats();
  const stopPoll = pollHost(at);
  const stepTimes = [];
  let last = performance.now();
  const t0 = last;
  await pipe.generate({
    ...base,
    onProgress: (e) => {
      const now = performance.now();
      if (e.stage === 'denoise') stepTimes.push(now - last);
      last = now;
    },
  });
  const endToEndS = (performance.now() - t0) / 1000;
  const peakHost = stopPoll();
  const stats = at.memoryStats();
  pipe.dispose();
  return {
    msPerStep: stepTimes.reduce((a, b) => a + b, 0) / stepTimes.length,
    endToEndS,
    peakHostMiB: peakHost / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cudaPeakMiB: cuda ? stats.cuda.peakAllocated / 2 ** 20 : undefined,
  };
}

/** Part B: decodeLatents alone, untiled or tiled, in a fresh process so max RSS is the decode's. */
async function decodeChild(mode) {
  const { at, loadPipeline } = loadAt();
  const pipe = await loadPipeline(await model(), { device });
  const vaeTiling = mode === 'untiled' ? false : { tileSize: Number(mode), overlap: 0.25 };
  const warm = at.randn([1, 4, 1, 8, 8]);
  await pipe.decodeLatents(await warm.to({ device }));
  const latents = await at.randn([1, 4, numFrames, decodeSize / 8, decodeSize / 8], { generator: at.createGenerator(0) }).to({ device });
  globalThis.gc?.();
  const cuda = at.cuda.isAvailable() && device.startsWith('cuda');
  if (cuda) at.cuda.resetPeakMemoryStats();
  const rssBefore = process.resourceUsage().maxRSS;
  const stopPoll = pollHost(at);
  const t0 = performance.now();
  await pipe.decodeLatents(latents, { vaeTiling, decodeChunkSize: numFrames });
  const decodeS = (performance.now() - t0) / 1000;
  const peakHost = stopPoll();
  const stats = at.memoryStats();
  pipe.dispose();
  return {
    decodeS,
    peakHostMiB: peakHost / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    rssGrowthMiB: (process.resourceUsage().maxRSS - rssBefore) / 1024,
    cudaPeakMiB: cuda ? stats.cuda.peakAllocated / 2 ** 20 : undefined,
  };
}

function runChild(...args) {
  const r = spawnSync(process.execPath, ['--expose-gc', here, '--child', ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`${args.join(' ')}: failed\n${r.stderr}`);
    process.exitCode = 1;
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const f = (x, d = 1, w = 8) => (x === undefined ? '-' : x.toFixed(d)).padStart(w);

if (process.argv[2] === '--child') {
  const out = process.argv[3] === 'generate' ? await generateChild() : await decodeChild(process.argv[4]);
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  const dir = await model(); // export once, outside the timed children
  console.log(`pipeline bench: ${process.env.BENCH_MODEL ? dir : 'tiny-v2 random model'}, device ${device}, ${os.availableParallelism()} cores`);
  const g = runChild('generate');
  if (g) {
    console.log(`generate ${genSize}x${genSize}, ${numFrames} frames, ${steps} DDIM steps, CFG 7.5 (batch 2):`);
    console.log(`  ms/step ${g.msPerStep.toFixed(1)}   end-to-end ${g.endToEndS.toFixed(2)} s   peak tensors ${g.peakHostMiB.toFixed(1)} MiB   max RSS ${g.maxRssMiB.toFixed(0)} MiB   CUDA peak ${g.cudaPeakMiB?.toFixed(1) ?? '-'} MiB`);
  }
  console.log(`decodeLatents ${decodeSize}x${decodeSize}, ${numFrames} frames in one chunk:`);
  console.log('  mode       decode s  peak tensors MiB  max RSS MiB  RSS growth MiB  CUDA peak MiB');
  for (const mode of ['untiled', '32', '16', '8']) {
    const x = runChild('decode', mode);
    if (!x) continue;
    const label = mode === 'untiled' ? 'untiled' : `tile ${mode}`;
    console.log(`  ${label.padEnd(9)} ${f(x.decodeS, 2, 9)} ${f(x.peakHostMiB, 1, 17)} ${f(x.maxRssMiB, 0, 12)} ${f(x.rssGrowthMiB, 0, 15)} ${f(x.cudaPeakMiB, 1, 14)}`);
  }
  console.log('  (tile N = VAE tiles of N latent pixels, overlap 0.25; peak tensors = live JS-held tensors, polled every 1 ms;');
  console.log('   the VAE\'s own activations show in RSS / CUDA peak)');
}
