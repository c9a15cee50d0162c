/**
 * Memory-bounded VAE decoding: frames in chunks, and each chunk in overlapping
 * spatial tiles blended linearly across the overlap (the scheme of diffusers'
 * AutoencoderKL.tiled_decode and HunyuanVideo's tiled VAE decode, written for
 * animatorch):
 *
 * - tiles of `tileSize` latent pixels start every `stride = tileSize - overlapPx`
 *   latent pixels, `overlapPx = round(tileSize * overlap)`;
 * - each decoded tile's first `blend extent = overlapPx * scale` rows (columns)
 *   fade in linearly over the previous tile's last rows (columns):
 *   `b[y] = a[y - E] * (1 - y / E) + b[y] * (y / E)`;
 * - every tile but the last in a row/column keeps its first `row limit =
 *   stride * scale` pixels, so the pieces tile the image exactly.
 *
 * Peak memory follows the tile, not the frame; the result differs from an
 * untiled decode only near tile seams (the VAE's receptive field is cut there).
 */
import { InvalidParameterError, throwIfAborted } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { arange, cat } from '../tensor-factories';
import { assertInteger, assertNumber, isPlainObject } from '../validate';

/** Latents [n, C, h, w] -> images [n, 3, h·s, w·s]. Must not consume its input. */
export type DecodeFn = (latents: Tensor) => Promise<Tensor>;

export interface VaeTilingOptions {
  /** Tile edge in latent pixels. Default 64 (512 image pixels, the SD1.5 VAE's training size). */
  tileSize?: number;
  /** Fraction of a tile shared with its neighbour, in [0, 0.5]. Default 0.25. */
  overlap?: number;
}

export interface TilePlan {
  tileSize: number;
  /** Latent pixels between tile starts. */
  stride: number;
  /** Latent pixels shared by neighbouring tiles. */
  overlapPx: number;
  /** Tile start offsets along h and w. */
  rows: number[];
  cols: number[];
}

export const DEFAULT_TILE_SIZE = 64;
export const DEFAULT_TILE_OVERLAP = 0.25;

export function resolveTilingOptions(options: VaeTilingOptions | boolean | undefined, name = 'vaeTiling'): Required<VaeTilingOptions> | false {
  if (options === undefined || options === false) return false;
  if (options === true) return { tileSize: DEFAULT_TILE_SIZE, overlap: DEFAULT_TILE_OVERLAP };
  if (!isPlainObject(options)) throw new InvalidParameterError(name, 'false, true or { tileSize, overlap }', options);
  const tileSize = options.tileSize ?? DEFAULT_TILE_SIZE;
  const overlap = options.overlap ?? DEFAULT_TILE_OVERLAP;
  assertInteger(`${name}.tileSize`, tileSize, 2);
  assertNumber(`${name}.overlap`, overlap, 0, 0.5);
  return { tileSize, overlap };
}

/** Where the tiles go for a latent of h x w. One tile when both fit in tileSize. */
export function planTiles(height: number, width: number, options: VaeTilingOptions = {}): TilePlan {
  const { tileSize, overlap } = resolveTilingOptions(options) as Required<VaeTilingOptions>;
  assertInteger('height', height, 1);
  assertInteger('width', width, 1);
  const overlapPx = overlap > 0 ? Math.min(tileSize - 1, Math.max(1, Math.round(tileSize * overlap))) : 0;
  const stride = tileSize - overlapPx;
  const tiled = height > tileSize || width > tileSize;
  const starts = (size: number): number[] => {
    if (!tiled || size <= tileSize) return [0];
    const out = [0];
    // Stop once the last tile reaches the edge, so the final tile is always longer than the overlap.
    while (out[out.length - 1]! + tileSize < size) out.push(out[out.length - 1]! + stride);
    return out;
  };
  return { tileSize, stride, overlapPx, rows: starts(height), cols: starts(width) };
}

/** Fades `b`'s first E entries along `dim` in over `a`'s last E (E clipped to both lengths). Returns a new tensor. */
export function blendAlong(a: Tensor, b: Tensor, extent: number, dim: 2 | 3): Tensor {
  const e = Math.min(a.shape[dim]!, b.shape[dim]!, extent);
  if (e <= 0) return b.clone();
  return tidy(() => {
    const shape = [1, 1, 1, 1];
    shape[dim] = e;
    const w = arange(0, e, 1, { dtype: b.dtype, device: b.device }).div(e).reshape(shape);
    const head = a
      .narrow(dim, a.shape[dim]! - e, e)
      .mul(w.neg().add(1))
      .add(b.narrow(dim, 0, e).mul(w));
    return e === b.shape[dim] ? head : cat([head, b.narrow(dim, e, b.shape[dim]! - e)], dim);
  });
}

