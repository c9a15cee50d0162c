/**
 * The peak memory of a render, estimated from the model's architecture before anything loads, so a
 * size the machine cannot hold (render --width 100000) is refused at once with what to change,
 * instead of swapping for minutes. Counts the model weights, the latents, the largest UNet call
 * (feature maps and attention scores of one context window, both CFG halves) and the largest VAE
 * decode (one chunk of frames, one tile). Deliberately generous: a refusal names --max-memory.
 */
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidParameterError } from '../errors';
import { largestSegmentBytes, readMappedWeights } from '../mapped-weights';
import type { ModelManifest } from '../model-manifest';
import { DEFAULT_TILE_SIZE } from '../video/vae-tiling';
import type { CheckedInputs } from './animatediff-inputs';
import type { ResolvedControlNet } from './controlnet';
import { readControlNetManifest } from './controlnet-model';

export interface ModelArchitecture {
  unet: { blockOutChannels: number[]; crossAttnLevels: number[]; heads: number; layersPerBlock: number };
  vae: { blockOutChannels: number[] };
  /** Bytes of the weight files the pipeline loads, as exported. */
  weightBytes: number;
}

/** What the estimate needs of a ControlNet: its weight file, what it is fed, and the residuals it hands the UNet. */
export interface ControlNetSize {
  weightBytes: number;
  /** Channels of the down residuals then the mid one (controlnet.yaml's residual_channels). */
  residualChannels: number[];
  /**
   * What it is fed per frame: 'frames', a ControlNet's RGB conditioning frames in pixels; a SparseCtrl's condition
   * (plus its 1-channel mask): 'latents', VAE latents at latent size (RGB), or 'pixels', at pixel size (scribble).
   */
  condition: 'frames' | 'latents' | 'pixels';
  /** Channels of that condition (conditioning_channels: 3 for frames and pixels, the latent channels for latents). */
  conditioningChannels: number;
  /** SparseCtrl: the keyframe images (frameIndices' length); 0 for a ControlNet. */
  keyframes: number;
}

export interface MemoryEstimate {
  /** Peak bytes: weights + latents + the larger of one UNet call and one VAE chunk + the frames. */
  total: number;
  /** The model's weights and any ControlNets'. */
  weights: number;
  latents: number;
  /** One UNet call: one context window of frames, both CFG halves, with the ControlNet residuals it adds. */
  unet: number;
  /** One VAE call: one chunk of frames, one tile. */
  vae: number;
  /** The decoded frames (uint8) and one decoded chunk (float). */
  frames: number;
}

/** A render would need more memory than the machine has (or --max-memory allows). */
export class MemoryLimitError extends Error {
  constructor(
    message: string,
    readonly estimate: MemoryEstimate,
    readonly limit: number,
  ) {
    super(message);
    this.name = 'MemoryLimitError';
  }
}

/** A config.json beside an exported module ({} when missing or unreadable: the defaults apply). */
export async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export const numbers = (v: unknown, fallback: number[]): number[] => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : fallback);

