/**
 * Video writers: RGB frames [F,H,W,3] (uint8) -> animated GIF/WebP (sharp),
 * MP4 (the user's ffmpeg) or a folder of PNG frames. Every output is written
 * atomically: into a temporary file (or folder) beside the target, renamed into
 * place when complete, and removed on error or abort.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AbortError, InvalidParameterError, throwIfAborted } from '../errors';
import { assertInteger } from '../validate';
import { addPngText } from './png-text';
import { loadSharp } from './sharp';

export type VideoShape = readonly [frames: number, height: number, width: number, channels: 3];

export interface WriteVideoOptions {
  /** Text stored in the file: PNG tEXt/iTXt chunks, a GIF comment, WebP XMP, the MP4 `comment` tag. */
  metadata?: Record<string, string>;
  /** Stops the write; the temporary output is removed and an AbortError is thrown. */
  signal?: AbortSignal;
  /** ffmpeg executable for .mp4 (default: `ffmpeg` on PATH, or ANIMATORCH_FFMPEG). */
  ffmpeg?: string;
  /** x264 constant rate factor for .mp4 (default 17: visually near-lossless). */
  crf?: number;
  /** Lossless WebP (default true). */
  lossless?: boolean;
}

export type VideoFormat = 'gif' | 'webp' | 'mp4' | 'png';

export const FFMPEG_MISSING_MESSAGE = 'ffmpeg was not found on PATH; install it (apt-get install ffmpeg) or write .gif/.webp/PNG frames';

/** The format `writeVideo` picks for a path: by extension; a path without one (or ending in a separator) is a PNG folder. */
export function videoFormatFor(outPath: string, name = 'outPath'): VideoFormat {
  if (/[\\/]$/.test(outPath)) return 'png';
  const ext = path.extname(outPath).toLowerCase();
  if (ext === '') return 'png';
  if (ext === '.gif') return 'gif';
  if (ext === '.webp') return 'webp';
  if (ext === '.mp4') return 'mp4';
  throw new InvalidParameterError(name, `a .gif, .webp or .mp4 file, or a folder (no extension) for PNG frames; '${ext}' is not a known format`, outPath);
}

/**
 * Checks, before any work, that writeVideo can write `outPath`: a known format, no file where a folder
 * must be (or the reverse), and a folder it can create files in (probed with a real file, so root on a
 * read-only mount is caught too). Errors name `name` (the CLI passes '--out'). Creates nothing that stays.
 */
export async function checkOutputPath(outPath: string, name = 'outPath'): Promise<VideoFormat> {
  if (typeof outPath !== 'string' || outPath === '') throw new InvalidParameterError(name, 'a file or folder path', outPath);
  const format = videoFormatFor(outPath, name);
  const target = path.resolve(outPath);
  const existing = await stat(target).catch(() => undefined);
  if (existing && format === 'png' && !existing.isDirectory()) throw new InvalidParameterError(name, `a folder for PNG frames, but ${target} is a file`, outPath);
  if (existing?.isDirectory() && format !== 'png') throw new InvalidParameterError(name, `a ${format} file, but ${target} is a folder`, outPath);
  // The nearest folder that exists: writeVideo creates the rest.
  let dir = format === 'png' ? target : path.dirname(target);
  let st = await stat(dir).catch(() => undefined);
  while (!st && path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
    st = await stat(dir).catch(() => undefined);
  }
  if (st && !st.isDirectory()) throw new InvalidParameterError(name, `a path in a folder, but ${dir} is a file`, outPath);
  const probe = path.join(dir, `.animatorch-write-check-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
  } catch (err) {
    throw new InvalidParameterError(name, `a writable location, but files cannot be created in ${dir} (${(err as NodeJS.ErrnoException).code ?? err})`, outPath);
  }
  await rm(probe, { force: true });
  return format;
}

function checkFrames(frames: Uint8Array, shape: readonly number[]): [number, number, number] {
  if (!(frames instanceof Uint8Array)) throw new InvalidParameterError('frames', 'a Uint8Array of RGB bytes [F,H,W,3]', frames);
  if (!Array.isArray(shape) || shape.length !== 4 || shape[3] !== 3)
    throw new InvalidParameterError('shape', '[frames, height, width, 3]', shape as unknown);
  const [f, h, w] = shape as number[];
  assertInteger('shape[0] (frames)', f, 1);
  assertInteger('shape[1] (height)', h, 1);
  assertInteger('shape[2] (width)', w, 1);
  if (frames.length !== f * h * w * 3)
    throw new InvalidParameterError('frames', `${f}x${h}x${w}x3 = ${f * h * w * 3} bytes for shape [${shape.join(', ')}]`, `${frames.length} bytes`);
  return [f, h, w];
}

/** Text stored in GIF comments and the MP4 comment tag: one `key=value` line per entry. */
export function formatMetadataComment(metadata: Record<string, string>): string {
  return Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

// ---------------------------------------------------------------- atomic files

function tempSibling(target: string, suffix = ''): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp${suffix}`);
}

