/**
 * model.yaml: the manifest scripts/animatorch_export/manifest.py writes next to the
 * exported TorchScript files. readModelManifest() parses and checks it and turns
 * every file it names into an absolute path; each error names the key at fault.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parse as parseYaml } from 'yaml';
import { InvalidParameterError } from './errors';

export const MANIFEST_FILE = 'model.yaml';

/** The export layout version this reader understands (manifest.py EXPORT_VERSION). */
export const SUPPORTED_EXPORT_VERSION = 1;

/** A scheduler config as in diffusers' scheduler_config.json: `_class_name` + snake_case constructor arguments. */
export interface SchedulerConfig {
  _class_name: string;
  [key: string]: unknown;
}

export interface ModelManifest {
  /** The folder holding model.yaml (absolute). */
  dir: string;
  name: string;
  family: string;
  /** 'animatediff' (original repo numerics) or 'diffusers'. */
  numerics: string;
  /** The dtype the weights were exported in. */
  dtype: string;
  /** UNet sample size in latent pixels [h, w] (default image size = 8x this). */
  sampleSize: [number, number];
  inChannels: number;
  crossAttentionDim: number;
  textMaxLength: number;
  motionModule: { version: string; maxFrames?: number };
  /** inputs: the UNet's optional run-time inputs (model.yaml unet.inputs; none in exports before them). */
  unet: { file: string; format: string; inputs: string[] };
  /**
   * scaleFactor: image pixels per latent pixel (diffusers' vae_scale_factor, 2^(len(block_out_channels) - 1): 8 for
   * SD). From model.yaml `vae.scale_factor`, else the VAE's config.json beside its file, else 8.
   */
  vae: { file: string; scalingFactor: number; scaleFactor: number; format: string; encoderFile?: string };
  /** Absent in folders exported with --no-text-encoder: pass promptEmbeds then. */
  textEncoder?: { file: string; format: string; hiddenSize?: number; numLayers?: number };
  scheduler: SchedulerConfig;
  /** Score elements per slice of the exported math attention (model.yaml attention_slice_elements; 2^28 before it was written). */
  attentionSliceElements: number;
  /** Relative path -> expected sha256 and size. */
  files: Record<string, { sha256: string; bytes: number }>;
  exportVersion: number;
  /** The parsed YAML as written. */
  raw: Record<string, unknown>;
}

