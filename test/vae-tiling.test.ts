import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTorchPython } from '../lib/python';
import { exportedModel } from './utils/fixtures';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import { type Tensor, tidy } from '../lib/tensor';
import { randn, tensor } from '../lib/tensor-factories';
import { loadModule, type Module } from '../lib/torchscript-module';
import { blendAlong, decodeFrames, planTiles, resolveTilingOptions, tiledDecode } from '../lib/video/vae-tiling';
import { createGenerator } from '../lib/generator';

// ---- tiny exported models, cached in the OS temp dir by preset + seed + flags + exporter hash ----
const execFileP = promisify(execFile);


/** A conv-only decoder (no GroupNorm/attention): its receptive field is ~2 latent pixels, so tiles make sense at small sizes. */
async function localDecoder(): Promise<string> {
  const root = path.join(os.tmpdir(), 'animatorch-test-models');
  const file = path.join(root, 'local-conv-decoder-v1.pt');
  if (existsSync(file)) return file;
  mkdirSync(root, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const code = `
import torch, torch.nn as nn, torch.nn.functional as F
class LocalDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c0 = nn.Conv2d(4, 16, 3, padding=1)
        self.c1 = nn.Conv2d(16, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.c3 = nn.Conv2d(16, 3, 3, padding=1)
    def forward(self, z):
        x = F.silu(self.c0(z))
        x = F.silu(self.c1(F.interpolate(x, scale_factor=2.0, mode="nearest")))
        x = F.silu(self.c2(F.interpolate(x, scale_factor=2.0, mode="nearest")))
        return torch.tanh(self.c3(F.interpolate(x, scale_factor=2.0, mode="nearest")))
torch.jit.script(LocalDecoder().eval()).save(${JSON.stringify(tmp)})
`;
  const script = `${tmp}.py`; // torch.jit.script needs the source in a file
  writeFileSync(script, code);
  try {
    await execFileP((await findTorchPython()).executable, [script]);
  } finally {
    rmSync(script, { force: true });
  }
  renameSync(tmp, file);
  return file;
}

/** Pointwise decoder in tensor ops: nearest x8 of tanh(channel mix). Tiles of it are exact, so any seam is a geometry bug. */
const pointwiseDecode = async (z: Tensor): Promise<Tensor> =>
  tidy(() => {
    const mix = tensor([0.5, -0.3, 0.2, 0.1, 0.4, 0.3, -0.2, 0.6, -0.5, 0.2, 0.1, 0.3], [3, 4]);
    const rgb = z.permute([0, 2, 3, 1]).matmul(mix.transpose(0, 1)).permute([0, 3, 1, 2]).tanh();
    return rgb.interpolate({ scaleFactor: 8, mode: 'nearest' }).contiguous();
  });

async function diff(a: Tensor, b: Tensor): Promise<{ max: number; mean: number }> {
  const x = (await a.toArray()) as Float32Array;
  const y = (await b.toArray()) as Float32Array;
  expect(x.length).toBe(y.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / x.length };
}

describe('tile plan', () => {
  it('uses one tile when the latent fits', () => {
    expect(planTiles(8, 8, { tileSize: 8 })).toMatchObject({ rows: [0], cols: [0] });
    expect(planTiles(64, 64)).toMatchObject({ rows: [0], cols: [0], tileSize: 64, stride: 48, overlapPx: 16 });
  });

  it('starts tiles every stride = tile - round(tile * overlap) until one reaches the edge', () => {
    expect(planTiles(16, 8, { tileSize: 8, overlap: 0.25 })).toEqual({ tileSize: 8, stride: 6, overlapPx: 2, rows: [0, 6, 12], cols: [0] });
    expect(planTiles(96, 100, {})).toMatchObject({ rows: [0, 48], cols: [0, 48] });
    // the last tile is always longer than the overlap
    for (let n = 9; n < 60; n++) {
      const p = planTiles(n, 4, { tileSize: 8, overlap: 0.25 });
      const last = p.rows[p.rows.length - 1]!;
      expect(n - last).toBeGreaterThan(p.overlapPx);
      expect(last + p.tileSize).toBeGreaterThanOrEqual(n);
    }
  });

  it('validates options, naming them', () => {
    expect(resolveTilingOptions(true)).toEqual({ tileSize: 64, overlap: 0.25 });
    expect(resolveTilingOptions(false)).toBe(false);
    expect(() => resolveTilingOptions({ tileSize: 1 })).toThrow(/vaeTiling.tileSize/);
    expect(() => resolveTilingOptions({ overlap: 0.9 })).toThrow(/vaeTiling.overlap/);
  });
});

describe('blend', () => {
  it('fades b in over a linearly: b[y] = a[y - E] (1 - y/E) + b[y] y/E', async () => {
    const a = tensor([10, 10, 10, 10], [1, 1, 4, 1]);
    const b = tensor([0, 0, 0, 0, 0], [1, 1, 5, 1]);
    const out = blendAlong(a, b, 2, 2);
    expect(Array.from((await out.toArray()) as Float32Array)).toEqual([10, 5, 0, 0, 0]);
    const h = blendAlong(a.reshape([1, 1, 1, 4]), b.reshape([1, 1, 1, 5]), 4, 3);
    expect(Array.from((await h.toArray()) as Float32Array)).toEqual([10, 7.5, 5, 2.5, 0]);
  });
});

describe('tiledDecode', () => {
  it('is exact for a pointwise decoder at every size (crop and blend geometry)', async () => {
    for (const [h, w, tile, overlap] of [
      [8, 8, 4, 0.25],
      [12, 20, 8, 0.25],
      [17, 9, 6, 0.5],
      [10, 30, 8, 0],
    ] as const) {
      const z = randn([2, 4, h, w], { generator: createGenerator(h * 100 + w) });
      const full = await pointwiseDecode(z);
      const tiled = await tiledDecode(pointwiseDecode, z, { tileSize: tile, overlap });
      expect(tiled.shape).toEqual([2, 3, h * 8, w * 8]);
      expect((await diff(tiled, full)).max).toBeLessThan(1e-5);
      for (const t of [z, full, tiled]) t.dispose();
    }
  });

  describe('with a conv decoder (TorchScript)', () => {
    let decoder: Module;
    beforeAll(async () => {
      decoder = await loadModule(await localDecoder());
    });
    afterAll(() => decoder?.dispose());

    it('matches the untiled decode within a small tolerance, seams only', async () => {
      const decode = (z: Tensor) => decoder.forward(z) as Promise<Tensor>;
      const z = randn([1, 4, 24, 20], { generator: createGenerator(7) });
      const full = await decode(z);
      for (const tileSize of [8, 12, 16]) {
        const tiled = await tiledDecode(decode, z, { tileSize, overlap: 0.25 });
        expect(tiled.shape).toEqual(full.shape);
        const d = await diff(tiled, full);
        // measured: mean 3e-4..1e-3, max 0.007..0.021 (outputs span [-1, 1])
        expect(d.mean).toBeLessThan(0.002);
        expect(d.max).toBeLessThan(0.05);
        tiled.dispose();
      }
      z.dispose();
      full.dispose();
    });

    it('decodes frames in chunks, calling the decoder once per tile per chunk', async () => {
      const shapes: number[][] = [];
      const decode = (z: Tensor) => {
        shapes.push(z.shape);
        return decoder.forward(z) as Promise<Tensor>;
      };
      const z = randn([5, 4, 12, 12], { generator: createGenerator(3) });
      const firsts: number[] = [];
      await decodeFrames(decode, z, { chunkSize: 2, tiling: { tileSize: 8 }, onChunk: (images, first) => void firsts.push(first, images.shape[0]!) });
      expect(firsts).toEqual([0, 2, 2, 2, 4, 1]);
      // 3 chunks x 2 x 2 tiles ([0, 6] at stride 6)
      expect(shapes.length).toBe(12);
      expect(shapes[0]).toEqual([2, 4, 8, 8]);
      expect(shapes[3]).toEqual([2, 4, 6, 6]);
      z.dispose();
    });

    it('stops between tiles when aborted', async () => {
      const ac = new AbortController();
      let calls = 0;
      const decode = (z: Tensor) => {
        if (++calls === 2) ac.abort();
        return decoder.forward(z) as Promise<Tensor>;
      };
      const z = randn([1, 4, 16, 16]);
      await expect(tiledDecode(decode, z, { tileSize: 8, signal: ac.signal })).rejects.toThrow(/abort/i);
      expect(calls).toBe(2);
      z.dispose();
    });
  });
});

describe('pipeline decodeLatents with vaeTiling', () => {
  let pipe: AnimateDiffPipeline;
  beforeAll(async () => {
    pipe = await loadPipeline(await exportedModel('tiny-v2', 0));
  });
  afterAll(() => pipe?.dispose());

  it('gives frames of the untiled size, close to the untiled decode', async () => {
    const latents = randn([1, 4, 2, 16, 16], { generator: createGenerator(11) });
    const plain = await pipe.decodeLatents(latents, { outputType: 'float' });
    const tiled = await pipe.decodeLatents(latents, { outputType: 'float', vaeTiling: { tileSize: 8, overlap: 0.25 }, decodeChunkSize: 1 });
    expect(tiled.shape).toEqual([2, 128, 128, 3]);
    expect(tiled.shape).toEqual(plain.shape);
    let sum = 0;
    for (let i = 0; i < plain.frames.length; i++) sum += Math.abs(plain.frames[i]! - tiled.frames[i]!);
    // The tiny random VAE normalises over the whole image (GroupNorm, attention), so tiles differ more than
    // with the conv decoder above; they still agree on average.
    expect(sum / plain.frames.length).toBeLessThan(0.1);
    latents.dispose();
  });
});