/**
 * Runs `produce(tempPath)` and renames the temporary file over `target` once it
 * resolves; on error (or abort) the temporary file is removed and the error rethrown.
 */
export async function atomicWrite(target: string, produce: (tempPath: string) => Promise<void>, options: { signal?: AbortSignal; tempSuffix?: string } = {}): Promise<void> {
  throwIfAborted(options.signal);
  await mkdir(path.dirname(path.resolve(target)), { recursive: true });
  const temp = tempSibling(path.resolve(target), options.tempSuffix);
  try {
    await produce(temp);
    throwIfAborted(options.signal);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true, recursive: true }).catch(() => undefined);
    // A file-system error names our hidden temp file; say which output could not be written.
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.path === 'string' && e.path.startsWith(temp)) throw new Error(`cannot write ${target}: ${e.code ?? e.message}`, { cause: err });
    throw err;
  }
}

/** Writes `data` to `target` atomically (temp file in the same folder, then rename). */
export function writeFileAtomic(target: string, data: string | Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
  return atomicWrite(target, (temp) => writeFile(temp, data, { signal: options.signal }), options);
}

// ---------------------------------------------------------------- GIF comments

/** Walks the GIF block structure; returns the trailer's offset and the comment texts. */
function scanGif(gif: Buffer): { trailer: number; comments: string[] } {
  const sig = gif.toString('latin1', 0, 6);
  if (sig !== 'GIF87a' && sig !== 'GIF89a') throw new Error('not a GIF file');
  let p = 13;
  const flags = gif[10]!;
  if (flags & 0x80) p += 3 * (1 << ((flags & 7) + 1));
  const comments: string[] = [];
  const subBlocks = (): Buffer => {
    const parts: Buffer[] = [];
    for (;;) {
      if (p >= gif.length) throw new Error('truncated GIF');
      const n = gif[p++]!;
      if (n === 0) return Buffer.concat(parts);
      parts.push(gif.subarray(p, p + n));
      p += n;
    }
  };
  while (p < gif.length) {
    const b = gif[p]!;
    if (b === 0x3b) return { trailer: p, comments };
    if (b === 0x21) {
      const label = gif[p + 1];
      p += 2;
      const data = subBlocks();
      if (label === 0xfe) comments.push(data.toString('utf8'));
    } else if (b === 0x2c) {
      const f = gif[p + 9]!;
      p += 10;
      if (f & 0x80) p += 3 * (1 << ((f & 7) + 1));
      p += 1; // LZW minimum code size
      subBlocks();
    } else throw new Error(`unexpected GIF block 0x${b.toString(16)} at byte ${p}`);
  }
  throw new Error('GIF has no trailer');
}

/** Returns a copy of `gif` with a Comment Extension holding `text` (UTF-8) before the trailer. */
export function addGifComment(gif: Uint8Array, text: string): Buffer {
  const buf = Buffer.from(gif.buffer, gif.byteOffset, gif.byteLength);
  const { trailer } = scanGif(buf);
  const data = Buffer.from(text, 'utf8');
  const parts: Buffer[] = [Buffer.from([0x21, 0xfe])];
  for (let i = 0; i < data.length; i += 255) {
    const piece = data.subarray(i, i + 255);
    parts.push(Buffer.from([piece.length]), piece);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat([buf.subarray(0, trailer), ...parts, buf.subarray(trailer)]);
}

/** The Comment Extension texts of a GIF. */
export function readGifComments(gif: Uint8Array): string[] {
  return scanGif(Buffer.from(gif.buffer, gif.byteOffset, gif.byteLength)).comments;
}

// ---------------------------------------------------------------- XMP for WebP

const XMP_NS = 'https://github.com/animatorch/animatorch/ns/1.0/';

const xmlEscape = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!).replace(/[\n\r\t]/g, (c) => `&#${c.charCodeAt(0)};`);

/** An XMP packet carrying each metadata entry as an `animatorch:<key>` property. */
export function metadataToXmp(metadata: Record<string, string>): string {
  const props = Object.entries(metadata)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][\w.-]*$/.test(k)) throw new InvalidParameterError('metadata key', 'an XML name (letters, digits, _ . -)', k);
      return `   <animatorch:${k}>${xmlEscape(v)}</animatorch:${k}>`;
    })
    .join('\n');
  return [
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    `  <rdf:Description rdf:about="" xmlns:animatorch="${XMP_NS}">`,
    props,
    '  </rdf:Description>',
    ' </rdf:RDF>',
    '</x:xmpmeta>',
    '<?xpacket end="w"?>',
  ].join('\n');
}