/**
 * Decodes latents [n, C, h, w] tile by tile (see the file comment). Falls back to
 * one `decode` call when the latent fits in one tile.
 */
export async function tiledDecode(decode: DecodeFn, latents: Tensor, options: VaeTilingOptions & { signal?: AbortSignal } = {}): Promise<Tensor> {
  if (latents.ndim !== 4) throw new InvalidParameterError('latents', 'a [n, C, h, w] tensor', latents.shape);
  const [, , h, w] = latents.shape as [number, number, number, number];
  const plan = planTiles(h, w, options);
  if (plan.rows.length === 1 && plan.cols.length === 1) return decode(latents);

  let scale = 0;
  let prevRow: Tensor[] = [];
  const rowPieces: Tensor[] = [];
  try {
    for (let i = 0; i < plan.rows.length; i++) {
      const r = plan.rows[i]!;
      const th = Math.min(plan.tileSize, h - r);
      const row: Tensor[] = [];
      const pieces: Tensor[] = [];
      try {
        for (let j = 0; j < plan.cols.length; j++) {
          throwIfAborted(options.signal);
          const c = plan.cols[j]!;
          const tw = Math.min(plan.tileSize, w - c);
          const tile = latents.narrow(2, r, th).narrow(3, c, tw);
          let decoded: Tensor;
          try {
            decoded = await decode(tile);
          } finally {
            tile.dispose();
          }
          if (scale === 0) scale = decoded.shape[2]! / th;
          const extent = plan.overlapPx * scale;
          if (i > 0) decoded = replace(decoded, blendAlong(prevRow[j]!, decoded, extent, 2));
          if (j > 0) decoded = replace(decoded, blendAlong(row[j - 1]!, decoded, extent, 3));
          row.push(decoded);
          // Crop: all but the last row/column keep `stride` latent pixels' worth.
          const keepH = i < plan.rows.length - 1 ? plan.stride * scale : decoded.shape[2]!;
          const keepW = j < plan.cols.length - 1 ? plan.stride * scale : decoded.shape[3]!;
          pieces.push(decoded.narrow(2, 0, keepH).narrow(3, 0, keepW));
        }
        rowPieces.push(pieces.length === 1 ? pieces[0]!.contiguous() : cat(pieces, 3));
      } finally {
        for (const p of pieces) p.dispose();
      }
      for (const t of prevRow) t.dispose();
      prevRow = row;
    }
    return rowPieces.length === 1 ? rowPieces[0]!.clone() : cat(rowPieces, 2);
  } finally {
    for (const t of prevRow) t.dispose();
    for (const t of rowPieces) t.dispose();
  }
}

function replace(old: Tensor, next: Tensor): Tensor {
  old.dispose();
  return next;
}

export interface DecodeFramesOptions {
  /** Frames per decode call. Default 16 (diffusers' decode_chunk_size). */
  chunkSize?: number;
  /** Spatial tiling; default off. */
  tiling?: VaeTilingOptions | boolean;
  signal?: AbortSignal;
  /** Receives each chunk's images [n, 3, H, W] and the index of its first frame; the chunk is disposed after it resolves. */
  onChunk: (images: Tensor, firstFrame: number) => Promise<void> | void;
}

/**
 * Decodes frame latents [N, C, h, w] (already divided by the VAE scaling factor)
 * `chunkSize` frames at a time, each chunk tiled when `tiling` is set, handing
 * every chunk's images to `onChunk` so the caller can convert and free them.
 */
export async function decodeFrames(decode: DecodeFn, frames: Tensor, options: DecodeFramesOptions): Promise<void> {
  if (frames.ndim !== 4) throw new InvalidParameterError('latents', 'a [N, C, h, w] tensor of frame latents', frames.shape);
  const chunkSize = options.chunkSize ?? 16;
  assertInteger('decodeChunkSize', chunkSize, 1);
  const tiling = resolveTilingOptions(options.tiling);
  const n = frames.shape[0]!;
  for (let start = 0; start < n; start += chunkSize) {
    throwIfAborted(options.signal);
    const len = Math.min(chunkSize, n - start);
    const chunk = frames.narrow(0, start, len);
    let images: Tensor;
    try {
      images = tiling ? await tiledDecode(decode, chunk, { ...tiling, signal: options.signal }) : await decode(chunk);
    } finally {
      chunk.dispose();
    }
    try {
      await options.onChunk(images, start);
    } finally {
      images.dispose();
    }
  }
}
