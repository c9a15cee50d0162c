import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createGenerator, DisposedError, loadModule, memoryStats, Module, randn, tensor, Tensor } from '../lib';
import { unpackedPath } from '../lib/torchscript-module';
import { testModules } from './utils/fixtures';

let dir: string;
beforeAll(async () => {
  dir = await testModules();
});

const readF32 = (file: string) => {
  const buf = readFileSync(file);
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
};

describe('loadModule and forward', () => {
  it('runs a conv + attention module and matches Python on the same input', async () => {
    const m = await loadModule(path.join(dir, 'conv_attn.pt'));
    const x = tensor(readF32(path.join(dir, 'conv_attn.in.bin')), [2, 32, 16, 16]);
    const y = (await m.forward(x)) as Tensor;
    expect(y).toBeInstanceOf(Tensor);
    expect(y.shape).toEqual([2, 32, 16, 16]);
    const got = (await y.toArray()) as Float32Array;
    const want = readF32(path.join(dir, 'conv_attn.out.bin'));
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
    expect(maxDiff).toBeLessThan(1e-4); // BLAS differences only
    m.dispose();
  });

  it('maps tuples, lists and dicts, and converts numbers by the argument types', async () => {
    const m = await loadModule(path.join(dir, 'structured.pt'));
    const x = tensor([1, 2], [2]);
    const [scaled, parts, record] = (await m.forward(x, 3, 2, true)) as [Tensor, Tensor[], Record<string, Tensor>];
    expect(Array.from((await scaled.toArray()) as ArrayLike<number>)).toEqual([3, 6]); // 3 reaches a float argument as 3.0
    expect(parts).toHaveLength(2);
    expect(Array.from((await parts[1]!.toArray()) as ArrayLike<number>)).toEqual([1, 2]);
    expect(Object.keys(record).sort()).toEqual(['double', 'sum']);
    expect(Array.from((await record.sum!.toArray()) as ArrayLike<number>)).toEqual([3]);
    expect(Array.from((await ((await m.call('add_one', x)) as Tensor).toArray()) as ArrayLike<number>)).toEqual([2, 3]);
    expect(m.methods().sort()).toEqual(['add_one', 'forward']);
  });

  it('lists parameters with dtypes and devices and converts dtype with to()', async () => {
    const m = await loadModule(path.join(dir, 'conv_attn.pt'));
    const params = m.parameters();
    expect(params.map((p) => p.name)).toContain('conv_in.weight');
    expect(params.find((p) => p.name === 'conv_in.weight')).toMatchObject({ kind: 'parameter', shape: [32, 32, 3, 3], dtype: 'float32', device: 'cpu' });
    await m.to({ dtype: 'float64' });
    expect(m.parameters().every((p) => p.dtype === 'float64')).toBe(true);
    const y = (await m.forward(randn([1, 32, 8, 8], { dtype: 'float64' }))) as Tensor;
    expect(y.dtype).toBe('float64');
    const bf = await loadModule(path.join(dir, 'conv_attn.pt'), { dtype: 'bfloat16' });
    expect(((await bf.forward(randn([1, 32, 8, 8], { dtype: 'bfloat16' }))) as Tensor).dtype).toBe('bfloat16');
  });

  it('casts only floating-point parameters and buffers: an integer index table stays int64', async () => {
    // torch::jit::Module::to(dtype) casts every tensor; torch.nn.Module.to casts floats only.
    const file = path.join(dir, 'indexed_embedding.pt');
    const ids = tensor(BigInt64Array.from([0n, 3n]), [2]);
    const want = Array.from(await ((await (await loadModule(file)).forward(ids)) as Tensor).toArray(), Number);
    const byName = (m: Module) => Object.fromEntries(m.parameters().map((p) => [p.name, p.dtype]));
    const bf = await loadModule(file, { dtype: 'bfloat16' });
    expect(byName(bf)).toEqual({ 'table.weight': 'bfloat16', 'norm.weight': 'bfloat16', 'norm.bias': 'bfloat16', id_map: 'int64' });
    const out = (await bf.forward(ids)) as Tensor;
    expect(out.dtype).toBe('bfloat16');
    const got = Array.from(await out.toArray(), Number);
    got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThan(0.05 * (1 + Math.abs(want[i]!))));
    const m = await loadModule(file);
    await m.to({ dtype: 'float64' });
    expect(byName(m)).toMatchObject({ 'table.weight': 'float64', id_map: 'int64' });
    expect(((await m.forward(ids)) as Tensor).dtype).toBe('float64');
  });

  it('runs concurrent forwards, failing ones among them, each to its own result', async () => {
    // All async work shares one torch thread: a failure must reject only its own promise, with torch's
    // message, and leave the thread serving the rest.
    const m = await loadModule(path.join(dir, 'conv_attn.pt'));
    const inputs = Array.from({ length: 6 }, (_, i) => randn([1, 32, 8, 8], { generator: createGenerator(i) }));
    const want: unknown[] = [];
    for (const x of inputs) want.push(await ((await m.forward(x)) as Tensor).toArray());
    const settled = await Promise.allSettled(
      inputs.flatMap((x) => [m.forward(x).then((y) => (y as Tensor).toArray()), m.forward(randn([1, 3, 8, 8]))]),
    );
    settled.forEach((r, k) => {
      if (k % 2 === 1) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason.message)).toMatch(/forward of '.*conv_attn\.pt' failed: .*channels/s);
      } else {
        expect(r.status).toBe('fulfilled');
        expect((r as PromiseFulfilledResult<unknown>).value).toEqual(want[k / 2]);
      }
    });
    m.dispose();
  });

  it('keeps the event loop responsive during a long forward', async () => {
    const m = await loadModule(path.join(dir, 'slow.pt'));
    const x = randn([256, 256]).mul(0.01);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    let iters = 400;
    // Grow the work until the forward takes long enough to see timer ticks.
    for (;;) {
      ticks = 0;
      const t0 = Date.now();
      await m.forward(x, iters);
      const took = Date.now() - t0;
      if (took >= 150 || Date.now() - started > 20_000) {
        clearInterval(timer);
        expect(ticks).toBeGreaterThanOrEqual(Math.floor(took / 5 / 4));
        return;
      }
      iters *= 2;
    }
  });
});