/** Reads back the `animatorch:<key>` properties written by metadataToXmp. */
export function xmpToMetadata(xmp: string): Record<string, string> {
  const out: Record<string, string> = {};
  const unescape = (s: string): string =>
    s.replace(/&(amp|lt|gt|quot|#(\d+));/g, (_, name: string, code?: string) =>
      code ? String.fromCharCode(Number(code)) : ({ amp: '&', lt: '<', gt: '>', quot: '"' } as Record<string, string>)[name]!,
    );
  for (const m of xmp.matchAll(/<animatorch:([\w.-]+)>([\s\S]*?)<\/animatorch:\1>/g)) out[m[1]!] = unescape(m[2]!);
  return out;
}

// ---------------------------------------------------------------- writers

/** GIF delays are centiseconds; spread the rounding so the average frame time is 1000/fps ms. */
function frameDelays(count: number, fps: number, gif: boolean): number[] {
  const ms = 1000 / fps;
  if (!gif) return Array.from({ length: count }, (_, i) => Math.round((i + 1) * ms) - Math.round(i * ms));
  return Array.from({ length: count }, (_, i) => 10 * (Math.round(((i + 1) * ms) / 10) - Math.round((i * ms) / 10)));
}

async function encodeAnimated(format: 'gif' | 'webp', frames: Uint8Array, f: number, h: number, w: number, fps: number, options: WriteVideoOptions): Promise<Buffer> {
  const sharp = loadSharp('for GIF/WebP/PNG output');
  const input = sharp(Buffer.from(frames.buffer, frames.byteOffset, frames.byteLength), {
    raw: { width: w, height: h * f, channels: 3, pageHeight: h },
    limitInputPixels: false,
  });
  const delay = frameDelays(f, fps, format === 'gif');
  if (format === 'gif') {
    let out: Buffer = await input.gif({ loop: 0, delay, effort: 7, keepDuplicateFrames: true }).toBuffer();
    if (options.metadata && Object.keys(options.metadata).length > 0) out = addGifComment(out, formatMetadataComment(options.metadata));
    return out;
  }
  let pipeline = input.webp({ loop: 0, delay, lossless: options.lossless ?? true, effort: 4 });
  if (options.metadata && Object.keys(options.metadata).length > 0) pipeline = pipeline.withXmp(metadataToXmp(options.metadata));
  return pipeline.toBuffer();
}

async function writePngFolder(frames: Uint8Array, f: number, h: number, w: number, outDir: string, options: WriteVideoOptions): Promise<void> {
  const sharp = loadSharp('for GIF/WebP/PNG output');
  const target = path.resolve(outDir.replace(/[\\/]+$/, ''));
  const existing = await stat(target).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new Error(`${target} exists and is not a folder; PNG frames need a folder path`);
  if (existing && (await readdir(target)).length > 0) throw new Error(`${target} already exists and is not empty; choose a new folder for the PNG frames`);
  await atomicWrite(
    target,
    async (tempDir) => {
      await mkdir(tempDir);
      const digits = Math.max(4, String(f - 1).length);
      const frameBytes = h * w * 3;
      for (let i = 0; i < f; i++) {
        throwIfAborted(options.signal);
        const raw = Buffer.from(frames.buffer, frames.byteOffset + i * frameBytes, frameBytes);
        let png: Buffer = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
        if (options.metadata && Object.keys(options.metadata).length > 0) png = addPngText(png, options.metadata);
        await writeFile(path.join(tempDir, `frame_${String(i).padStart(digits, '0')}.png`), png);
      }
      // rename() over an existing empty folder is allowed; over a non-empty one it is not (checked above).
    },
    options,
  );
}

function encodeMp4(frames: Uint8Array, f: number, h: number, w: number, fps: number, tempPath: string, options: WriteVideoOptions): Promise<void> {
  const ffmpeg = options.ffmpeg ?? process.env.ANIMATORCH_FFMPEG ?? 'ffmpeg';
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y'];
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-framerate', String(fps), '-i', 'pipe:0');
  // yuv420p needs even sizes: pad odd ones by a pixel rather than fail.
  if (w % 2 || h % 2) args.push('-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2');
  args.push('-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', String(options.crf ?? 17), '-movflags', '+faststart');
  if (options.metadata && Object.keys(options.metadata).length > 0) args.push('-metadata', `comment=${formatMetadataComment(options.metadata)}`);
  args.push('-f', 'mp4', tempPath);

  return new Promise<void>((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    let aborted: AbortError | undefined;
    const onAbort = (): void => {
      // Settle only once ffmpeg has exited, so the temp file can be removed after its last write.
      aborted = new AbortError('The operation was aborted', { cause: options.signal?.reason });
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      finish(err.code === 'ENOENT' ? Object.assign(new Error(FFMPEG_MISSING_MESSAGE, { cause: err }), { code: 'FFMPEG_NOT_FOUND' }) : err);
    });
    child.on('close', (code, signal) => {
      if (aborted) finish(aborted);
      else if (code === 0) finish();
      else finish(new Error(`ffmpeg failed (${signal ?? `exit code ${code}`}) writing ${w}x${h}@${fps}fps H.264: ${stderr.trim().split('\n').slice(-5).join('\n') || 'no output'}`));
    });
    child.stdin.on('error', () => undefined); // EPIPE when ffmpeg exits early; 'close' reports why
    child.stdin.end(Buffer.from(frames.buffer, frames.byteOffset, f * h * w * 3));
  });
}

