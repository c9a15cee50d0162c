// Long videos: peak memory and time per step as frames grow 16 -> 64 -> 128, with FreeNoise (all frames in one
// UNet call, the motion modules attending in windows of 16, stride 4) and with the context windows (one UNet
// call per window of 16 frames, overlap 4). Tiny random model (or BENCH_MODEL), CFG batch 2, one run per
// child process so each max RSS is its own. Prints figures only; nothing here is a pass/fail test.
//
//   npm run build:ts && node --expose-gc bench/long-video.mjs
//   BENCH_SIZE=256 BENCH_FRAMES=16,64,128 BENCH_DEVICE=cuda node bench/long-video.mjs
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import testing from '../scripts/testing/exported-model.js';

const here = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);
const root = testing.repoRoot;
const size = Number(process.env.BENCH_SIZE ?? 64);
const frameCounts = (process.env.BENCH_FRAMES ?? '16,64,128').split(',').map(Number);
const steps = Number(process.env.BENCH_STEPS ?? 1);
const device = process.env.BENCH_DEVICE ?? 'cpu';
const { findTorchPython } = require(path.join(root, 'dist', 'python.js'));
const model = async () => process.env.BENCH_MODEL ?? testing.exportedModel({ python: (await findTorchPython()).executable });
const MODES = {
  freeNoise: { freeNoise: { contextLength: 16, contextStride: 4 } },
  windows: { contextLength: 16, contextOverlap: 4 },
};

async function child(mode, numFrames) {
  const at = require(path.join(root, 'dist', 'index.js'));
  const pipe = await at.loadPipeline(await model(), { device });
  const base = { prompt: 'a lighthouse in a storm', width: size, height: size, numFrames, numInferenceSteps: steps, seed: 1, outputType: 'latents', ...MODES[mode] };
  (await pipe.generate({ ...base, numFrames: 16, numInferenceSteps: 1, width: 64, height: 64 })).latents.dispose(); // warm-up
  globalThis.gc?.();
  const cuda = at.cuda.isAvailable() && device.startsWith('cuda');
  if (cuda) at.cuda.resetPeakMemoryStats();
  const rssBefore = process.resourceUsage().maxRSS;
  const times = [];
  let last = performance.now();
  const r = await pipe.generate({
    ...base,
    onProgress: (e) => {
      const now = performance.now();
      if (e.stage === 'denoise') times.push(now - last);
      last = now;
    },
  });
  r.latents.dispose();
  const stats = at.memoryStats();
  pipe.dispose();
  return {
    msPerStep: times.reduce((a, b) => a + b, 0) / times.length,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    rssGrowthMiB: (process.resourceUsage().maxRSS - rssBefore) / 1024,
    cudaPeakMiB: cuda ? stats.cuda.peakAllocated / 2 ** 20 : undefined,
  };
}

const f = (x, d = 1, w = 8) => (x === undefined ? '-' : x.toFixed(d)).padStart(w);

if (process.argv[2] === '--child') {
  process.stdout.write(`${JSON.stringify(await child(process.argv[3], Number(process.argv[4])))}\n`);
} else {
  const dir = await model(); // export once, outside the measured children
  console.log(`long-video bench: ${process.env.BENCH_MODEL ? dir : 'tiny-v2 random model'}, ${size}x${size}, ${steps} DDIM steps, CFG 7.5, device ${device}, ${os.availableParallelism()} cores`);
  console.log('  mode        frames   ms/step   max RSS MiB  RSS growth MiB  CUDA peak MiB');
  for (const mode of Object.keys(MODES))
    for (const n of frameCounts) {
      const r = spawnSync(process.execPath, ['--expose-gc', here, '--child', mode, String(n)], { encoding: 'utf8' });
      if (r.status !== 0) {
        console.log(`  ${mode} ${n}: failed\n${r.stderr}`);
        process.exitCode = 1;
        continue;
      }
      const x = JSON.parse(r.stdout.trim().split('\n').pop());
      console.log(`  ${mode.padEnd(10)} ${f(n, 0, 7)} ${f(x.msPerStep, 0, 9)} ${f(x.maxRssMiB, 0, 13)} ${f(x.rssGrowthMiB, 0, 15)} ${f(x.cudaPeakMiB, 1, 14)}`);
    }
  console.log('  (RSS growth: the peak during the measured generate() over the peak before it, after a warm-up;');
  console.log('   FreeNoise holds every frame\'s activations in its one UNet call, the context windows one window\'s)');
}
