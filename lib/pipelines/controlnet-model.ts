/**
 * An exported ControlNet or SparseCtrl: the folder scripts/export_controlnet.py writes (controlnet.yaml, kind
 * controlnet | sparsectrl, + TorchScript model.pt). loadControlNet() reads and checks the manifest and loads the module once; generate() runs it
 * on every step and context window, and several can be passed at once (diffusers' MultiControlNet).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InvalidParameterError } from '../errors';
import type { Device, DType } from '../tensor';
import { loadModule, type Module } from '../torchscript-module';

export const CONTROLNET_MANIFEST = 'controlnet.yaml';

export interface ControlNetManifest {
  /** The folder holding controlnet.yaml (absolute). */
  dir: string;
  name: string;
  family: string;
  /** 'sparsectrl': AnimateDiff SparseCtrl (keyframes + mask, motion modules), else a per-frame ControlNet. */
  kind: 'controlnet' | 'sparsectrl';
  dtype: string;
  /** model.pt, absolute. */
  file: string;
  inChannels: number;
  conditioningChannels: number;
  crossAttentionDim: number;
  /** Channels of the down residuals then the mid residual (the UNet's skips). */
  residualChannels: number[];
  /** diffusers' global_pool_conditions (shuffle ControlNets): guess mode always on. */
  globalPoolConditions: boolean;
  /** SparseCtrl: what its condition is, VAE latents of the keyframes (RGB) or their pixels (scribble). */
  condition?: 'latents' | 'pixels';
  /** SparseCtrl: its motion modules' positional-table length (the most frames one forward may see). */
  maxFrames?: number;
  files: Record<string, { sha256: string; bytes: number }>;
}

/** Reads `<dir>/controlnet.yaml` (or the file itself); each error names the key at fault. */
export async function readControlNetManifest(location: string): Promise<ControlNetManifest> {
  const st = await stat(location).catch(() => undefined);
  if (!st) throw new InvalidParameterError('controlnet.model', `an exported ControlNet folder (animatorch export --controlnet ...)`, `'${location}' (no such file or folder)`);
  const file = st.isDirectory() ? path.join(location, CONTROLNET_MANIFEST) : location;
  const text = await readFile(file, 'utf8').catch(() => {
    throw new InvalidParameterError('controlnet.model', `a folder with ${CONTROLNET_MANIFEST} (export one with animatorch export --controlnet PATH --out DIR)`, location);
  });
  return validateControlNetManifest(parseYaml(text), file);
}

export function validateControlNetManifest(raw: unknown, file: string): ControlNetManifest {
  const fail = (key: string, msg: string): never => {
    throw new Error(`${file}: ${key}: ${msg}`);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('(top level)', 'expected a YAML mapping');
  const r = raw as Record<string, unknown>;
  if (r.kind !== 'controlnet' && r.kind !== 'sparsectrl') fail('kind', `expected 'controlnet' or 'sparsectrl', got ${JSON.stringify(r.kind)}`);
  const sparse = r.kind === 'sparsectrl';
  if (sparse && r.condition !== 'latents' && r.condition !== 'pixels') fail('condition', `expected 'latents' or 'pixels', got ${JSON.stringify(r.condition)}`);
  if (sparse && r.concat_conditioning_mask !== true) fail('concat_conditioning_mask', 'only SparseCtrls taking the mask (true) are supported');
  if (r.format !== undefined && r.format !== 'torchscript') fail('format', `unsupported format ${JSON.stringify(r.format)} (only 'torchscript')`);
  const int = (k: string): number => (Number.isInteger(r[k]) && (r[k] as number) > 0 ? (r[k] as number) : fail(k, `expected a positive integer, got ${JSON.stringify(r[k])}`));
  const str = (k: string): string => (typeof r[k] === 'string' && r[k] !== '' ? (r[k] as string) : fail(k, `expected a string, got ${JSON.stringify(r[k])}`));
  const channels = r.residual_channels;
  if (!Array.isArray(channels) || channels.length < 2 || !channels.every((c) => Number.isInteger(c) && c > 0))
    fail('residual_channels', `expected a list of channel counts, got ${JSON.stringify(channels)}`);
  const dir = path.dirname(file);
  return {
    dir,
    name: str('name'),
    family: str('family'),
    kind: sparse ? 'sparsectrl' : 'controlnet',
    dtype: str('dtype'),
    file: path.resolve(dir, str('file')),
    inChannels: int('in_channels'),
    conditioningChannels: int('conditioning_channels'),
    crossAttentionDim: int('cross_attention_dim'),
    residualChannels: channels as number[],
    globalPoolConditions: r.global_pool_conditions === true,
    ...(sparse && { condition: r.condition as 'latents' | 'pixels', maxFrames: int('max_frames') }),
    files: (r.files ?? {}) as ControlNetManifest['files'],
  };
}

/** A loaded ControlNet. Pass it (or its folder) as generate({ controlnet: [{ model }] }); dispose() frees it. */
export class ControlNet {
  constructor(
    readonly manifest: ControlNetManifest,
    readonly module: Module,
  ) {}

  get disposed(): boolean {
    return this.module.disposed;
  }

  dispose(): void {
    this.module.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export interface LoadControlNetOptions {
  /** Default 'cpu'; the pipeline's device. */
  device?: Device;
  /** Cast after loading (the pipeline's dtype). */
  dtype?: DType;
  signal?: AbortSignal;
}

/** Loads an exported ControlNet folder (controlnet.yaml + model.pt). */
export async function loadControlNet(location: string, options: LoadControlNetOptions = {}): Promise<ControlNet> {
  if (typeof location !== 'string' || location === '') throw new InvalidParameterError('controlnet.model', 'a path to an exported ControlNet folder', location);
  const manifest = await readControlNetManifest(location);
  const module = await loadModule(manifest.file, options);
  return new ControlNet(manifest, module);
}