/**
 * Writes RGB frames as a video, picking the format from `outPath`: `.gif` and
 * `.webp` (animated, looping forever, 1000/fps ms per frame), `.mp4` (H.264
 * yuv420p via ffmpeg), or a folder (a path without extension) of
 * `frame_0000.png`... Atomic: nothing appears at `outPath` unless it completes.
 */
export async function writeVideo(frames: Uint8Array, shape: readonly number[], fps: number, outPath: string, options: WriteVideoOptions = {}): Promise<void> {
  const [f, h, w] = checkFrames(frames, shape);
  if (typeof fps !== 'number' || !(fps > 0 && fps <= 1000)) throw new InvalidParameterError('fps', 'a number in (0, 1000]', fps);
  if (typeof outPath !== 'string' || outPath === '') throw new InvalidParameterError('outPath', 'a file or folder path', outPath);
  const format = videoFormatFor(outPath);
  if (options.metadata !== undefined) {
    for (const [k, v] of Object.entries(options.metadata))
      if (typeof v !== 'string') throw new InvalidParameterError(`metadata.${k}`, 'a string', v);
  }
  throwIfAborted(options.signal);
  switch (format) {
    case 'gif':
    case 'webp': {
      const data = await encodeAnimated(format, frames, f, h, w, fps, options);
      return writeFileAtomic(outPath, data, options);
    }
    case 'mp4':
      return atomicWrite(outPath, (temp) => encodeMp4(frames, f, h, w, fps, temp, options), options);
    case 'png':
      return writePngFolder(frames, f, h, w, outPath, options);
  }
}

export interface GridVideo {
  frames: Uint8Array;
  shape: readonly number[];
}

export interface GridOptions extends WriteVideoOptions {
  /** Frames per second of the grid video (default 8, AnimateDiff's save_videos_grid). */
  fps?: number;
  /** Black border between and around tiles, in pixels (default 2, as torchvision's make_grid). */
  padding?: number;
}

/**
 * Tiles several videos of the same shape into one: `cols` per row, frame by
 * frame (AnimateDiff's sample grid, torchvision make_grid layout). Returns the grid frames.
 */
export function composeGrid(videos: readonly GridVideo[], cols: number, padding = 2): { frames: Uint8Array; shape: [number, number, number, 3] } {
  if (!Array.isArray(videos) || videos.length === 0) throw new InvalidParameterError('videos', 'a non-empty array of {frames, shape}', videos);
  assertInteger('cols', cols, 1);
  assertInteger('padding', padding, 0);
  const [f, h, w] = checkFrames(videos[0]!.frames, videos[0]!.shape);
  videos.forEach((v, i) => {
    const [fi, hi, wi] = checkFrames(v.frames, v.shape);
    if (fi !== f || hi !== h || wi !== w) throw new InvalidParameterError(`videos[${i}].shape`, `[${f}, ${h}, ${w}, 3] like videos[0]`, v.shape);
  });
  const c = Math.min(cols, videos.length);
  const rows = Math.ceil(videos.length / c);
  const gh = rows * (h + padding) + padding;
  const gw = c * (w + padding) + padding;
  const out = new Uint8Array(f * gh * gw * 3);
  const rowBytes = w * 3;
  videos.forEach((v, i) => {
    const y0 = padding + Math.floor(i / c) * (h + padding);
    const x0 = padding + (i % c) * (w + padding);
    for (let fr = 0; fr < f; fr++)
      for (let y = 0; y < h; y++) {
        const src = ((fr * h + y) * w) * 3;
        const dst = ((fr * gh + y0 + y) * gw + x0) * 3;
        out.set(v.frames.subarray(src, src + rowBytes), dst);
      }
  });
  return { frames: out, shape: [f, gh, gw, 3] };
}

/** Tiles `videos` into a grid (see composeGrid) and writes it with writeVideo. */
export async function writeGrid(videos: readonly GridVideo[], cols: number, outPath: string, options: GridOptions = {}): Promise<void> {
  const grid = composeGrid(videos, cols, options.padding ?? 2);
  await writeVideo(grid.frames, grid.shape, options.fps ?? 8, outPath, options);
}