/** The sizes the estimate needs, from the exported configs beside the modules (SD1.5's where absent), for a render on `device`. */
export async function readArchitecture(manifest: ModelManifest, device = 'cpu'): Promise<ModelArchitecture> {
  const unet = await readJson(path.join(path.dirname(manifest.unet.file), 'config.json'));
  const vae = await readJson(path.join(path.dirname(manifest.vae.file), 'config.json'));
  const blockOut = numbers(unet.block_out_channels, [320, 640, 1280, 1280]);
  const down = Array.isArray(unet.down_block_types) ? (unet.down_block_types as unknown[]).map(String) : blockOut.map((_, i) => (i < 3 ? 'CrossAttnDownBlock3D' : 'DownBlock3D'));
  const files = [manifest.unet.file, manifest.vae.file, ...(manifest.textEncoder ? [manifest.textEncoder.file] : [])];
  const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size, () => 0)));
  // mapped weights: on the CPU a UNet call holds one segment (a block) of them at a time; elsewhere they are copied whole
  const mapped = await readMappedWeights(manifest.unet.file);
  if (mapped) sizes[0] += device === 'cpu' ? largestSegmentBytes(mapped) : mapped.bytes;
  return {
    unet: {
      blockOutChannels: blockOut,
      crossAttnLevels: down.flatMap((t, i) => (t.startsWith('CrossAttn') ? [i] : [])),
      heads: typeof unet.attention_head_dim === 'number' ? unet.attention_head_dim : 8, // diffusers' SD1.5 name for the head count
      layersPerBlock: typeof unet.layers_per_block === 'number' ? unet.layers_per_block : 2,
    },
    vae: { blockOutChannels: numbers(vae.block_out_channels, [128, 256, 512, 512]) },
    weightBytes: sizes.reduce((a, b) => a + b, 0),
  };
}

export const DTYPE_BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8 };

/**
 * Scores, float32 softmax and its cast back, for one attention slice over `batch` matrices of tokens x tokens
 * (the math path slices batch*heads to about `sliceElements` score elements: model.yaml's attention_slice_elements).
 */
export function attentionBytes(batch: number, tokens: number, bytes: number, sliceElements: number): number {
  const elements = Math.max(tokens * tokens, Math.min(batch * tokens * tokens, sliceElements));
  return elements * (bytes + 4 + bytes);
}

/** The weight bytes, conditioning and residual channels of generate()'s ControlNets, from their manifests (nothing loads). */
export async function readControlNetSizes(nets: readonly ResolvedControlNet[] = []): Promise<ControlNetSize[]> {
  return Promise.all(
    nets.map(async ({ model, frameIndices }) => {
      const manifest = typeof model === 'string' ? await readControlNetManifest(model) : model.manifest;
      const sparse = manifest.kind === 'sparsectrl';
      return {
        weightBytes: await stat(manifest.file).then((s) => s.size, () => 0),
        residualChannels: manifest.residualChannels,
        condition: sparse ? (manifest.condition ?? 'pixels') : 'frames',
        conditioningChannels: manifest.conditioningChannels,
        keyframes: sparse ? (frameIndices?.length ?? 1) : 0,
      };
    }),
  );
}

/**
 * Bytes controlnet.ts holds for one ControlNet's input during a UNet call over `window` of the `f` frames.
 * A ControlNet: its frames [1, 3, f, H, W] float32, the window's slice when windows are smaller than the video,
 * and the CFG batch of that slice (cat: both halves). A SparseCtrl (sparse-control.ts): its keyframes (RGB: the
 * VAE posterior's mean and logvar [K, C, h, w] in the pipeline dtype; scribble: the pixels [1, 3, K, H, W]
 * float32), the video's condition [1, C, f, ...] and mask [1, 1, f, ...] float32 (latent size for RGB, pixel size
 * for scribble), and their window slices; no CFG copy (the module broadcasts the condition over the batch).
 */
function conditioningBytes(net: ControlNetSize, a: CheckedInputs, f: number, window: number, latentSize: number, b: number): number {
  const pixelSize = a.height * a.width;
  const sliced = window < f ? window : 0;
  if (net.condition === 'frames') return (f + sliced + (a.doCfg ? 2 * window : 0)) * 3 * pixelSize * 4;
  const c = net.conditioningChannels;
  const latents = net.condition === 'latents';
  const keyframes = latents ? 2 * net.keyframes * c * latentSize * b : net.keyframes * c * pixelSize * 4;
  return keyframes + (f + sliced) * (c + 1) * (latents ? latentSize : pixelSize) * 4;
}

/**
 * Bytes of one step's ControlNet residuals for `n` rows of tokens at level 0. The down residuals are conv_in's,
 * then layers_per_block per level plus the downsampler's (which is at the next level's size); the mid one is deepest.
 */
