// Mapped weights (export --mapped-weights): the UNet's parameters are read through mmap and each block's
// pages are released after it runs; the numbers stay those of the same weights held in memory.
import { copyFileSync, cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportedModel } from './utils/fixtures';
import { largestSegmentBytes, readMappedWeights } from '../lib/mapped-weights';
import { buildExportArgs } from '../lib/model-export';
import { readArchitecture } from '../lib/pipelines/memory-estimate';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import type { AnimateDiffPipelineOutput } from '../lib/pipelines/pipeline-output';
import { readModelManifest } from '../lib/model-manifest';
import { randn, tensor } from '../lib/tensor-factories';
import { Tensor } from '../lib/tensor';
import { loadModule } from '../lib/torchscript-module';
import { createGenerator } from '../lib/generator';

const MAPPED = ['--mapped-weights'];
const BASE = { prompt: 'a red fox running in the snow', width: 64, height: 64, numFrames: 4, numInferenceSteps: 2, seed: 42 };

/** Resident bytes of this process's mappings of `file` (/proc/self/smaps; Linux). */
function residentBytes(file: string): number {
  const lines = readFileSync('/proc/self/smaps', 'utf8').split('\n');
  let inFile = false;
  let kib = 0;
  for (const line of lines) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.trimEnd().endsWith(file);
    else if (inFile && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
  }
  return kib * 1024;
}

async function unetInputs(): Promise<[Tensor, Tensor, Tensor]> {
  const g = createGenerator(7);
  return [randn([2, 4, 3, 8, 8], { generator: g }), tensor(new Float32Array([10, 500]), [2]), randn([2, 77, 32], { generator: g })];
}

