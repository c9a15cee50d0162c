/**
 * `--controlnet path=DIR,input=FRAMES[,scale=S][,start=A][,end=B][,guess][,preprocess=canny|threshold]`:
 * the spec, and its conditioning frames read from a folder of images (sorted by name, the first
 * numFrames), a video (decoded by ffmpeg) or one image (used for every frame), resized to the render's
 * size and optionally turned into Canny edges or a threshold map. Each input is recorded by sha256.
 *
 * A SparseCtrl (its controlnet.yaml says kind: sparsectrl) takes keyframes instead: `frames=0,8` (default 0)
 * and one image per keyframe, `input=a.png;b.png` or a folder (the first images by name); `seed=` is its
 * keyframeSeed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, InvalidParameterError } from '../errors';
import { parseSeed } from '../generator';
import type { ControlNetOptions } from '../pipelines/controlnet';
import { readControlNetManifest } from '../pipelines/controlnet-model';
import { cannyFrames, thresholdFrames } from '../video/control-preprocess';
import { isPlainObject } from '../validate';
import { readImage } from '../video/read-image';
import { FFMPEG_MISSING_MESSAGE } from '../video/writers';

export interface ControlNetSpec {
  /** An exported ControlNet folder (controlnet.yaml). */
  path: string;
  /** A folder of images, a video file or one image. */
  input: string;
  scale?: number;
  start?: number;
  end?: number;
  guess?: boolean;
  preprocess?: 'none' | 'canny' | 'threshold';
  /** Canny thresholds (default 100, 200). */
  low?: number;
  high?: number;
  /** Gray threshold (default 128) and invert (dark strokes on) for preprocess=threshold. */
  threshold?: number;
  invert?: boolean;
  /** SparseCtrl: the keyframes' frame numbers (frameIndices) and keyframeSeed (decimal, as given: 64-bit exact). */
  frames?: number[];
  seed?: string;
}

/** A spec as a recipe records it: with the sha256 of the input files actually read. */
export type RecordedControlNet = ControlNetSpec & { sha256: string };

const IMAGE = /\.(png|jpe?g|webp|bmp|tiff?)$/i;
const NUMBER_KEYS = ['scale', 'start', 'end', 'low', 'high', 'threshold'] as const;

/** Parses `key=value,...`; a token without `=` continues the previous value (so `frames=0,8` keeps its comma). */
export function parseControlNetSpec(text: string, flag = '--controlnet'): ControlNetSpec {
  if (typeof text !== 'string' || text === '') throw new InvalidParameterError(flag, 'path=CONTROLNET_DIR,input=FRAMES[,scale=S][,start=A][,end=B][,guess][,preprocess=canny|threshold][,frames=0,8 (SparseCtrl)]', text);
  const raw: Record<string, string> = {};
  let last: string | undefined;
  for (const token of text.split(',')) {
    const eq = token.indexOf('=');
    if (eq < 0 && ['guess', 'invert'].includes(token.trim())) raw[(last = token.trim())] = 'true';
    else if (eq < 0 && last !== undefined) raw[last] += `,${token}`;
    else if (eq < 0) throw new InvalidParameterError(flag, 'key=value pairs separated by commas', token);
    else raw[(last = token.slice(0, eq).trim())] = token.slice(eq + 1).trim();
  }
  const known = ['path', 'input', 'scale', 'start', 'end', 'guess', 'preprocess', 'low', 'high', 'threshold', 'invert', 'frames', 'seed'];
  for (const k of Object.keys(raw)) if (!known.includes(k)) throw new InvalidParameterError(`${flag} ${k}`, `one of the keys ${known.join(', ')}`, k);
  for (const k of ['path', 'input'] as const) if (!raw[k]) throw new InvalidParameterError(`${flag} ${k}`, k === 'path' ? 'an exported ControlNet folder (path=DIR)' : 'a folder of images, a video or an image (input=...)', raw[k]);
  const spec: ControlNetSpec = { path: raw.path!, input: raw.input! };
  for (const k of NUMBER_KEYS)
    if (raw[k] !== undefined) {
      const v = Number(raw[k]);
      if (raw[k] === '' || !Number.isFinite(v)) throw new InvalidParameterError(`${flag} ${k}`, 'a number', raw[k]);
      spec[k] = v;
    }
  for (const k of ['guess', 'invert'] as const)
    if (raw[k] !== undefined) {
      if (!['true', 'false'].includes(raw[k]!)) throw new InvalidParameterError(`${flag} ${k}`, 'true or false', raw[k]);
      spec[k] = raw[k] === 'true';
    }
  if (raw.frames !== undefined) {
    const list = raw.frames.split(',').map((t) => t.trim());
    if (list.some((t) => !/^\d+$/.test(t))) throw new InvalidParameterError(`${flag} frames`, 'keyframe numbers separated by commas (frames=0,8)', raw.frames);
    spec.frames = list.map(Number);
  }
  if (raw.seed !== undefined) {
    if (!/^\d+$/.test(raw.seed)) throw new InvalidParameterError(`${flag} seed`, 'a non-negative integer', raw.seed);
    spec.seed = parseSeed(raw.seed, `${flag} seed`).toString(); // not through a JS number: seeds above 2^53 stay exact
  }
  if (raw.preprocess !== undefined) {
    if (!['none', 'canny', 'threshold'].includes(raw.preprocess)) throw new InvalidParameterError(`${flag} preprocess`, "'none', 'canny' or 'threshold'", raw.preprocess);
    spec.preprocess = raw.preprocess as ControlNetSpec['preprocess'];
  }
  return spec;
}