function residualBytes(net: ControlNetSize, arch: ModelArchitecture, n: number, h: number, w: number, b: number): number {
  const levels = arch.unet.blockOutChannels.length;
  const per = arch.unet.layersPerBlock + 1;
  return net.residualChannels.reduce((sum, c, k) => {
    const level = k === net.residualChannels.length - 1 ? levels - 1 : Math.min(Math.floor(k / per), levels - 1);
    return sum + n * c * Math.ceil(h / 2 ** level) * Math.ceil(w / 2 ** level) * b;
  }, 0);
}

/** The peak memory of rendering one video with these checked inputs, in `dtype` (with `controlnets` from readControlNetSizes). */
export function estimateRenderMemory(manifest: ModelManifest, arch: ModelArchitecture, a: CheckedInputs, dtype: string, controlnets: readonly ControlNetSize[] = []): MemoryEstimate {
  const b = DTYPE_BYTES[dtype] ?? 4;
  const s = manifest.vae.scaleFactor;
  const [h, w, f] = [a.height / s, a.width / s, a.numFrames];
  const scaleWeights = b / (DTYPE_BYTES[manifest.dtype] ?? 4);
  const weights = (arch.weightBytes + controlnets.reduce((sum, c) => sum + c.weightBytes, 0)) * scaleWeights;
  // FreeNoise runs every frame through one UNet call (its windows are inside the motion modules)
  const window = a.freeNoise ? f : Math.min(f, a.contextLength);
  const n = (a.doCfg ? 2 : 1) * window;
  // latents, scaled input, noise prediction, fused windows, scheduler output, the CFG batch
  // (+ each ControlNet's conditioning: frames, or a SparseCtrl's keyframes, condition and mask)
  const latents = f * manifest.inChannels * h * w * 4 * 6 + controlnets.reduce((sum, c) => sum + conditioningBytes(c, a, f, window, h * w, b), 0);
  const u = arch.unet;
  let conv = 0;
  let attn = 0;
  u.blockOutChannels.forEach((c, i) => {
    const tokens = Math.ceil(h / 2 ** i) * Math.ceil(w / 2 ** i);
    // each level keeps layers+1 skip connections for the up path, plus a few working maps
    conv += n * c * tokens * b * (2 * (u.layersPerBlock + 1) + 4);
    if (u.crossAttnLevels.includes(i)) attn = Math.max(attn, attentionBytes(n * u.heads, tokens, b, manifest.attentionSliceElements) + 4 * n * tokens * c * b);
  });
  // the residuals live through the UNet call; summing several ControlNets' holds a second set
  const residuals = controlnets.reduce((sum, c) => sum + residualBytes(c, arch, n, h, w, b), 0);
  const unet = conv + attn + (controlnets.length > 1 ? 2 * residuals : residuals);

  const chunk = Math.min(a.decodeChunkSize, f);
  const tiled = a.vaeTiling && (h > a.vaeTiling.tileSize || w > a.vaeTiling.tileSize);
  const [th, tw] = a.vaeTiling ? [Math.min(h, a.vaeTiling.tileSize), Math.min(w, a.vaeTiling.tileSize)] : [h, w];
  const vb = arch.vae.blockOutChannels;
  const levels = vb.length;
  let vaeConv = 0;
  vb.forEach((c, i) => {
    // the decoder runs from the deepest level at latent size up to level 0 at image size
    const up = 2 ** (levels - 1 - i);
    vaeConv = Math.max(vaeConv, chunk * c * th * up * tw * up * b * 6);
  });
  const vaeAttn = attentionBytes(chunk, th * tw, b, manifest.attentionSliceElements);
  const tileOutput = tiled ? chunk * 3 * a.height * a.width * 4 * 2 : 0;
  const vae = vaeConv + vaeAttn + tileOutput;

  const frames = f * a.height * a.width * 3 + chunk * 3 * a.height * a.width * 4;
  return { total: weights + latents + Math.max(unet, vae) + frames, weights, latents, unet, vae, frames };
}

