/**
 * benchmarkPipeline(): loads a model folder and times each stage of a render
 * separately: text encoding, one UNet step (the classifier-free-guidance batch
 * of 2 at the chosen size) and one VAE decode of all frames.
 */
import { cuda, memoryStats } from '../device';
import type { AnimateDiffPipeline } from './animatediff';
import { peakResidentBytes, residentBytes, resetPeakResident } from './host-memory';
import { loadPipeline } from './load-pipeline';
import type { KeepModules } from './stage-module';
import { type Device, type DType, Tensor } from '../tensor';
import { cat, full, randn } from '../tensor-factories';
import { assertInteger } from '../validate';

export interface StageTiming {
  stage: 'load' | 'text-encoder' | 'unet-step' | 'vae-decode';
  /** Milliseconds of each timed run. */
  times: number[];
  meanMs: number;
  minMs: number;
  /**
   * Peak memory in bytes during this stage: on CUDA the caching allocator's peak; on CPU the process's
   * peak resident set (on Linux this stage's own; elsewhere the peak so far).
   */
  peakBytes: number;
  /** The process's resident set when the stage ended (with keepModules 'stage', its model freed). */
  residentAfterBytes: number;
}

export interface BenchResult {
  model: string;
  device: string;
  dtype: string;
  width: number;
  height: number;
  frames: number;
  stages: StageTiming[];
  /** The loadPipeline keepModules the stages ran with. */
  keepModules: KeepModules;
  /** What StageTiming.peakBytes measures. */
  memory: 'cuda-peak-allocated' | 'process-peak-rss';
  /** Estimated render time for `steps` steps: text + steps × unet + decode. */
  estimate: { steps: number; ms: number };
}

export interface BenchmarkOptions {
  device?: Device;
  dtype?: DType;
  width?: number;
  height?: number;
  frames?: number;
  iterations?: number;
  warmup?: number;
  guidanceScale?: number;
  /** Steps for the render estimate (default 25). */
  steps?: number;
  /** 'stage': each stage holds only its own model, as a one-shot render (loadPipeline's keepModules). Default 'all'. */
  keepModules?: KeepModules;
  /** Reuse a loaded pipeline (load is then not timed). */
  pipeline?: AnimateDiffPipeline;
  onStage?: (stage: StageTiming['stage'], iteration: number) => void;
}

const sync = async (device: string): Promise<void> => {
  if (device.startsWith('cuda')) await cuda.synchronize();
};

