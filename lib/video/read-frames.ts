/**
 * Init media for video-to-video and image-to-video: a GIF / WebP / PNG / JPEG (sharp), a video file
 * (the user's ffmpeg) or a folder of frames, read as RGB uint8, resized to cover width × height and
 * centre-cropped, and sampled evenly to the frame count. Each read also returns the sha256 of what it
 * read (the file, or for a folder its sorted file names and their hashes), which the recipe records.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidParameterError } from '../errors';
import { loadSharp } from './sharp';

/** Frames [F, H, W, 3] (uint8), as generate()'s `video`. */
export interface ReadVideo {
  frames: Uint8Array;
  shape: [number, number, number, 3];
  /** The source's frame count before sampling. */
  sourceFrames: number;
  sha256: string;
}

/** Pixels [H, W, 3] (uint8), as generate()'s `image`. */
export interface ReadImage {
  data: Uint8Array;
  shape: [number, number, 3];
  sha256: string;
}

export interface ReadFramesOptions {
  width: number;
  height: number;
  /** The option the path came from, for errors (--init-video, init_video...). */
  name: string;
  /** ffmpeg executable for video files (default: ANIMATORCH_FFMPEG, else `ffmpeg` on PATH). */
  ffmpeg?: string;
  signal?: AbortSignal;
}

/** Decoded by ffmpeg; everything else by sharp. */
const FFMPEG_EXTENSIONS = new Set(['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi']);
/** A folder's frames: the files with these extensions, in natural order (frame2 before frame10). */
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** The frame indices taken from `source` frames for `count`: evenly spaced from the first (floor(i · source / count)). */
export function sampleFrameIndices(source: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor((i * source) / count));
}

function unreadable(o: ReadFramesOptions, file: string, why: string): InvalidParameterError {
  return new InvalidParameterError(o.name, 'a readable GIF, WebP, PNG or JPEG image, a video file (MP4, WebM, MOV...; read with ffmpeg) or a folder of frames', `${file} (${why})`);
}

/** One image page (0 for stills), flattened on black, resized to cover width × height and centre-cropped. */
async function sharpFrame(input: Buffer, page: number, o: ReadFramesOptions, file: string): Promise<Uint8Array> {
  try {
    const { data, info } = await loadSharp('to read init media')(input, { page, failOn: 'error' })
      .flatten({ background: '#000000' })
      .resize(o.width, o.height, { fit: 'cover', position: 'centre' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== o.width || info.height !== o.height) throw new Error(`decoded ${info.width}x${info.height}x${info.channels}`);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    throw unreadable(o, file, (err as Error).message.split('\n')[0]!);
  }
}

async function readBytes(file: string, o: ReadFramesOptions): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw unreadable(o, file, code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
}

/** The number of pages (frames) sharp sees in an image file. */
async function pageCount(input: Buffer, o: ReadFramesOptions, file: string): Promise<number> {
  try {
    const meta = await loadSharp('to read init media')(input).metadata();
    return meta.pages ?? 1;
  } catch (err) {
    throw unreadable(o, file, (err as Error).message.split('\n')[0]!);
  }
}

function assemble(frames: Uint8Array[], o: ReadFramesOptions): Uint8Array {
  const size = o.width * o.height * 3;
  const out = new Uint8Array(frames.length * size);
  frames.forEach((f, i) => out.set(f, i * size));
  return out;
}

function tooFew(o: ReadFramesOptions, file: string, have: number, want: number): InvalidParameterError {
  return new InvalidParameterError(o.name, `at least ${want} frames (the frame count rendered; fewer frames: --frames / L)`, `${have} frame${have === 1 ? '' : 's'} in ${file}`);
}

/** A video (or animated image, or folder of frames) as `numFrames` frames of width × height. */
export async function readInitVideo(file: string, numFrames: number, o: ReadFramesOptions): Promise<ReadVideo> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw unreadable(o, file, err.code === 'ENOENT' ? 'no such file or folder' : err.message);
  });
  let frames: Uint8Array[];
  let sourceFrames: number;
  let digest: string;
  if (info.isDirectory()) {
    const names = (await readdir(file)).filter((n) => IMAGE_EXTENSIONS.has(path.extname(n).toLowerCase()));
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (names.length < numFrames) throw tooFew(o, file, names.length, numFrames);
    sourceFrames = names.length;
    const hashes: string[] = [];
    frames = [];
    const picked = new Set(sampleFrameIndices(names.length, numFrames));
    for (const [i, n] of names.entries()) {
      o.signal?.throwIfAborted();
      const bytes = await readBytes(path.join(file, n), o);
      hashes.push(`${n}\0${sha256(bytes)}\n`);
      if (picked.has(i)) frames.push(await sharpFrame(bytes, 0, o, path.join(file, n)));
    }
    digest = sha256(hashes.join(''));
  } else if (FFMPEG_EXTENSIONS.has(path.extname(file).toLowerCase())) {
    const bytes = await readBytes(file, o);
    digest = sha256(bytes);
    const all = await ffmpegFrames(file, o);
    sourceFrames = all.length;
    if (all.length < numFrames) throw tooFew(o, file, all.length, numFrames);
    frames = sampleFrameIndices(all.length, numFrames).map((i) => all[i]!);
  } else {
    const bytes = await readBytes(file, o);
    digest = sha256(bytes);
    sourceFrames = await pageCount(bytes, o, file);
    if (sourceFrames < numFrames) throw tooFew(o, file, sourceFrames, numFrames);
    frames = [];
    for (const i of sampleFrameIndices(sourceFrames, numFrames)) {
      o.signal?.throwIfAborted();
      frames.push(await sharpFrame(bytes, i, o, file));
    }
  }
  return { frames: assemble(frames, o), shape: [numFrames, o.height, o.width, 3], sourceFrames, sha256: digest };
}

/** A still (the first page of an animated image) as width × height pixels. */
export async function readInitImage(file: string, o: ReadFramesOptions): Promise<ReadImage> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw unreadable(o, file, err.code === 'ENOENT' ? 'no such file' : err.message);
  });
  if (info.isDirectory()) throw unreadable(o, file, 'a folder; give one image file');
  const bytes = await readBytes(file, o);
  return { data: await sharpFrame(bytes, 0, o, file), shape: [o.height, o.width, 3], sha256: sha256(bytes) };
}

/** Every frame of a video file, decoded, scaled to cover width × height and centre-cropped by ffmpeg. */
function ffmpegFrames(file: string, o: ReadFramesOptions): Promise<Uint8Array[]> {
  const ffmpeg = o.ffmpeg ?? process.env.ANIMATORCH_FFMPEG ?? 'ffmpeg';
  const { width: w, height: h } = o;
  const filter = `scale=${w}:${h}:force_original_aspect_ratio=increase:flags=bicubic,crop=${w}:${h}`;
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', file, '-vf', filter, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') reject(err);
      else if (err.code === 'ENOENT') reject(unreadable(o, file, `ffmpeg was not found (${ffmpeg}); install it (apt-get install ffmpeg) or give a GIF, WebP or folder of frames`));
      else reject(unreadable(o, file, err.message));
    });
    child.on('close', (code, signal) => {
      if (code !== 0) return reject(unreadable(o, file, `ffmpeg ${signal ?? `exit code ${code}`}: ${stderr.trim().split('\n').slice(-3).join(' ') || 'no output'}`));
      const data = Buffer.concat(chunks);
      const size = w * h * 3;
      const frames: Uint8Array[] = [];
      for (let i = 0; i + size <= data.length; i += size) frames.push(new Uint8Array(data.buffer, data.byteOffset + i, size));
      resolve(frames);
    });
  });
}