/** '8GB', '512MiB', '1.5g', '2000000000' -> bytes (k/M/G/T: powers of 1000; KiB/MiB/GiB/TiB: of 1024). */
export function parseBytes(text: string | number, name = 'maxMemory'): number {
  if (typeof text === 'number' && Number.isFinite(text) && text > 0) return text;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$/i.exec(String(text));
  if (!m) throw new InvalidParameterError(name, "a size such as 8GB, 512MiB or a number of bytes", text);
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * (m[3] ? 1024 : 1000) ** power);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) [n, i] = [n / 1000, i + 1];
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toPrecision(3)} ${units[i]}`;
}

/** Memory a render may use: free host RAM on CPU, free VRAM on CUDA (nvidia-smi); undefined when unknown. */
export async function availableMemory(device: string): Promise<{ bytes: number; what: string } | undefined> {
  if (!device.startsWith('cuda')) return { bytes: os.freemem(), what: 'host RAM' };
  const index = device.includes(':') ? device.split(':')[1]! : '0';
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits', '-i', index], { timeout: 5000 });
    const mib = Number(stdout.trim());
    return Number.isFinite(mib) && mib > 0 ? { bytes: mib * 2 ** 20, what: `VRAM on ${device}` } : undefined;
  } catch {
    return undefined;
  }
}

/** The memory a render may use: --max-memory when given, else the device's free memory (undefined when unknown). */
export async function memoryLimit(maxMemory: string | number | undefined, device: string): Promise<{ bytes: number; what: string } | undefined> {
  return maxMemory !== undefined ? { bytes: parseBytes(maxMemory, '--max-memory'), what: 'that --max-memory allows' } : availableMemory(device);
}

/** The refusal of a render estimated above `limit`, with its parts and `suggestions` (CLI flags, biggest part first). */
export function memoryLimitError(
  label: string,
  size: { width: number; height: number; numFrames: number },
  e: MemoryEstimate,
  limit: { bytes: number; what: string },
  suggestions: string[],
): MemoryLimitError {
  return new MemoryLimitError(
    `${label}: a ${size.width}x${size.height} render of ${size.numFrames} frames needs about ${formatBytes(e.total)} at its peak ` +
      `(weights ${formatBytes(e.weights)}, one UNet call ${formatBytes(e.unet)}, one VAE decode ${formatBytes(e.vae)}), ` +
      `more than the ${formatBytes(limit.bytes)} ${limit.what === 'that --max-memory allows' ? limit.what : `of free ${limit.what}`}. ` +
      `Try ${suggestions.join(', or ')}; --max-memory SIZE overrides this check.`,
    e,
    limit.bytes,
  );
}

/** What to change when the estimate is over the limit, biggest part first. Names are the CLI's flags. */
export function memorySuggestions(e: MemoryEstimate, a: CheckedInputs, vaeScaleFactor: number): string[] {
  const out: string[] = [];
  if (e.vae >= e.unet) {
    // tiles are 64 latent pixels (512 image pixels for SD): tiling helps only above that
    if (!a.vaeTiling && Math.max(a.height, a.width) / vaeScaleFactor > DEFAULT_TILE_SIZE) out.push('--vae-tiling (decode in tiles)');
    if (a.decodeChunkSize > 1 && a.numFrames > 1) out.push(`a smaller --decode-chunk-size (now ${Math.min(a.decodeChunkSize, a.numFrames)})`);
  } else if (a.freeNoise) out.push(`the context windows instead of --free-noise (which runs all ${a.numFrames} frames per UNet call)`);
  else if (a.contextLength > 1 && a.numFrames > 1) out.push(`a smaller --context-length (now ${Math.min(a.contextLength, a.numFrames)} frames per UNet call)`);
  out.push(`a smaller --width/--height (now ${a.width}x${a.height})`);
  return out;
}
