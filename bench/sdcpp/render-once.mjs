// One timed animatorch render, as one process, the way `animatorch render` does a single video
// (loadPipeline with keepModules 'stage', generate, write): prints one RESULT line of JSON with
// per-step times and the memory timeline (Linux: the peak resident set is reset between stages).
// argv: modelDir outFile width height frames steps threads prompt [keepModules]
// ANIMATORCH_DENOISE_ONLY=1: print the RESULT after the last step and exit (no decode): the scaling
// table needs per-step times only, and the decode of 32 frames at 256 px would cost more than the steps.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const tStart = performance.now();
const here = path.dirname(fileURLToPath(import.meta.url));
const at = await import(path.join(here, '..', '..', 'dist', 'index.mjs'));
const [modelDir, outFile, W, H, F, S, T, prompt, keep = 'stage'] = process.argv.slice(2);

const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
const mib = (k) => Math.round(k / 1024);
const resetPeak = () => {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {}
};

at.setNumThreads(Number(T));
// ANIMATORCH_HOST_MEMORY_REUSE=1: setHostMemoryReuse(true) (off by default, as in `animatorch render`)
const hostMemoryReuse = process.env.ANIMATORCH_HOST_MEMORY_REUSE === '1';
if (hostMemoryReuse) at.setHostMemoryReuse(true);
// ANIMATORCH_HOST_CACHE=0: setHostCache(false) before loading (the pipeline turns it on by default on CPU)
if (process.env.ANIMATORCH_HOST_CACHE === '0') at.setHostCache(false);
const tImport = performance.now();
const pipe = await at.loadPipeline(modelDir, { device: 'cpu', keepModules: keep });
const tLoad = performance.now();
if (process.env.ANIMATORCH_GRAPH_OPTIMIZATION === '1') {
  // A/B of the warm-up: torch's default (optimising, profiling executor) instead of the pipeline's CPU setting
  for (const m of [pipe.unet, pipe.vae, pipe.textEncoder]) {
    const load = m.load.bind(m);
    m.load = async (...a) => (await load(...a)).setGraphOptimization(true);
  }
}
const memory = { after_load_mib: mib(kib('VmRSS')), peak_load_mib: mib(kib('VmHWM')) };
resetPeak();
// the decode's own window starts at its first VAE call (the UNet is freed by then under 'stage')
const vaeForward = pipe.vae.forward.bind(pipe.vae);
let decodeStarted = false;
pipe.vae.forward = async (...inputs) => {
  if (!decodeStarted) {
    decodeStarted = true;
    memory.rss_before_decode_mib = mib(kib('VmRSS'));
    resetPeak();
  }
  return vaeForward(...inputs);
};
const denoise = [];
const tGen0 = performance.now();
let tDecode0;
let tGen1;
let tWrite;
let out; // unset when the run stops after denoising
out = await pipe.generate({
  prompt, negativePrompt: '', width: Number(W), height: Number(H), numFrames: Number(F),
  numInferenceSteps: Number(S), guidanceScale: 7.5, seed: '42', scheduler: 'EulerDiscreteScheduler',
  // every frame in one window, as sd-cli renders them (the default window of 16 would denoise 32 frames
  // as three overlapping windows: 48 frames of work)
  contextLength: Number(F),
  onProgress: (e) => {
    if (e.stage !== 'denoise') return;
    denoise.push({ t: performance.now(), elapsedMs: e.elapsedMs });
    if (denoise.length === Number(S)) {
      // encoding + UNet load + every step: the denoise peak; the decode gets a window of its own
      memory.peak_denoise_mib = mib(kib('VmHWM'));
      tDecode0 = performance.now();
      if (process.env.ANIMATORCH_DENOISE_ONLY === '1') {
        printResult();
        process.exit(0);
      }
    }
  },
});
tGen1 = performance.now();
memory.peak_decode_mib = mib(kib('VmHWM'));
await at.writeVideo(out.frames, out.shape, out.fps, outFile);
tWrite = performance.now();
printResult();
pipe.dispose();

function printResult() {
  const s = (ms) => (ms === undefined ? undefined : Math.round(ms) / 1000);
  const d0 = denoise[0].t - denoise[0].elapsedMs;
  const result = {
    import_s: s(tImport - tStart), load_s: s(tLoad - tImport), encode_prepare_s: s(d0 - tGen0),
    denoise_s: s(denoise[denoise.length - 1].t - d0), step_s: denoise.map((d, i) => s(d.t - (i ? denoise[i - 1].t : d0))),
    decode_s: tGen1 === undefined ? undefined : s(tGen1 - tDecode0), write_s: tWrite === undefined ? undefined : s(tWrite - tGen1),
    threads: at.getNumThreads(), blas_threads: at.getBlasNumThreads(), blas: at.blasLibrary(), keep_modules: keep, host_memory_reuse: hostMemoryReuse, host_cache: at.hostCacheStats().enabled, graph_optimization: process.env.ANIMATORCH_GRAPH_OPTIMIZATION === '1', out_shape: out?.shape, memory,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}