/** model.yaml is missing, unreadable or invalid; `key` names the offending entry. */
export class ModelManifestError extends Error {
  constructor(
    readonly manifestPath: string,
    readonly key: string | undefined,
    message: string,
  ) {
    super(`${manifestPath}${key ? `: ${key}` : ''}: ${message}`);
    this.name = 'ModelManifestError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads `<modelDir>/model.yaml` (or the given .yaml file), validates the keys the
 * pipeline uses and resolves component files against its folder, checking that they exist.
 */
export async function readModelManifest(modelDir: string): Promise<ModelManifest> {
  if (typeof modelDir !== 'string' || modelDir === '') throw new InvalidParameterError('modelDir', 'a model folder path', modelDir);
  const manifestPath = /\.ya?ml$/i.test(modelDir) ? path.resolve(modelDir) : path.resolve(modelDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelManifestError(
      manifestPath,
      undefined,
      code === 'ENOENT' ? 'no such file (is this a folder written by scripts/export_animatediff.py?)' : `cannot read (${String(err)})`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ModelManifestError(manifestPath, undefined, `invalid YAML: ${(err as Error).message}`);
  }
  const manifest = validateModelManifest(raw, manifestPath);
  if ((raw as { vae?: { scale_factor?: unknown } }).vae?.scale_factor === undefined) {
    const fromConfig = await vaeScaleFactorFromConfig(path.join(path.dirname(manifest.vae.file), 'config.json'));
    if (fromConfig !== undefined) manifest.vae.scaleFactor = fromConfig;
  }
  // Checked side by side, reported in a fixed order (the first missing one), whichever stat returns first.
  const files: Array<[string, string | undefined]> = [
    ['unet.file', manifest.unet.file],
    ['vae.file', manifest.vae.file],
    ['text_encoder.file', manifest.textEncoder?.file],
  ];
  const present = await Promise.all(files.map(([, file]) => (file === undefined ? true : access(file).then(() => true, () => false))));
  const missing = present.indexOf(false);
  if (missing >= 0) {
    const [key, file] = files[missing]!;
    throw new ModelManifestError(manifestPath, key, `file '${file}' does not exist`);
  }
  return manifest;
}

/** 2^(len(block_out_channels) - 1) from a diffusers VAE config.json (undefined when there is none). */
async function vaeScaleFactorFromConfig(file: string): Promise<number | undefined> {
  let cfg: unknown;
  try {
    cfg = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
  const blocks = (cfg as { block_out_channels?: unknown })?.block_out_channels;
  return Array.isArray(blocks) && blocks.length > 0 ? 2 ** (blocks.length - 1) : undefined;
}

export interface CheckModelFilesOptions {
  /** Also hash the files and compare their sha256 (reads every byte: seconds for a full-size model). Default false. */
  sha256?: boolean;
  /** Only these files (absolute paths, e.g. `manifest.unet.file`); default: every file model.yaml lists. */
  files?: string[];
  signal?: AbortSignal;
}

/**
 * Compares the files model.yaml lists with the disk: presence and size always (cheap: catches an
 * interrupted copy before torch reports a corrupt zip archive), contents when `sha256` is set.
 * Resolves to one line per problem, empty when everything matches.
 */
export async function checkModelFiles(manifest: ModelManifest, options: CheckModelFilesOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  const only = options.files && new Set(options.files.map((f) => path.resolve(f)));
  for (const [rel, want] of Object.entries(manifest.files)) {
    const file = path.resolve(manifest.dir, rel);
    if (only && !only.has(file)) continue;
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      problems.push(`${rel}: listed in ${MANIFEST_FILE} but missing`);
      continue;
    }
    if (want.bytes && st.size !== want.bytes) {
      problems.push(`${rel}: ${st.size} bytes, ${MANIFEST_FILE} says ${want.bytes} (truncated or replaced?)`);
      continue;
    }
    if (options.sha256) {
      const hash = createHash('sha256');
      await pipeline(createReadStream(file), hash, { signal: options.signal });
      const got = hash.digest('hex');
      if (got !== want.sha256.toLowerCase())
        problems.push(`${rel}: sha256 ${got.slice(0, 12)}…, ${MANIFEST_FILE} says ${want.sha256.slice(0, 12)}… (modified or corrupt)`);
    }
  }
  return problems;
}

/** Checks a parsed manifest; relative files resolve against the manifest's folder. Does not touch the disk. */
export function validateModelManifest(raw: unknown, manifestPath: string): ModelManifest {
  const dir = path.dirname(manifestPath);
  const fail = (key: string | undefined, msg: string): never => {
    throw new ModelManifestError(manifestPath, key, msg);
  };
  if (!isObj(raw)) fail(undefined, 'expected a YAML mapping at the top level');
  const root = raw as Obj;

  const str = (obj: Obj, key: string, prefix = '', optional = false): string | undefined => {
    const v = obj[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || v === '') fail(prefix + key, v === undefined ? 'missing (expected a string)' : `expected a string, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const num = (obj: Obj, key: string, prefix = '', opts: { int?: boolean; min?: number; optional?: boolean } = {}): number | undefined => {
    const v = obj[key];
    if (v === undefined && opts.optional) return undefined;
    const ok = typeof v === 'number' && Number.isFinite(v) && (!opts.int || Number.isInteger(v)) && (opts.min === undefined || v >= opts.min);
    if (!ok)
      fail(
        prefix + key,
        `${v === undefined ? 'missing' : `got ${JSON.stringify(v)}`} (expected ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''})`,
      );
    return v as number;
  };
  const section = (key: string, optional = false): Obj | undefined => {
    const v = root[key];
    if (v === undefined && optional) return undefined;
    if (!isObj(v)) fail(key, v === undefined ? 'missing (expected a mapping)' : 'expected a mapping');
    return v as Obj;
  };
  const file = (obj: Obj, key: string, prefix: string): string => {
    const rel = str(obj, key, prefix)!;
    return path.resolve(dir, rel);
  };
  const format = (obj: Obj, prefix: string): string => {
    const f = str(obj, 'format', prefix, true) ?? 'torchscript';
    if (f !== 'torchscript') fail(`${prefix}format`, `unsupported format '${f}' (only 'torchscript')`);
    return f;
  };

  const exportVersion = num(root, 'animatorch_export_version', '', { int: true, min: 1, optional: true }) ?? 1;
  if (exportVersion > SUPPORTED_EXPORT_VERSION)
    fail('animatorch_export_version', `version ${exportVersion} is newer than this animatorch supports (${SUPPORTED_EXPORT_VERSION}); update animatorch`);

  const sampleSizeRaw = root.sample_size;
  let sampleSize: [number, number];
  if (typeof sampleSizeRaw === 'number' && Number.isInteger(sampleSizeRaw) && sampleSizeRaw > 0) sampleSize = [sampleSizeRaw, sampleSizeRaw];
  else if (Array.isArray(sampleSizeRaw) && sampleSizeRaw.length === 2 && sampleSizeRaw.every((d) => Number.isInteger(d) && d > 0))
    sampleSize = [sampleSizeRaw[0], sampleSizeRaw[1]];
  else sampleSize = fail('sample_size', `expected [height, width] in latent pixels, got ${JSON.stringify(sampleSizeRaw)}`);

  const unetS = section('unet')!;
  const vaeS = section('vae')!;
  const teS = section('text_encoder', true);
  const schedS = section('scheduler')!;
  if (typeof schedS._class_name !== 'string' || schedS._class_name === '')
    fail('scheduler._class_name', 'missing (expected a diffusers scheduler class name, e.g. DDIMScheduler)');

  const motion = isObj(root.motion_module) ? root.motion_module : {};
  const filesRaw = root.files === undefined ? {} : root.files;
  if (!isObj(filesRaw)) fail('files', 'expected a mapping of path -> {sha256, bytes}');
  const files: ModelManifest['files'] = {};
  for (const [k, v] of Object.entries(filesRaw as Obj)) {
    if (!isObj(v) || typeof v.sha256 !== 'string') fail(`files.${k}`, 'expected {sha256, bytes}');
    files[k] = { sha256: (v as Obj).sha256 as string, bytes: Number((v as Obj).bytes ?? 0) };
  }

  return {
    dir,
    name: str(root, 'name', '', true) ?? path.basename(dir),
    family: str(root, 'family', '', true) ?? 'animatediff-sd15',
    numerics: str(root, 'numerics', '', true) ?? 'animatediff',
    dtype: str(root, 'dtype', '', true) ?? 'float32',
    sampleSize,
    inChannels: num(root, 'in_channels', '', { int: true, min: 1, optional: true }) ?? 4,
    crossAttentionDim: num(root, 'cross_attention_dim', '', { int: true, min: 1 })!,
    textMaxLength: num(root, 'text_max_length', '', { int: true, min: 2, optional: true }) ?? 77,
    motionModule: {
      version: typeof motion.version === 'string' ? motion.version : 'unknown',
      maxFrames: num(motion, 'max_frames', 'motion_module.', { int: true, min: 1, optional: true }),
    },
    unet: {
      file: file(unetS, 'file', 'unet.'),
      format: format(unetS, 'unet.'),
      inputs: Array.isArray(unetS.inputs) && unetS.inputs.every((i) => typeof i === 'string') ? (unetS.inputs as string[]) : [],
    },
    vae: {
      file: file(vaeS, 'file', 'vae.'),
      scalingFactor: num(vaeS, 'scaling_factor', 'vae.', { min: Number.MIN_VALUE })!,
      scaleFactor: num(vaeS, 'scale_factor', 'vae.', { int: true, min: 1, optional: true }) ?? 8,
      format: format(vaeS, 'vae.'),
      encoderFile: vaeS.encoder_file === undefined ? undefined : file(vaeS, 'encoder_file', 'vae.'),
    },
    textEncoder: teS && {
      file: file(teS, 'file', 'text_encoder.'),
      format: format(teS, 'text_encoder.'),
      hiddenSize: num(teS, 'hidden_size', 'text_encoder.', { int: true, min: 1, optional: true }),
      numLayers: num(teS, 'num_layers', 'text_encoder.', { int: true, min: 1, optional: true }),
    },
    scheduler: { ...(schedS as SchedulerConfig) },
    attentionSliceElements: num(root, 'attention_slice_elements', '', { int: true, min: 1, optional: true }) ?? 2 ** 28,
    files,
    exportVersion,
    raw: root,
  };
}
