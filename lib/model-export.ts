/**
 * exportModel(): runs scripts/export_animatediff.py (or export_controlnet.py with `controlnet`, export_svd.py
 * with `svd`) with a Python that imports torch (findTorchPython), passing the flags through.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from './native/binding';
import { findTorchPython } from './python';

export interface ExportArgs {
  /** AnimateDiff: the SD1.5 base (diffusers folder or single file). Required unless `controlnet` or `svd` is given. */
  base?: string;
  /** Export a ControlNet (diffusers folder or original .safetensors/.pth) instead of a model. */
  controlnet?: string;
  /** A diffusers Stable Video Diffusion (SVD / SVD-XT) folder: runs scripts/export_svd.py instead. */
  svd?: string;
  out: string;
  motionModule?: string;
  motionVersion?: 'v1' | 'v2' | 'v3';
  /** PATH[:alpha], repeatable. */
  motionLora?: string[];
  /** PATH[:alpha], repeatable (kohya image LoRA). */
  lora?: string[];
  adapterLora?: string;
  numerics?: 'animatediff' | 'diffusers';
  dtype?: 'float32' | 'float16' | 'bfloat16';
  device?: string;
  attentionBackend?: 'auto' | 'math' | 'sdpa';
  name?: string;
  /** false = --no-verify. Default true. */
  verify?: boolean;
  /** The UNet's weights in unet/model.weights.bin, memory-mapped and released block by block on CPU (mapped-weights.ts). Default true. */
  mappedWeights?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

export interface ExportIO {
  /** Where the exporter's output goes; default: inherited (straight to the terminal). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
}

export const EXPORT_SCRIPT = path.join(packageRoot, 'scripts', 'export_animatediff.py');
export const CONTROLNET_EXPORT_SCRIPT = path.join(packageRoot, 'scripts', 'export_controlnet.py');
export const SVD_EXPORT_SCRIPT = path.join(packageRoot, 'scripts', 'export_svd.py');

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The exporter's command-line arguments for `args` (after the script path). */
export function buildExportArgs(args: ExportArgs): string[] {
  if (args.controlnet !== undefined && args.svd !== undefined) throw new Error('export: --controlnet and --svd cannot be combined');
  if (args.controlnet !== undefined) return buildControlNetArgs(args);
  if (args.svd !== undefined) return buildSvdExportArgs(args);
  if (typeof args.base !== 'string' || args.base === '') throw new Error('export: --base is required (a diffusers folder or an SD1.5 .safetensors/.ckpt)');
  if (typeof args.out !== 'string' || args.out === '') throw new Error('export: --out is required (the model folder to write)');
  const out = ['--base', args.base];
  if (args.motionModule) out.push('--motion-module', args.motionModule);
  if (args.motionVersion) out.push('--motion-version', args.motionVersion);
  for (const m of asList(args.motionLora)) out.push('--motion-lora', checkWeighted('--motion-lora', m));
  for (const l of asList(args.lora)) out.push('--lora', checkWeighted('--lora', l));
  if (args.adapterLora) out.push('--adapter-lora', checkWeighted('--adapter-lora', args.adapterLora));
  if (args.numerics) out.push('--numerics', args.numerics);
  if (args.dtype) out.push('--dtype', args.dtype);
  if (args.device) out.push('--device', args.device);
  if (args.attentionBackend) out.push('--attention-backend', args.attentionBackend);
  out.push('--out', args.out);
  if (args.name) out.push('--name', args.name);
  if (args.verify === false) out.push('--no-verify');
  if (args.mappedWeights === false) out.push('--no-mapped-weights');
  if (args.quiet) out.push('--quiet');
  if (args.debug) out.push('--debug');
  return out;
}

/** `--controlnet PATH --out DIR`: the model-only flags do not apply (--numerics does, to a SparseCtrl's motion modules). */
function buildControlNetArgs(args: ExportArgs): string[] {
  if (typeof args.controlnet !== 'string' || args.controlnet === '') throw new Error('export: --controlnet expects a ControlNet folder or .safetensors/.pth file');
  if (typeof args.out !== 'string' || args.out === '') throw new Error('export: --out is required (the ControlNet folder to write)');
  const modelOnly = (['base', 'motionModule', 'motionVersion', 'motionLora', 'lora', 'adapterLora', 'attentionBackend', 'mappedWeights'] as const).filter((k) => {
    const v = args[k] as unknown;
    return v !== undefined && !(Array.isArray(v) && v.length === 0);
  });
  if (modelOnly.length) throw new Error(`export: --controlnet exports a ControlNet alone; leave out ${modelOnly.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')}`);
  const out = ['--controlnet', args.controlnet, '--out', args.out];
  if (args.numerics) out.push('--numerics', args.numerics);
  if (args.dtype) out.push('--dtype', args.dtype);
  if (args.device) out.push('--device', args.device);
  return out;
}

/** --svd: only the flags the SVD exporter takes; AnimateDiff ones are an error, not silently dropped. */
function buildSvdExportArgs(args: ExportArgs): string[] {
  if (typeof args.svd !== 'string' || args.svd === '') throw new Error('export: --svd expects a diffusers Stable Video Diffusion folder');
  if (typeof args.out !== 'string' || args.out === '') throw new Error('export: --out is required (the model folder to write)');
  const animateDiffOnly: Array<[keyof ExportArgs, string]> = [
    ['base', '--base'], ['motionModule', '--motion-module'], ['motionVersion', '--motion-version'], ['motionLora', '--motion-lora'],
    ['lora', '--lora'], ['adapterLora', '--adapter-lora'], ['numerics', '--numerics'], ['mappedWeights', '--mapped-weights'],
  ];
  for (const [key, flag] of animateDiffOnly) {
    const v = args[key];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) throw new Error(`export: ${flag} is for AnimateDiff exports; it cannot be combined with --svd`);
  }
  const out = ['--svd', args.svd, '--out', args.out];
  if (args.dtype) out.push('--dtype', args.dtype);
  if (args.device) out.push('--device', args.device);
  if (args.attentionBackend) out.push('--attention-backend', args.attentionBackend);
  if (args.name) out.push('--name', args.name);
  if (args.verify === false) out.push('--no-verify');
  if (args.quiet) out.push('--quiet');
  if (args.debug) out.push('--debug');
  return out;
}

function checkWeighted(flag: string, value: string): string {
  // The exporter parses PATH[:alpha] itself (and reports a bad alpha); only empty values are caught here.
  if (typeof value !== 'string' || value === '') throw new Error(`export: ${flag} expects PATH[:alpha], got an empty value`);
  return value;
}

/** Runs the exporter; resolves to its exit code. Throws when no Python with torch is found. */
export async function exportModel(args: ExportArgs, io: ExportIO = {}): Promise<number> {
  const argv = buildExportArgs(args);
  let python;
  try {
    python = await findTorchPython();
  } catch (err) {
    throw new Error(`animatorch export needs Python with torch (and diffusers-format reading via safetensors).\n${(err as Error).message}`, { cause: err });
  }
  return new Promise<number>((resolve, reject) => {
    const script = args.controlnet !== undefined ? CONTROLNET_EXPORT_SCRIPT : args.svd !== undefined ? SVD_EXPORT_SCRIPT : EXPORT_SCRIPT;
    const child = spawn(python.executable, [script, ...argv], {
      stdio: io.onOutput ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      signal: io.signal,
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    child.stdout?.on('data', (d: Buffer) => io.onOutput?.(d.toString(), 'stdout'));
    child.stderr?.on('data', (d: Buffer) => io.onOutput?.(d.toString(), 'stderr'));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
