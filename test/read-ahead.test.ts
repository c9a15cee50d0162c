// Reading mapped weights ahead (binding/page-cache.cc, StageModule.readAhead): the chunks of a file not in the
// kernel's page cache are read into it, cached ones skipped, nothing when they exceed the limit; a render
// reads the UNet's weights file before the UNet's first call.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportedModel, python } from './utils/fixtures';
import { AbortError } from '../lib/errors';
import { binding } from '../lib/native/binding';
import { readAheadMappedWeights, readMappedWeights } from '../lib/mapped-weights';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import type { ModuleInput } from '../lib/torchscript-module';

const MiB = 1 << 20;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-read-ahead-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Drops `length` bytes of `file` from `offset` (0: to its end) from the page cache, written back first: POSIX_FADV_DONTNEED. */
async function evict(file: string, offset = 0, length = 0): Promise<void> {
  await python(`import os\nfd = os.open(${JSON.stringify(file)}, os.O_RDONLY)\nos.fsync(fd)\nos.posix_fadvise(fd, ${offset}, ${length}, os.POSIX_FADV_DONTNEED)\nos.close(fd)`);
}

/** A file of `mib` MiB of non-zero bytes. */
function writeFile(name: string, mib: number): string {
  const file = path.join(tmp, name);
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(MiB, 7);
  for (let i = 0; i < mib; i++) writeSync(fd, chunk);
  closeSync(fd);
  return file;
}

describe.runIf(process.platform === 'linux')('reading mapped weights ahead', () => {
  it('reads what is not cached, reads nothing over the limit, and skips what is cached', async () => {
    const file = writeFile('weights.bin', 40);
    await evict(file);
    const over = await binding().readIntoPageCache(file, 10 * MiB).promise;
    expect(over).toEqual({ bytes: 40 * MiB, uncached: 40 * MiB, read: 0 }); // 40 MiB uncached, 10 allowed
    const read = await binding().readIntoPageCache(file, 64 * MiB).promise;
    expect(read).toEqual({ bytes: 40 * MiB, uncached: 40 * MiB, read: 40 * MiB });
    const again = await binding().readIntoPageCache(file, 64 * MiB).promise;
    expect(again).toEqual({ bytes: 40 * MiB, uncached: 0, read: 0 });
  });

  it('counts whole chunks: 2 MiB evicted from the middle one makes that 8 MiB chunk uncached', async () => {
    const file = writeFile('partial.bin', 20); // chunks of 8, 8 and 4 MiB (2 MiB: a whole large folio)
    await binding().readIntoPageCache(file, 64 * MiB).promise;
    await evict(file, 10 * MiB, 2 * MiB);
    expect(await binding().readIntoPageCache(file, 64 * MiB).promise).toEqual({ bytes: 20 * MiB, uncached: 8 * MiB, read: 8 * MiB });
  });

  it('cancel() stops it after the chunk being read', async () => {
    const file = writeFile('cancel.bin', 64);
    await evict(file);
    const reading = binding().readIntoPageCache(file, 128 * MiB);
    reading.cancel();
    const r = await reading.promise;
    expect(r.uncached).toBeLessThanOrEqual(64 * MiB);
    expect(r.read).toBeLessThan(64 * MiB);
  });

  it('rejects a missing file with an error naming it', async () => {
    await expect(binding().readIntoPageCache(path.join(tmp, 'missing.bin'), MiB).promise).rejects.toThrow(/missing\.bin/);
    writeFileSync(path.join(tmp, 'empty.bin'), '');
    expect(await binding().readIntoPageCache(path.join(tmp, 'empty.bin'), MiB).promise).toEqual({ bytes: 0, uncached: 0, read: 0 });
  });

  it('readAheadMappedWeights: the weights file of a mapped export; nothing for a module without one', async () => {
    const [plain, mapped] = [await exportedModel(), await exportedModel('tiny-v2', 0, ['--mapped-weights'])];
    const index = (await readMappedWeights(path.join(mapped, 'unet', 'model.pt')))!;
    await evict(index.file);
    expect(await readAheadMappedWeights(path.join(mapped, 'unet', 'model.pt')).done).toEqual({ bytes: index.bytes, uncached: index.bytes, read: index.bytes });
    expect(await readAheadMappedWeights(path.join(plain, 'unet', 'model.pt')).done).toBeUndefined();
  });

  it.each(['stage', 'all'] as const)("a render (keepModules '%s') reads the UNet's evicted weights before its first call, and skips them once cached", async (keepModules) => {
    const dir = await exportedModel('tiny-v2', 0, ['--mapped-weights']);
    const index = (await readMappedWeights(path.join(dir, 'unet', 'model.pt')))!;
    const p = await loadPipeline(dir, { keepModules });
    try {
      const atFirstCall: unknown[] = [];
      const forward = p.unet.forward.bind(p.unet);
      p.unet.forward = async (...args: ModuleInput[]) => {
        atFirstCall.push(p.unet.lastReadAhead);
        return forward(...args);
      };
      await evict(index.file);
      await p.generate({ prompt: 'a fox', width: 64, height: 64, numFrames: 4, numInferenceSteps: 2, seed: 1 });
      expect(atFirstCall[0]).toEqual({ bytes: index.bytes, uncached: index.bytes, read: index.bytes });
      await p.generate({ prompt: 'a fox', width: 64, height: 64, numFrames: 4, numInferenceSteps: 2, seed: 1 });
      expect(p.unet.lastReadAhead).toEqual({ bytes: index.bytes, uncached: 0, read: 0 });
    } finally {
      p.dispose();
    }
  });

  it("the UNet stage's load() waits for its read ahead; an aborted load cancels it and rejects", async () => {
    const dir = await exportedModel('tiny-v2', 0, ['--mapped-weights']);
    const p = await loadPipeline(dir); // keepModules 'all': loaded here, so load() has nothing else to wait for
    try {
      p.unet.readAhead();
      await p.unet.load();
      expect(p.unet.lastReadAhead?.bytes).toBeGreaterThan(MiB);
      p.unet.readAhead();
      await expect(p.unet.load(AbortSignal.abort())).rejects.toThrow(AbortError);
      p.vae.readAhead();
      await p.vae.load();
      expect(p.vae.lastReadAhead).toBeUndefined(); // not mapped: nothing to read
    } finally {
      p.dispose();
    }
  });
});