async function timeIt(device: string, fn: () => Promise<void>): Promise<number> {
  await sync(device);
  const t0 = process.hrtime.bigint();
  await fn();
  await sync(device);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const stageOf = (stage: StageTiming['stage'], times: number[], peakBytes: number): StageTiming => ({
  stage,
  times,
  meanMs: times.reduce((a, b) => a + b, 0) / times.length,
  minMs: Math.min(...times),
  peakBytes,
  residentAfterBytes: residentBytes(),
});

const cudaIndex = (device: string): number => (device.includes(':') ? Number(device.split(':')[1]) : 0);

/** Starts a stage's peak-memory window (CUDA only: the host's peak RSS cannot be reset). */
function resetPeak(device: string): void {
  if (device.startsWith('cuda')) cuda.resetPeakMemoryStats(cudaIndex(device));
  else resetPeakResident();
}

function peakBytes(device: string): number {
  if (device.startsWith('cuda')) return memoryStats(cudaIndex(device)).cuda?.peakAllocated ?? 0;
  return peakResidentBytes();
}

/** Times text encoding, one UNet step and one VAE decode with the pipeline's loaded modules. */
export async function benchmarkPipeline(modelDir: string, options: BenchmarkOptions = {}): Promise<BenchResult> {
  const iterations = options.iterations ?? 3;
  const warmup = options.warmup ?? 2; // TorchScript's profiling executor optimises during the first runs
  assertInteger('iterations', iterations, 1);
  assertInteger('warmup', warmup, 0);
  const stages: StageTiming[] = [];
  let pipeline = options.pipeline;
  if (!pipeline) {
    const device = options.device ?? 'cpu';
    resetPeak(device);
    const t0 = process.hrtime.bigint();
    pipeline = await loadPipeline(modelDir, { device, keepModules: options.keepModules ?? 'all', ...(options.dtype ? { dtype: options.dtype } : {}) });
    await sync(device);
    stages.push(stageOf('load', [Number(process.hrtime.bigint() - t0) / 1e6], peakBytes(device)));
  }
  const owned = !options.pipeline;
  try {
    const p = pipeline;
    const device = p.device;
    const m = p.manifest;
    const s = p.vaeScaleFactor;
    const width = options.width ?? m.sampleSize[1] * s;
    const height = options.height ?? m.sampleSize[0] * s;
    const frames = options.frames ?? 16;
    assertInteger('width', width, s);
    assertInteger('height', height, s);
    assertInteger('frames', frames, 1);
    if (width % s || height % s) throw new Error(`bench: width and height must be multiples of ${s}, got ${width}x${height}`);
    const cfg = (options.guidanceScale ?? 7.5) > 1;
    const modelOf = { 'text-encoder': p.textEncoder, 'unet-step': p.unet, 'vae-decode': p.vae, load: undefined } as const;
    const run = async (stage: StageTiming['stage'], fn: () => Promise<void>): Promise<void> => {
      resetPeak(device);
      const times: number[] = [];
      // held for all runs of the stage (keepModules 'stage' would otherwise load it per run), untimed
      const model = modelOf[stage]!;
      await model.hold(async () => {
        for (let i = 0; i < warmup; i++) await fn();
        for (let i = 0; i < iterations; i++) {
          options.onStage?.(stage, i);
          times.push(await timeIt(device, fn));
        }
      });
      stages.push(stageOf(stage, times, peakBytes(device)));
    };

    // 1. text encoder (prompt + the '' negative when guidance is on)
    let embeds: { promptEmbeds: Tensor; negativePromptEmbeds?: Tensor } | undefined;
    if (p.textEncoder) {
      await run('text-encoder', async () => {
        const e = await p.encodePrompt('a benchmark prompt, best quality', { doClassifierFreeGuidance: cfg });
        embeds?.promptEmbeds.dispose();
        embeds?.negativePromptEmbeds?.dispose();
        embeds = e;
      });
    }
    const c = m.crossAttentionDim;
    const cond = embeds?.promptEmbeds ?? randn([1, m.textMaxLength, c], { device, dtype: p.dtype });
    const context = cfg ? cat([embeds?.negativePromptEmbeds ?? cond, cond], 0) : cond;
    const h = height / s;
    const w = width / s;
    const latents = randn([1, m.inChannels, frames, h, w], { device, dtype: p.dtype });
    const input = cfg ? cat([latents, latents], 0) : latents;
    const ts = full([cfg ? 2 : 1], 500, { device });
    try {
      // 2. one UNet step at this size
      await run('unet-step', async () => {
        const out = await p.unet.forward(input, ts, context);
        if (out instanceof Tensor) out.dispose();
      });
      // 3. VAE decode of all frames
      await run('vae-decode', async () => {
        await p.decodeLatents(latents);
      });
    } finally {
      for (const t of new Set([cond, context, latents, input, ts, embeds?.negativePromptEmbeds])) t?.dispose();
    }
    const steps = options.steps ?? 25;
    const mean = (s: string): number => stages.find((x) => x.stage === s)?.meanMs ?? 0;
    return {
      model: m.name,
      device,
      dtype: p.dtype,
      width,
      height,
      frames,
      stages,
      keepModules: p.unet.keep,
      memory: device.startsWith('cuda') ? 'cuda-peak-allocated' : 'process-peak-rss',
      estimate: { steps, ms: mean('text-encoder') + steps * mean('unet-step') + mean('vae-decode') },
    };
  } finally {
    if (owned) pipeline.dispose();
  }
}

/** The result as an aligned table, with the memory timeline (after load, peak in denoise, peak in decode). */
export function formatBenchTable(r: BenchResult): string {
  const cudaMem = r.memory === 'cuda-peak-allocated';
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  const rows = [
    ['stage', 'mean ms', 'min ms', 'runs', cudaMem ? 'peak CUDA MiB' : 'peak RSS MiB', ...(cudaMem ? [] : ['RSS after MiB'])],
    ...r.stages.map((s) => [s.stage, s.meanMs.toFixed(1), s.minMs.toFixed(1), String(s.times.length), mb(s.peakBytes), ...(cudaMem ? [] : [mb(s.residentAfterBytes)])]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const fmt = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const at = (stage: StageTiming['stage']) => r.stages.find((s) => s.stage === stage);
  const timeline = [
    at('load') && `after load ${mb(cudaMem ? at('load')!.peakBytes : at('load')!.residentAfterBytes)} MiB`,
    at('unet-step') && `peak in denoise ${mb(at('unet-step')!.peakBytes)} MiB`,
    at('vae-decode') && `peak in decode ${mb(at('vae-decode')!.peakBytes)} MiB`,
  ].filter(Boolean);
  return [
    `${r.model} on ${r.device} (${r.dtype}), ${r.width}x${r.height}, ${r.frames} frames${r.keepModules === 'stage' ? ', keepModules stage' : ''}`,
    fmt(rows[0]!),
    ...rows.slice(1).map(fmt),
    `memory: ${timeline.join(', ')} (${cudaMem ? 'CUDA allocator' : 'process resident set'})`,
    `estimated render (${r.estimate.steps} steps): ${(r.estimate.ms / 1000).toFixed(1)} s; peak memory ${mb(Math.max(...r.stages.map((s) => s.peakBytes)))} MiB`,
  ].join('\n');
}
