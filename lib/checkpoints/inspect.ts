/**
 * `animatorch inspect`: says what a checkpoint file or model folder is without
 * loading its weights. .safetensors: only the JSON header is read. torch.save
 * zip archives (.ckpt/.pt/.pth/.bin): the central directory is listed and
 * data.pkl is walked by a pickle opcode scanner that builds inert values
 * (tuples, dicts, strings, numbers, "global" names) and never imports or calls
 * anything. Folders: an animatorch model (model.yaml), a diffusers pipeline
 * (model_index.json) or a diffusers model (config.json, e.g. a MotionAdapter).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { checkModelFiles, validateModelManifest } from '../model-manifest';
import { CONTROLNET_MANIFEST, readControlNetManifest } from '../pipelines/controlnet-model';
import { classifyTensors, summarizeWeights } from './classify';
import { collectCheckpoint } from './collect-checkpoint';
import { scanPickle } from './pickle';
import { isSafeGlobal } from './pickle-safety';
import { MAX_HEADER, readSafetensorsHeader } from './safetensors';
import type { InspectResult } from './types';
import { listZip, readZipEntry } from './zip';

export type { ComponentInfo, ComponentType, InspectResult, TensorInfo, WeightsSummary } from './types';

async function inspectFile(file: string): Promise<InspectResult> {
  const st = await stat(file);
  const base: InspectResult = { path: file, kind: 'file', format: 'unknown', bytes: st.size, components: [], notes: [], warnings: [] };
  const fd = await open(file, 'r');
  const magic = Buffer.alloc(8);
  await fd.read(magic, 0, 8, 0);
  await fd.close();
  const ext = path.extname(file).toLowerCase();

  const isZip = magic.readUInt32LE(0) === 0x04034b50;
  if (ext === '.safetensors' || (!isZip && magic[0] !== 0x80 && st.size >= 8 && magic.readBigUInt64LE(0) < BigInt(Math.min(st.size, MAX_HEADER)))) {
    try {
      const { tensors, metadata } = await readSafetensorsHeader(file);
      const c = classifyTensors(tensors, path.basename(file));
      return {
        ...base,
        format: 'safetensors',
        components: c.components,
        weights: summarizeWeights(tensors),
        ...(metadata && Object.keys(metadata).length ? { metadata } : {}),
        notes: c.notes,
        warnings: c.warnings,
      };
    } catch (err) {
      if (ext === '.safetensors') {
        const message = `cannot read the safetensors header: ${(err as Error).message}`;
        return { ...base, warnings: [message], problem: { kind: 'invalid', message } };
      }
    }
  }
  if (isZip) {
    let entries: Awaited<ReturnType<typeof listZip>>;
    try {
      entries = await listZip(file);
    } catch (err) {
      const message = `not a readable zip archive (${(err as Error).message}; is the file cut short?)`;
      return { ...base, format: 'torch-zip', warnings: [message], problem: { kind: 'invalid', message } };
    }
    const pkl = entries.find((e) => /(^|\/)data\.pkl$/.test(e.name));
    const names = entries.map((e) => e.name);
    if (!pkl) {
      const message = 'a zip archive without data.pkl: not a torch.save checkpoint';
      return { ...base, format: 'unknown', archiveEntries: names.slice(0, 50), warnings: [message], problem: { kind: 'invalid', message } };
    }
    try {
      const unsafe = new Set<string>();
      const root = scanPickle(await readZipEntry(file, pkl), (g) => void (isSafeGlobal(g) || unsafe.add(g.toString())));
      if (unsafe.size) {
        const message = `unsafe: its pickle would import and call ${[...unsafe].join(', ')} when loaded (torch.load(weights_only=True) and the exporter refuse it); do not load it`;
        return { ...base, format: 'torch-zip', warnings: [message], problem: { kind: 'unsafe', message } };
      }
      const { tensors, otherKeys, unwrapped } = collectCheckpoint(root);
      const c = classifyTensors(tensors, path.basename(file));
      const notes = [...c.notes];
      if (unwrapped) notes.unshift(`Weights are under the top-level '${unwrapped}' key (unwrapped).`);
      return {
        ...base,
        format: 'torch-zip',
        components: c.components,
        weights: summarizeWeights(tensors),
        ...(otherKeys.length ? { otherKeys } : {}),
        notes,
        warnings: c.warnings,
      };
    } catch (err) {
      return {
        ...base,
        format: 'torch-zip',
        archiveEntries: names.length > 50 ? [...names.slice(0, 50), `... ${names.length - 50} more`] : names,
        warnings: [`data.pkl could not be scanned without executing it (${(err as Error).message}); listing the archive entries instead.`],
        problem: { kind: 'unreadable', message: `data.pkl could not be checked without executing it (${(err as Error).message})` },
      };
    }
  }
  if (magic[0] === 0x80 && ['.ckpt', '.pt', '.pth', '.bin'].includes(ext))
    return {
      ...base,
      format: 'torch-legacy',
      warnings: ['a legacy (pre-zip, torch<1.6) torch.save file: its layout cannot be read without unpickling. Re-save it with a current torch, or convert it to .safetensors.'],
      problem: { kind: 'unreadable', message: 'a legacy torch.save file: it cannot be checked without unpickling' },
    };
  return { ...base, warnings: ['not a .safetensors file or a torch.save zip archive'], problem: { kind: 'invalid', message: 'not a .safetensors file or a torch.save zip archive' } };
}

const WEIGHT_FILES = ['diffusion_pytorch_model.safetensors', 'model.safetensors', 'diffusion_pytorch_model.fp16.safetensors', 'model.fp16.safetensors', 'diffusion_pytorch_model.bin', 'pytorch_model.bin'];

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function inspectDiffusersModel(dir: string, config: Record<string, unknown>): Promise<InspectResult> {
  const className = String(config._class_name ?? 'unknown');
  const result: InspectResult = { path: dir, kind: 'folder', format: 'diffusers-model', components: [], metadata: { _class_name: className }, notes: [], warnings: [] };
  for (const k of ['sample_size', 'cross_attention_dim', 'in_channels', 'latent_channels', 'hidden_size', 'num_hidden_layers', 'motion_max_seq_length', 'use_motion_mid_block', 'motion_layers_per_block'])
    if (config[k] !== undefined) result.metadata![k] = config[k];
  const weights = (await Promise.all(WEIGHT_FILES.map(async (f) => ((await exists(path.join(dir, f))) ? f : undefined)))).filter((f): f is string => !!f);
  if (weights.length === 0) {
    const shards = (await readdir(dir)).filter((f) => /\.index\.json$/.test(f));
    result.warnings.push(shards.length ? `sharded weights (${shards[0]}): only the index was checked` : 'no weight file found');
  } else {
    const w = await inspectFile(path.join(dir, weights[0]!));
    result.weights = w.weights;
    result.components = w.components;
    result.notes.push(...w.notes);
    result.warnings.push(...w.warnings);
    result.bytes = w.bytes;
    if (w.problem) result.problem = { ...w.problem, message: `${weights[0]}: ${w.problem.message}` };
  }
  if (className === 'MotionAdapter') {
    const mid = config.use_motion_mid_block === true;
    const maxLen = config.motion_max_seq_length;
    const version = mid ? 'v2' : maxLen === 24 ? 'v1' : result.components[0]?.motionVersion ?? 'v3';
    result.components = [{ type: 'motion-module', keyLayout: 'diffusers', motionVersion: version as 'v1' | 'v2' | 'v3', description: `diffusers MotionAdapter (AnimateDiff motion module ${version})` }];
    result.notes.unshift('Use with export: --motion-module FOLDER (a diffusers MotionAdapter folder).');
  }
  return result;
}

async function inspectFolder(dir: string, options: InspectOptions): Promise<InspectResult> {
  if (await exists(path.join(dir, CONTROLNET_MANIFEST))) {
    const m = await readControlNetManifest(dir);
    const result: InspectResult = { path: dir, kind: 'folder', format: 'animatorch-controlnet', components: [], notes: [], warnings: [] };
    result.metadata = { name: m.name, family: m.family, dtype: m.dtype, conditioningChannels: m.conditioningChannels, crossAttentionDim: m.crossAttentionDim, files: m.files };
    if (m.kind === 'sparsectrl') {
      result.metadata.condition = m.condition;
      result.metadata.maxFrames = m.maxFrames;
      const what = m.condition === 'latents' ? 'RGB, keyframes VAE-encoded' : 'scribble, keyframe pixels';
      result.components.push({ type: 'sparsectrl', description: `animatorch SparseCtrl '${m.name}' (${what}; ${m.dtype}, TorchScript)` });
      result.notes.push('Render with: animatorch render --model MODEL --controlnet "path=FOLDER,input=A.png;B.png,frames=0,15" --prompt "..." (or generate({ controlnet: [{ model: FOLDER, images, frameIndices }] }))');
      return result;
    }
    result.components.push({ type: 'controlnet', description: `animatorch ControlNet '${m.name}' (${m.dtype}, ${m.conditioningChannels} conditioning channels, TorchScript)` });
    result.notes.push('Render with: animatorch render --model MODEL --controlnet path=FOLDER,input=FRAMES --prompt "..." (or generate({ controlnet: [{ model: FOLDER, frames }] }))');
    return result;
  }
  const yamlPath = path.join(dir, 'model.yaml');
  if (await exists(yamlPath)) {
    const result: InspectResult = { path: dir, kind: 'folder', format: 'animatorch-model', components: [], notes: [], warnings: [] };
    const raw = parseYaml(await readFile(yamlPath, 'utf8'), { intAsBigInt: false });
    const m = validateModelManifest(raw, yamlPath);
    result.metadata = {
      name: m.name,
      family: m.family,
      numerics: m.numerics,
      dtype: m.dtype,
      motionModuleVersion: m.motionModule.version,
      ...(m.motionModule.maxFrames ? { maxFrames: m.motionModule.maxFrames } : {}),
      sampleSize: m.sampleSize,
      scheduler: m.scheduler._class_name,
      textEncoder: m.textEncoder ? 'yes' : 'no (pass prompt embeddings)',
      exportVersion: m.exportVersion,
      files: m.files,
    };
    const version = ['v1', 'v2', 'v3'].includes(m.motionModule.version) ? (m.motionModule.version as 'v1' | 'v2' | 'v3') : undefined;
    if (m.family === 'svd') {
      delete result.metadata.motionModuleVersion;
      result.metadata.textEncoder = 'no (image encoder: image_encoder/)';
      result.components.push({ type: 'svd-model', description: `animatorch model '${m.name}' (Stable Video Diffusion, ${m.dtype}, TorchScript)`, parts: ['unet', 'vae', 'image_encoder'] });
    } else result.components.push({
      type: 'unet-motion',
      ...(version ? { motionVersion: version } : {}),
      description: `animatorch model '${m.name}' (AnimateDiff ${m.motionModule.version}, ${m.dtype}, ${m.numerics} numerics, TorchScript)`,
      parts: ['unet', 'vae', ...(m.textEncoder ? ['text_encoder'] : [])],
    });
    let total = 0;
    for (const rel of Object.keys(m.files)) total += (await stat(path.join(dir, rel)).catch(() => undefined))?.size ?? 0;
    result.bytes = total;
    const problems = await checkModelFiles(m, { sha256: options.verify === true });
    result.warnings.push(...problems);
    if (options.verify) {
      result.verified = problems.length === 0;
      if (result.verified) result.notes.push(`Verified: all ${Object.keys(m.files).length} files match model.yaml's sha256.`);
    }
    result.notes.push(m.family === 'svd' ? 'Render with: animatorch render --model FOLDER --image in.png' : 'Render with: animatorch render --model FOLDER --prompt "..."');
    return result;
  }
  const indexPath = path.join(dir, 'model_index.json');
  if (await exists(indexPath)) {
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as Record<string, unknown>;
    const className = String(index._class_name ?? 'unknown');
    const result: InspectResult = {
      path: dir,
      kind: 'folder',
      format: 'diffusers-pipeline',
      components: [],
      metadata: { _class_name: className, _diffusers_version: index._diffusers_version },
      notes: [],
      warnings: [],
      children: [],
    };
    for (const [name, spec] of Object.entries(index)) {
      if (name.startsWith('_') || !Array.isArray(spec) || spec[0] === null) continue;
      const sub = path.join(dir, name);
      const cfgFile = (await exists(path.join(sub, 'config.json'))) ? path.join(sub, 'config.json') : (await exists(path.join(sub, 'scheduler_config.json'))) ? path.join(sub, 'scheduler_config.json') : undefined;
      if (!cfgFile) {
        if (name !== 'tokenizer' && name !== 'feature_extractor' && name !== 'safety_checker') result.warnings.push(`${name}/: no config.json`);
        continue;
      }
      const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
      if (name === 'scheduler') {
        result.metadata!.scheduler = cfg._class_name;
        continue;
      }
      if (name === 'safety_checker' || name === 'feature_extractor' || name === 'image_encoder') continue;
      const child = await inspectDiffusersModel(sub, { _class_name: spec[1], ...cfg });
      result.children!.push(child);
      result.components.push(...child.components.map((c) => ({ ...c, description: `${name}: ${c.description}` })));
    }
    const bad = result.children!.find((c) => c.problem);
    if (bad) result.problem = { ...bad.problem!, message: `${path.basename(bad.path)}/${bad.problem!.message}` };
    const hasMotion = result.components.some((c) => c.type === 'motion-module' || c.type === 'unet-motion');
    result.notes.push(
      className === 'StableVideoDiffusionPipeline'
        ? 'A diffusers Stable Video Diffusion pipeline: export with --svd FOLDER.'
        : hasMotion
        ? 'An AnimateDiff diffusers pipeline: export with --base FOLDER (the motion adapter inside is used).'
        : 'A diffusers Stable Diffusion pipeline: export with --base FOLDER --motion-module MM.',
    );
    return result;
  }
  const configPath = path.join(dir, 'config.json');
  if (await exists(configPath)) {
    const cfg = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    if (typeof cfg._class_name === 'string' || typeof cfg.architectures !== 'undefined')
      return inspectDiffusersModel(dir, { _class_name: cfg._class_name ?? (cfg.architectures as string[])?.[0], ...cfg });
  }
  const files = (await readdir(dir)).filter((f) => /\.(safetensors|ckpt|pt|pth|bin)$/i.test(f));
  return {
    path: dir,
    kind: 'folder',
    format: 'unknown',
    components: [],
    notes: files.length ? [`Checkpoint files here: ${files.slice(0, 10).join(', ')}; inspect them one by one.`] : [],
    warnings: ['not an animatorch model (model.yaml), a diffusers pipeline (model_index.json) or a diffusers model (config.json)'],
  };
}

export interface InspectOptions {
  /** For an animatorch model folder: hash every file against model.yaml's sha256 (sizes are always compared). */
  verify?: boolean;
}

