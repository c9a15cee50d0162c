/**
 * A render job's init media (video-to-video, image-to-video): where it comes from (flags, prompt-config
 * keys, a recipe), reading it at the job's size and frame count, and what the recipe records of it
 * (path and sha256, so `--recipe` reads the same frames again or says the file changed).
 * Errors name generate()'s options (video, image, strength, anchorFirstFrame); checkJobs renames them
 * to the flag or config key the user wrote.
 */
import path from 'node:path';
import { describe, InvalidParameterError } from '../errors';
import type { GenerateOptions } from '../pipelines/animatediff-inputs';
import { assertNumber } from '../validate';
import { readInitImage, readInitVideo } from '../video/read-frames';

/** What a job asks for. Paths as given (resolved against the working directory when read). */
export interface JobInit {
  initVideo?: string;
  initImage?: string;
  strength?: number;
  anchorFirstFrame?: boolean;
  /** From a recipe: the sha256 the file must still have. */
  sha256?: string;
}

/** What the recipe's `extra` records of a render with init media. */
export interface InitRecord {
  initVideo?: { path: string; sha256: string };
  initImage?: { path: string; sha256: string };
  strength?: number;
  anchorFirstFrame?: boolean;
}

/** generate()'s init options of a job (strength and anchorFirstFrame, without the media), for checking. */
export function initOptions(init: JobInit | undefined): Pick<GenerateOptions, 'strength' | 'anchorFirstFrame'> {
  return {
    ...(init?.strength !== undefined && { strength: init.strength }),
    ...(init?.anchorFirstFrame !== undefined && { anchorFirstFrame: init.anchorFirstFrame }),
  };
}

/**
 * Reads the job's init video or image at the checked size and frame count: generate()'s `video` or
 * `image`, and the recipe's record (strength is added by the caller once checkInputs resolved it).
 */
export async function readJobInit(
  init: JobInit,
  dims: { width: number; height: number; numFrames: number },
): Promise<{ options: Pick<GenerateOptions, 'video' | 'image'>; record: InitRecord } | undefined> {
  if (init.initVideo !== undefined && init.initImage !== undefined)
    throw new InvalidParameterError('image', 'to be left out when an init video is given (one of init video and init image)', init.initImage);
  const file = init.initVideo ?? init.initImage;
  if (file === undefined) return undefined;
  if (init.strength !== undefined) assertNumber('strength', init.strength, 0, 1); // before the (slow) read
  const name = init.initVideo !== undefined ? 'video' : 'image';
  const o = { width: dims.width, height: dims.height, name };
  const read = init.initVideo !== undefined ? await readInitVideo(file, dims.numFrames, o) : await readInitImage(file, o);
  if (init.sha256 !== undefined && read.sha256 !== init.sha256) {
    const err = new InvalidParameterError(name, `the file the recipe recorded (sha256 ${init.sha256})`, file);
    err.message = `${name}: sha256 mismatch: ${file} now has sha256 ${read.sha256}, the recipe recorded ${init.sha256}; the file changed since that render, so the frames would differ`;
    throw err;
  }
  const entry = { path: path.resolve(file), sha256: read.sha256 };
  return 'frames' in read
    ? { options: { video: { frames: read.frames, shape: read.shape } }, record: { initVideo: entry } }
    : { options: { image: { data: read.data, shape: read.shape } }, record: { initImage: entry, ...(init.anchorFirstFrame !== undefined && { anchorFirstFrame: init.anchorFirstFrame }) } };
}

/** A recipe's `extra` init record, checked; `file` names the recipe in errors. */
export function initFromRecipe(extra: Record<string, unknown>, file: string): JobInit | undefined {
  const fail = (key: string, expected: string, got: unknown): never => {
    throw new InvalidParameterError(`${file}: extra.${key}`, expected, got);
  };
  const entry = (key: 'initVideo' | 'initImage'): { path: string; sha256: string } | undefined => {
    const v = extra[key] as { path?: unknown; sha256?: unknown } | undefined;
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || typeof v.path !== 'string' || typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256))
      return fail(key, '{ path, sha256 (64 hex digits) }', v);
    return { path: v.path, sha256: v.sha256 };
  };
  const video = entry('initVideo');
  const image = entry('initImage');
  const { strength, anchorFirstFrame } = extra;
  if (strength !== undefined && typeof strength !== 'number') fail('strength', 'a number', strength);
  if (anchorFirstFrame !== undefined && typeof anchorFirstFrame !== 'boolean') fail('anchorFirstFrame', 'a boolean', anchorFirstFrame);
  if (!video && !image && strength === undefined && anchorFirstFrame === undefined) return undefined;
  const media = video ?? image;
  return {
    ...(video && { initVideo: video.path }),
    ...(image && { initImage: image.path }),
    ...(media && { sha256: media.sha256 }),
    ...(strength !== undefined && { strength: strength as number }),
    ...(anchorFirstFrame !== undefined && { anchorFirstFrame: anchorFirstFrame as boolean }),
  };
}

/** A prompt-config entry's init keys (init_video, init_image, strength, anchor_first_frame); paths resolved against `baseDir`. */
export function initFromConfig(e: Record<string, unknown>, baseDir: string, fail: (key: string, detail: string) => never): JobInit | undefined {
  const out: JobInit = {};
  for (const [key, field] of [['init_video', 'initVideo'], ['init_image', 'initImage']] as const) {
    const v = e[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') fail(key, `expected a file path, got ${describe(v)}`);
    out[field] = path.resolve(baseDir, v as string);
  }
  if (out.initVideo !== undefined && out.initImage !== undefined) fail('init_image', 'give either init_video or init_image, not both');
  const s = typeof e.strength === 'bigint' ? Number(e.strength) : e.strength; // YAML integers (0, 1) come as BigInt
  if (s !== undefined && s !== null) {
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s > 1) fail('strength', `expected a number in [0, 1], got ${describe(e.strength)}`);
    out.strength = s as number;
  }
  const a = e.anchor_first_frame;
  if (a !== undefined && a !== null) {
    if (typeof a !== 'boolean') fail('anchor_first_frame', `expected true or false, got ${describe(a)}`);
    out.anchorFirstFrame = a as boolean;
  }
  return Object.keys(out).length ? out : undefined;
}