describe('bad input never crashes the process', () => {
  it('rejects a wrong-shaped input with torch\'s message and the module path', async () => {
    const m = await loadModule(path.join(dir, 'conv_attn.pt'));
    const err = await m.forward(randn([1, 3, 8, 8])).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('conv_attn.pt');
    expect((err as Error).message).toMatch(/expected input.*to have 32 channels|channels/);
    await expect(m.forward(tensor(new Int32Array(2 * 32 * 4 * 4), [2, 32, 4, 4]))).rejects.toThrow(/conv_attn\.pt/);
    await expect(m.forward()).rejects.toThrow(/forward of '.*conv_attn\.pt' failed/);
    await expect(m.call('nope')).rejects.toThrow(/has no method 'nope'/);
  });

  it('rejects missing and corrupt files naming the path', async () => {
    await expect(loadModule(path.join(dir, 'missing.pt'))).rejects.toThrow(/missing\.pt': no such file/);
    await expect(loadModule(path.join(dir, 'corrupt.pt'))).rejects.toThrow(/cannot load TorchScript module '.*corrupt\.pt'/);
    await expect(loadModule('')).rejects.toThrow(/path: expected/);
    await expect(loadModule(path.join(dir, 'conv_attn.pt'), { device: 'cuda' })).rejects.toThrow(/CUDA was requested but is not available/);
    await expect(loadModule(path.join(dir, 'conv_attn.pt'), { dtype: 'float7' as never })).rejects.toThrow(/dtype/);
  });

  it('fails clearly after dispose', async () => {
    const m = await loadModule(path.join(dir, 'conv_attn.pt'));
    m[Symbol.dispose]();
    m.dispose();
    expect(m.disposed).toBe(true);
    await expect(m.forward(randn([1, 32, 4, 4]))).rejects.toThrow(/Module was disposed/);
    await expect(m.forward(randn([1, 32, 4, 4]))).rejects.toBeInstanceOf(DisposedError);
    expect(() => m.parameters()).toThrow(DisposedError);
  });

  it("rejects with the JS caller's stack, the native error kept as its cause", async () => {
    const m = await loadModule(path.join(dir, 'conv_attn.pt'));
    const err = (await m.forward(randn([1, 3, 8, 8])).catch((e: Error) => e)) as Error;
    expect(err.message).toContain('conv_attn.pt');
    expect(err.stack).toContain('module.test.ts');
    expect(err.stack!.split('\n')[0]).toContain(err.message.split('\n')[0]);
    expect((err.cause as Error).message).toBe(err.message);
    expect((err.cause as Error).stack ?? '').not.toContain('module.test.ts');
    m.dispose();
  });

  it('honours an aborted signal', async () => {
    const ctrl = new AbortController();
    ctrl.abort();
    await expect(loadModule(path.join(dir, 'conv_attn.pt'), { signal: ctrl.signal })).rejects.toThrow(/aborted/);
  });
});

describe('memory', () => {
  it('keeps RSS flat over 1,000 forwards with disposed outputs', async () => {
    const m: Module = await loadModule(path.join(dir, 'conv_attn.pt'));
    const x = randn([1, 32, 16, 16]);
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) ((await m.forward(x)) as Tensor).dispose();
    };
    await run(200); // warm up allocator caches
    const hostBefore = memoryStats().hostBytes;
    const rssBefore = process.memoryUsage().rss;
    await run(1000);
    const grown = process.memoryUsage().rss - rssBefore;
    expect(memoryStats().hostBytes).toBeLessThanOrEqual(hostBefore); // earlier tests' garbage may be finalized meanwhile
    expect(grown).toBeLessThan(24 * 1024 * 1024); // each output is 32 KiB: a leak would add ~32 MiB
  });

  it('finalizers release tensors nobody disposed', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'tests run with --expose-gc (vitest.config.ts)').toBeTypeOf('function');
    const before = memoryStats().hostBytes;
    (() => {
      for (let i = 0; i < 50; i++) randn([256, 256]); // 256 KiB each, never disposed
    })();
    expect(memoryStats().hostBytes - before).toBeGreaterThanOrEqual(50 * 256 * 1024);
    for (let i = 0; i < 10 && memoryStats().hostBytes - before > 0; i++) {
      gc!();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(memoryStats().hostBytes - before).toBeLessThan(256 * 1024);
  });
});

describe('Electron', () => {
  it('reads modules from app.asar.unpacked when running under Electron', () => {
    expect(unpackedPath('/opt/app/resources/app.asar/node_modules/animatorch/models/demo/unet/model.pt')).toBe(
      '/opt/app/resources/app.asar/node_modules/animatorch/models/demo/unet/model.pt',
    );
    Object.defineProperty(process.versions, 'electron', { value: '33.0.0', configurable: true });
    try {
      expect(unpackedPath('/opt/app/resources/app.asar/node_modules/animatorch/models/demo/unet/model.pt')).toBe(
        '/opt/app/resources/app.asar.unpacked/node_modules/animatorch/models/demo/unet/model.pt',
      );
      expect(unpackedPath('/opt/app/resources/app.asar.unpacked/x.pt')).toBe('/opt/app/resources/app.asar.unpacked/x.pt');
    } finally {
      delete (process.versions as Record<string, string | undefined>).electron;
    }
  });
});