describe('mapped weights', () => {
  it('the mapped UNet gives the in-memory export the same output, bit for bit, and its parameters the same shapes', async () => {
    const [plain, mapped] = [await exportedModel(), await exportedModel('tiny-v2', 0, MAPPED)];
    const a = await loadModule(path.join(plain, 'unet', 'model.pt'));
    const b = await loadModule(path.join(mapped, 'unet', 'model.pt'));
    try {
      const inputs = await unetInputs();
      const [ya, yb] = [(await a.forward(...inputs)) as Tensor, (await b.forward(...inputs)) as Tensor];
      expect(yb.shape).toEqual([2, 4, 3, 8, 8]);
      expect(Buffer.from((await yb.toArray()).buffer).equals(Buffer.from((await ya.toArray()).buffer))).toBe(true);
      expect(b.parameters().map((p) => [p.name, p.shape, p.dtype])).toEqual(a.parameters().map((p) => [p.name, p.shape, p.dtype]));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it.runIf(process.platform === 'linux')('a forward releases every block it ran: the weights file is not left resident', async () => {
    const dir = await exportedModel('tiny-v2', 0, MAPPED);
    const index = (await readMappedWeights(path.join(dir, 'unet', 'model.pt')))!;
    expect(index.segments.map((s) => s.name)).toEqual(['conv_in', 'down_blocks.0', 'down_blocks.1', 'mid_block', 'up_blocks.0', 'up_blocks.1', 'conv_out']);
    expect(index.bytes).toBeGreaterThan(1 << 20);
    const unet = await loadModule(path.join(dir, 'unet', 'model.pt'));
    try {
      expect(residentBytes(index.file)).toBe(0); // mapped, not read
      await unet.forward(...(await unetInputs()));
      // what stays: at most the last partial page of each segment (they start on 64 KiB boundaries)
      expect(residentBytes(index.file)).toBeLessThanOrEqual(index.segments.length * 65536);
      expect(residentBytes(index.file)).toBeLessThan(index.bytes / 4);
    } finally {
      unet.dispose();
    }
    expect(residentBytes(index.file)).toBe(0); // unmapped with the module
  });

  it('a pipeline renders the same video from the mapped export, holding the modules or one stage at a time', async () => {
    const [plain, mapped] = [await exportedModel(), await exportedModel('tiny-v2', 0, MAPPED)];
    const frames = async (dir: string, keepModules: 'all' | 'stage'): Promise<Buffer> => {
      const p = await loadPipeline(dir, { keepModules });
      try {
        return Buffer.from(((await p.generate(BASE)) as AnimateDiffPipelineOutput).frames);
      } finally {
        p.dispose();
      }
    };
    const want = await frames(plain, 'all');
    expect((await frames(mapped, 'all')).equals(want)).toBe(true);
    expect((await frames(mapped, 'stage')).equals(want)).toBe(true);
  });

  it("the memory estimate counts the largest segment of the UNet's weights on the CPU, all of them on a GPU", async () => {
    const [plain, mapped] = [await exportedModel(), await exportedModel('tiny-v2', 0, MAPPED)];
    const unetFile = path.join(mapped, 'unet', 'model.pt');
    const index = (await readMappedWeights(unetFile))!;
    const manifest = await readModelManifest(mapped);
    const others = statSync(manifest.vae.file).size + statSync(manifest.textEncoder!.file).size;
    const { weightBytes } = await readArchitecture(manifest);
    expect(weightBytes).toBe(others + statSync(unetFile).size + largestSegmentBytes(index));
    // on a GPU the weights are copied there whole
    expect((await readArchitecture(manifest, 'cuda')).weightBytes).toBe(others + statSync(unetFile).size + index.bytes);
    const plainManifest = await readModelManifest(plain);
    expect(weightBytes).toBeLessThan((await readArchitecture(plainManifest)).weightBytes);
    expect(largestSegmentBytes(index)).toBe(Math.max(...index.segments.map((s) => s.bytes)));
    expect(largestSegmentBytes(index)).toBeLessThan(index.bytes / 2);
  });

  it('animatorch export maps the weights unless --no-mapped-weights is given', () => {
    expect(buildExportArgs({ base: 'sd15', out: 'o' })).not.toContain('--no-mapped-weights');
    expect(buildExportArgs({ base: 'sd15', out: 'o', mappedWeights: true })).not.toContain('--no-mapped-weights');
    expect(buildExportArgs({ base: 'sd15', out: 'o', mappedWeights: false })).toContain('--no-mapped-weights');
    expect(() => buildExportArgs({ svd: 'svd', out: 'o', mappedWeights: false })).toThrow(/--mapped-weights is for AnimateDiff exports/);
    expect(() => buildExportArgs({ controlnet: 'c.pth', out: 'o', mappedWeights: true })).toThrow(/leave out --mapped-weights/);
  });

  it('a broken index or weights file is refused with an error naming the file', async () => {
    const src = await exportedModel('tiny-v2', 0, MAPPED);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-mapped-'));
    cpSync(path.join(src, 'unet'), dir, { recursive: true });
    const indexFile = path.join(dir, 'model.weights.json');
    const good = JSON.parse(readFileSync(indexFile, 'utf8')) as { tensors: { name: string; bytes: number }[] };

    writeFileSync(indexFile, JSON.stringify({ ...good, format: 'other' }));
    await expect(loadModule(path.join(dir, 'model.pt'))).rejects.toThrow(/model\.weights\.json.*not a version 1 'animatorch-mapped-weights' index/);
    writeFileSync(indexFile, JSON.stringify({ ...good, tensors: [{ ...good.tensors[0], name: 'no.such.weight' }, ...good.tensors.slice(1)] }));
    await expect(loadModule(path.join(dir, 'model.pt'))).rejects.toThrow(/model\.weights\.bin': the module has no parameter 'no\.such\.weight'/);
    writeFileSync(indexFile, JSON.stringify({ ...good, tensors: good.tensors.slice(1) }));
    await expect(loadModule(path.join(dir, 'model.pt'))).rejects.toThrow(new RegExp(`the index has no entry for parameter '${good.tensors[0].name.replace(/\./g, '\\.')}'`));
    writeFileSync(indexFile, JSON.stringify({ ...good, tensors: [{ ...good.tensors[0], bytes: good.tensors[0].bytes + 4 }, ...good.tensors.slice(1)] }));
    await expect(loadModule(path.join(dir, 'model.pt'))).rejects.toThrow(/has \d+ bytes, the module expects \d+/);
    writeFileSync(indexFile, JSON.stringify(good));
    writeFileSync(path.join(dir, 'model.weights.bin'), Buffer.alloc(100)); // truncated
    await expect(loadModule(path.join(dir, 'model.pt'))).rejects.toThrow(/lies outside the file/);
    copyFileSync(path.join(src, 'unet', 'model.weights.bin'), path.join(dir, 'model.weights.bin'));
    const ok = await loadModule(path.join(dir, 'model.pt'));
    ok.dispose();
  });
});