async function readVideo(file: string, r: { numFrames: number; width: number; height: number }, name: string): Promise<Uint8Array> {
  const ffmpeg = process.env.ANIMATORCH_FFMPEG ?? 'ffmpeg';
  const args = ['-v', 'error', '-i', file, '-frames:v', String(r.numFrames), '-vf', `scale=${r.width}:${r.height}:flags=lanczos`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  let stdout: Buffer;
  try {
    ({ stdout } = await promisify(execFile)(ffmpeg, args, { encoding: 'buffer', maxBuffer: r.numFrames * r.width * r.height * 3 + (1 << 20) }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${name}: ${FFMPEG_MISSING_MESSAGE}`);
    throw new InvalidParameterError(name, 'a video ffmpeg can decode', `${file} (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split('\n')[0]})`);
  }
  const frame = r.width * r.height * 3;
  if (stdout.length < r.numFrames * frame) throw new InvalidParameterError(name, `a video of at least ${r.numFrames} frames (--frames)`, `${file} (${Math.floor(stdout.length / frame)} frames)`);
  return new Uint8Array(stdout.buffer, stdout.byteOffset, r.numFrames * frame);
}

/** The spec's conditioning frames [numFrames, height, width, 3] and the sha256 of what was read. */
export async function loadControlInput(spec: ControlNetSpec, r: { numFrames: number; width: number; height: number }, name = '--controlnet.input'): Promise<{ frames: Uint8Array; shape: [number, number, number, 3]; sha256: string }> {
  const st = await stat(spec.input).catch(() => undefined);
  if (!st) throw new InvalidParameterError(name, 'a folder of images, a video or an image', `${spec.input} (no such file or folder)`);
  const frameBytes = r.width * r.height * 3;
  const frames = new Uint8Array(r.numFrames * frameBytes);
  const hash = createHash('sha256');
  if (st.isDirectory()) {
    const files = (await readdir(spec.input)).filter((f) => IMAGE.test(f)).sort();
    if (files.length < r.numFrames) throw new InvalidParameterError(name, `a folder of at least ${r.numFrames} images (--frames)`, `${spec.input} (${files.length} images)`);
    for (const [k, f] of files.slice(0, r.numFrames).entries()) {
      const file = path.join(spec.input, f);
      hash.update(f).update('\0').update(await readFile(file));
      frames.set((await readImage(file, { size: [r.height, r.width], name })).data, k * frameBytes);
    }
  } else {
    hash.update(await readFile(spec.input));
    if (IMAGE.test(spec.input)) {
      const img = (await readImage(spec.input, { size: [r.height, r.width], name })).data;
      for (let k = 0; k < r.numFrames; k++) frames.set(img, k * frameBytes);
    } else frames.set(await readVideo(spec.input, r, name));
  }
  const shape: [number, number, number, 3] = [r.numFrames, r.height, r.width, 3];
  return { frames: preprocess(spec, frames, shape), shape, sha256: hash.digest('hex') };
}

/** A SparseCtrl's keyframe images [K, height, width, 3] (K = frames.length) and the sha256 of what was read. */
export async function loadKeyframeInput(spec: ControlNetSpec, count: number, r: { width: number; height: number }, name: string): Promise<{ frames: Uint8Array; shape: [number, number, number, 3]; sha256: string }> {
  const parts = spec.input.split(';');
  let files = parts;
  if (parts.length === 1) {
    const st = await stat(spec.input).catch(() => undefined);
    if (!st) throw new InvalidParameterError(name, 'keyframe images (a;b or a folder)', `${spec.input} (no such file or folder)`);
    if (st.isDirectory()) files = (await readdir(spec.input)).filter((f) => IMAGE.test(f)).sort().slice(0, count).map((f) => path.join(spec.input, f));
  }
  if (files.length !== count) throw new InvalidParameterError(name, `one image per keyframe (${count}: frames=${(spec.frames ?? [0]).join(',')})`, `${files.length} images (${spec.input})`);
  const frameBytes = r.width * r.height * 3;
  const frames = new Uint8Array(count * frameBytes);
  const hash = createHash('sha256');
  for (const [k, file] of files.entries()) {
    if (!IMAGE.test(file)) throw new InvalidParameterError(name, 'image files (png, jpg, webp, bmp, tiff)', file);
    const data = await readFile(file).catch(() => {
      throw new InvalidParameterError(name, 'keyframe images that exist', file);
    });
    hash.update(path.basename(file)).update('\0').update(data);
    frames.set((await readImage(file, { size: [r.height, r.width], name })).data, k * frameBytes);
  }
  const shape: [number, number, number, 3] = [count, r.height, r.width, 3];
  return { frames: preprocess(spec, frames, shape), shape, sha256: hash.digest('hex') };
}

function preprocess(spec: ControlNetSpec, frames: Uint8Array, shape: [number, number, number, 3]): Uint8Array {
  return spec.preprocess === 'canny'
    ? cannyFrames(frames, shape, { low: spec.low, high: spec.high })
    : spec.preprocess === 'threshold'
      ? thresholdFrames(frames, shape, { threshold: spec.threshold, invert: spec.invert })
      : frames;
}

/** generate()'s `controlnet` for the specs (each model's controlnet.yaml says ControlNet or SparseCtrl), and what the recipe records of them. */
export async function controlNetOptions(specs: ControlNetSpec[], r: { numFrames: number; width: number; height: number }, flag = '--controlnet'): Promise<{ options: ControlNetOptions[]; recorded: RecordedControlNet[] }> {
  const options: ControlNetOptions[] = [];
  const recorded: RecordedControlNet[] = [];
  for (const [i, s] of specs.entries()) {
    const name = specs.length > 1 ? `${flag}[${i}].input` : `${flag}.input`;
    const sparse = (await readControlNetManifest(s.path)).kind === 'sparsectrl';
    if (!sparse && (s.frames !== undefined || s.seed !== undefined))
      throw new InvalidParameterError(`${name.replace(/\.input$/, '')}.${s.frames !== undefined ? 'frames' : 'seed'}`, `to be left out: ${s.path} is a ControlNet (keyframes are for a SparseCtrl)`, s.frames ?? s.seed);
    const frameIndices = s.frames ?? [0];
    const input = sparse ? await loadKeyframeInput(s, frameIndices.length, r, name) : await loadControlInput(s, r, name);
    const pixels = { frames: input.frames, shape: input.shape };
    options.push({
      model: s.path,
      ...(sparse ? { images: pixels, frameIndices, ...(s.seed !== undefined && { keyframeSeed: s.seed }) } : { frames: pixels }),
      ...(s.scale !== undefined && { scale: s.scale }),
      ...(s.start !== undefined && { guidanceStart: s.start }),
      ...(s.end !== undefined && { guidanceEnd: s.end }),
      ...(s.guess !== undefined && { guessMode: s.guess }),
    });
    recorded.push({ ...s, path: path.resolve(s.path), input: s.input.split(';').map((f) => path.resolve(f)).join(';'), sha256: input.sha256 });
  }
  return { options, recorded };
}

/** `controlnet`: specs as the flag takes them, or mappings; path and input resolve as the file's other paths. */
export function controlNetsFromConfig(v: unknown, fail: (key: string | undefined, detail: string) => never, pathOf: (key: string, v: string) => string): ControlNetSpec[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return fail('controlnet', `expected a list of "path=..,input=.." specs or {path, input, scale, ...}, got ${describe(v)}`);
  return v.map((item, i) => {
    // a list of inputs is a SparseCtrl's keyframes (a;b), a list of frames its keyframe numbers (0,8)
    const value = (k: string, x: unknown) => (Array.isArray(x) ? x.map(String).join(k === 'input' ? ';' : ',') : String(x));
    const text = typeof item === 'string' ? item : isPlainObject(item) ? Object.entries(item).map(([k, x]) => (x === true ? k : `${k}=${value(k, x)}`)).join(',') : undefined;
    if (text === undefined) return fail(`controlnet[${i}]`, `expected a spec string or a mapping, got ${describe(item)}`);
    try {
      const spec = parseControlNetSpec(text, `controlnet[${i}]`);
      return { ...spec, path: pathOf(`controlnet[${i}].path`, spec.path), input: spec.input.split(';').map((f) => pathOf(`controlnet[${i}].input`, f)).join(';') };
    } catch (err) {
      if (err instanceof InvalidParameterError) return fail(err.parameter, `expected ${err.expected}, got ${describe(err.actual)}`);
      throw err;
    }
  });
}