/** What a checkpoint file or model folder is, without loading its weights. */
export async function inspectPath(fileOrDir: string, options: InspectOptions = {}): Promise<InspectResult> {
  const abs = path.resolve(fileOrDir);
  const st = await stat(abs).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${fileOrDir}: ${err.code === 'ENOENT' ? 'no such file or folder' : err.message}`);
  });
  return st.isDirectory() ? inspectFolder(abs, options) : inspectFile(abs);
}

const human = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
const bytesText = (n: number): string => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} B`);

/** The inspection as text for the terminal. */
export function formatInspectResult(r: InspectResult, indent = ''): string {
  const lines: string[] = [];
  lines.push(`${indent}${r.path}${r.problem ? `  [${r.problem.kind.toUpperCase()}]` : ''}`);
  lines.push(`${indent}  format: ${r.format}${r.bytes !== undefined ? ` (${bytesText(r.bytes)})` : ''}`);
  for (const c of r.components) lines.push(`${indent}  is: ${c.description}${c.keyLayout ? ` [${c.keyLayout} keys]` : ''}`);
  if (r.weights) {
    const w = r.weights;
    lines.push(`${indent}  tensors: ${w.tensors}, parameters: ${human(w.parameters)} (${w.parameters})`);
    lines.push(`${indent}  dtypes: ${Object.entries(w.dtypes).map(([d, n]) => `${d} x${n}`).join(', ')}`);
    lines.push(`${indent}  key prefixes: ${Object.entries(w.prefixes).slice(0, 8).map(([p, n]) => `${p} (${n})`).join(', ')}`);
  }
  if (r.metadata)
    for (const [k, v] of Object.entries(r.metadata)) {
      if (k === 'files' && v && typeof v === 'object') {
        lines.push(`${indent}  files:`);
        for (const [f, info] of Object.entries(v as Record<string, { sha256: string; bytes: number }>))
          lines.push(`${indent}    ${f}  ${bytesText(info.bytes)}  sha256 ${info.sha256.slice(0, 16)}…`);
      } else lines.push(`${indent}  ${k}: ${typeof v === 'string' ? (v.length > 120 ? `${v.slice(0, 120)}…` : v) : JSON.stringify(v)}`);
    }
  if (r.otherKeys?.length) lines.push(`${indent}  other keys: ${r.otherKeys.slice(0, 10).join(', ')}`);
  if (r.archiveEntries?.length) lines.push(`${indent}  archive entries: ${r.archiveEntries.slice(0, 12).join(', ')}`);
  for (const n of r.notes) lines.push(`${indent}  note: ${n}`);
  for (const w of r.warnings) lines.push(`${indent}  warning: ${w}`);
  for (const c of r.children ?? []) lines.push(formatInspectResult(c, `${indent}  `));
  return lines.join('\n');
}
