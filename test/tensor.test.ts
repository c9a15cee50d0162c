import { describe, expect, it } from 'vitest';
import {
  arange,
  cat,
  full,
  DisposedError,
  InvalidParameterError,
  keep,
  linspace,
  memoryStats,
  ones,
  stack,
  tensor,
  Tensor,
  tidy,
  where,
  zeros,
} from '../lib';

const values = async (t: Tensor): Promise<number[]> => Array.from(await t.toArray(), Number);
const close = (got: number[], want: number[], tol = 1e-6) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(tol));
};

describe('tensor creation and read-back', () => {
  it('keeps typed-array types and reads each dtype back as its typed array', async () => {
    const cases: [ArrayLike<number> | BigInt64Array, string, string][] = [
      [new Float32Array([1.5, -2]), 'float32', 'Float32Array'],
      [new Float64Array([1.5, -2]), 'float64', 'Float64Array'],
      [new Int32Array([7, -8]), 'int32', 'Int32Array'],
      [new Uint8Array([0, 255]), 'uint8', 'Uint8Array'],
      [new BigInt64Array([1n, -(2n ** 40n)]), 'int64', 'BigInt64Array'],
    ];
    for (const [data, dtype, arrayType] of cases) {
      const t = tensor(data as Float32Array, [2]);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([2]);
      expect(t.device).toBe('cpu');
      const back = await t.toArray();
      expect(back.constructor.name).toBe(arrayType);
      expect(Array.from(back as ArrayLike<number | bigint>)).toEqual(Array.from(data as ArrayLike<number | bigint>));
    }
  });

  it('converts to float16/bfloat16/bool and reads half types back as Float32Array', async () => {
    const h = tensor([0.5, 1.25, 65504], [3], { dtype: 'float16' });
    expect(h.dtype).toBe('float16');
    const hb = await h.toArray();
    expect(hb).toBeInstanceOf(Float32Array);
    expect(Array.from(hb as Float32Array)).toEqual([0.5, 1.25, 65504]);
    const b = tensor([1.0009765625], [1], { dtype: 'bfloat16' });
    expect(Array.from((await b.toArray()) as ArrayLike<number>)).toEqual([1]); // bfloat16 keeps 8 bits of mantissa
    const flags = tensor([true, false, true], [3]);
    expect(flags.dtype).toBe('bool');
    expect(Array.from((await flags.toArray()) as ArrayLike<number>)).toEqual([1, 0, 1]);
  });

  it('number arrays default to float32 and respect an explicit dtype', async () => {
    expect(tensor([1, 2], [2]).dtype).toBe('float32');
    const l = tensor([2 ** 40, 3], [2], { dtype: 'int64' });
    expect(Array.from((await l.toArray()) as ArrayLike<number>)).toEqual([2n ** 40n, 3n]);
  });

  it('rejects data that does not match the shape, and unknown dtypes and devices', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow(/data: expected 4 elements for shape \[2, 2\], got "3 elements"/);
    expect(() => tensor([1], [1], { dtype: 'float8' as never })).toThrow(InvalidParameterError);
    expect(() => tensor([1], [1], { dtype: 'float8' as never })).toThrow(/dtype: expected one of/);
    expect(() => tensor([1], [1], { device: 'tpu' })).toThrow(/device: expected 'cpu', 'cuda' or 'cuda:N'/);
    expect(() => tensor([1], [-1])).toThrow(/shape/);
    expect(() => tensor(['a'] as never, [1])).toThrow(/data: expected/);
    expect(() => zeros([2], { device: 'cuda:x' })).toThrow(/device/);
  });

  it("fails clearly when 'cuda' is requested on a machine without it", () => {
    expect(() => zeros([2], { device: 'cuda' })).toThrow(/CUDA/);
  });

  it('creates with zeros/ones/full/arange/linspace like torch', async () => {
    expect(await values(zeros([2, 2]))).toEqual([0, 0, 0, 0]);
    expect(await values(ones([3], { dtype: 'int32' }))).toEqual([1, 1, 1]);
    expect(await values(full([2], 7.5))).toEqual([7.5, 7.5]);
    expect(await values(arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(await values(arange(1, 2, 0.25, { dtype: 'float64' }))).toEqual([1, 1.25, 1.5, 1.75]);
    expect(await values(linspace(0, 1, 5, { dtype: 'float64' }))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

describe('math with PyTorch semantics', () => {
  it('broadcasts elementwise ops and promotes like Python scalars', async () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([10, 20, 30], [3]);
    expect(await values(a.add(b))).toEqual([11, 22, 33, 14, 25, 36]);
    expect(await values(a.sub(b, 2))).toEqual([-19, -38, -57, -16, -35, -54]);
    expect(await values(a.mul(0.5))).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(await values(a.div(b.unsqueeze(0)))).toEqual([0.1, 0.1, 0.1, 0.4, 0.25, 0.2].map(Math.fround));
    const i = tensor(new Int32Array([1, 2]), [2]);
    expect(i.add(1).dtype).toBe('int32');
    expect(i.mul(0.5).dtype).toBe('float32');
    expect(tensor(new Float64Array([0.1]), [1]).mul(3).dtype).toBe('float64');
    expect(() => a.add(tensor([1, 2], [2]))).toThrow(/size of tensor a \(3\) must match the size of tensor b \(2\)/);
  });

  it('computes unary functions, clamp, pow, where and lerp', async () => {
    const x = tensor([-4, 1, 9], [3], { dtype: 'float64' });
    expect(await values(x.abs().sqrt())).toEqual([2, 1, 3]);
    expect(await values(x.neg())).toEqual([4, -1, -9]);
    close(await values(x.clamp(0).add(1).log()), [0, Math.log(2), Math.log(10)], 1e-12);
    close(await values(x.div(4).exp()), [Math.exp(-1), Math.exp(0.25), Math.exp(2.25)], 1e-12);
    expect(await values(x.clamp(-1, 2))).toEqual([-1, 1, 2]);
    expect(await values(x.clamp(null, 0))).toEqual([-4, 0, 0]);
    expect(await values(x.pow(2))).toEqual([16, 1, 81]);
    expect(await values(where(x.gt(0), x, 0))).toEqual([0, 1, 9]);
    expect(await values(x.lerp(zeros([3], { dtype: 'float64' }), 0.25))).toEqual([-3, 0.75, 6.75]);
    expect(() => x.clamp()).toThrow(/clamp/);
  });

  it('reduces over dims with keepdim, and std is unbiased by default', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'float64' });
    expect(await values(x.mean())).toEqual([3.5]);
    expect(await values(x.sum(1))).toEqual([6, 15]);
    expect(x.sum(1, true).shape).toEqual([2, 1]);
    expect(await values(x.mean([0, 1]))).toEqual([3.5]);
    expect(await values(x.max(0))).toEqual([4, 5, 6]);
    expect(await values(x.min())).toEqual([1]);
    close(await values(x.std()), [Math.sqrt(17.5 / 5)], 1e-12);
    close(await values(x.std(1, { unbiased: false })), [Math.sqrt(2 / 3), Math.sqrt(2 / 3)], 1e-12);
    expect(await values(x.argmax(1))).toEqual([2, 2]);
  });

  it('reshapes, permutes, slices and indexes without copying semantics surprises', async () => {
    const x = arange(24).reshape([2, 3, 4]);
    expect(x.permute([2, 0, 1]).shape).toEqual([4, 2, 3]);
    expect(x.transpose(0, 2).shape).toEqual([4, 3, 2]);
    expect(x.unsqueeze(1).shape).toEqual([2, 1, 3, 4]);
    expect(x.unsqueeze(1).squeeze(1).shape).toEqual([2, 3, 4]);
    expect(x.flatten(1).shape).toEqual([2, 12]);
    expect(await values(x.narrow(2, 1, 2).select(0, 0).select(0, 0))).toEqual([1, 2]);
    expect(await values(x.slice(2, 1, undefined, 2).select(0, 1).select(0, 2))).toEqual([21, 23]);
    expect(await values(x.slice(2, -1).flatten())).toEqual([3, 7, 11, 15, 19, 23]);
    expect(await values(x.indexSelect(1, [2, 0]).select(0, 0).select(1, 0))).toEqual([8, 0]);
    expect(x.view([6, 4]).shape).toEqual([6, 4]);
    expect(() => x.transpose(0, 1).view([24])).toThrow(/view/);
    expect(tensor([1, 2], [2, 1]).expand([2, 3]).shape).toEqual([2, 3]);
    expect(await values(tensor([1, 2], [2]).repeat([2]))).toEqual([1, 2, 1, 2]);
    expect(await values(tensor([1, 2], [2]).repeatInterleave(2))).toEqual([1, 1, 2, 2]);
    expect(await values(tensor([1, 2, 3], [3]).flip(0))).toEqual([3, 2, 1]);
  });

  it('concatenates, stacks, chunks and splits', async () => {
    const a = tensor([1, 2], [1, 2]);
    const b = tensor([3, 4], [1, 2]);
    expect(await values(cat([a, b], 0))).toEqual([1, 2, 3, 4]);
    expect(cat([a, b], 1).shape).toEqual([1, 4]);
    expect(stack([a, b], 0).shape).toEqual([2, 1, 2]);
    const parts = arange(10).chunk(3);
    expect(parts.map((p) => p.shape[0])).toEqual([4, 4, 2]);
    expect(arange(10).split([3, 7]).map((p) => p.shape[0])).toEqual([3, 7]);
    expect(() => cat([])).toThrow(/tensors: expected a non-empty array of Tensors/);
  });

  it('pads and interpolates like F.pad and F.interpolate', async () => {
    const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    expect(await values(x.pad([1, 0, 0, 1], { value: 9 }))).toEqual([9, 1, 2, 9, 3, 4, 9, 9, 9]);
    expect(await values(x.pad([1, 1, 0, 0], { mode: 'replicate' }))).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
    expect(await values(x.pad([1, 1, 0, 0], { mode: 'reflect' }))).toEqual([2, 1, 2, 1, 4, 3, 4, 3]);
    expect(await values(x.interpolate({ scaleFactor: 2 }))).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const bl = x.interpolate({ size: [3, 3], mode: 'bilinear', alignCorners: true });
    expect(await values(bl)).toEqual([1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
    expect(() => x.pad([1])).toThrow(/pad: expected an even-length array/);
    expect(() => x.pad([1, 1], { mode: 'wrap' as never })).toThrow(/mode must be/);
    expect(() => tensor([1, 2], [2]).interpolate({ size: [4], mode: 'bilinear' })).toThrow(/not supported/);
  });

  it('matches PyTorch on a small guidance-style expression', async () => {
    const [u, c] = tensor([0, 1, 2, 3], [2, 2]).chunk(2);
    expect(await values(u!.add(c!.sub(u!).mul(7.5)))).toEqual([15, 16]);
  });
});

describe('lifetime', () => {
  it('fails clearly after dispose and disposes idempotently, also via Symbol.dispose', async () => {
    const t = ones([2]);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.add(1)).toThrow(/Tensor was disposed/);
    expect(() => t.reshape([2])).toThrow(DisposedError);
    await expect(t.toArray()).rejects.toThrow(/Tensor was disposed/);
    expect(String(t)).toBe('Tensor(disposed)');
    const u = ones([2]);
    u[Symbol.dispose]();
    expect(u.disposed).toBe(true);
    const other = ones([2]);
    expect(() => other.add(t)).toThrow(/Tensor was disposed/);
  });

  it('tidy disposes intermediates and keeps what it returns or keep()s', () => {
    let inner!: Tensor;
    let kept!: Tensor;
    const out = tidy(() => {
      inner = ones([4]).mul(2);
      kept = keep(ones([4]));
      return { result: inner.add(1), list: [zeros([1])] };
    });
    expect(inner.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(out.result.disposed).toBe(false);
    expect(out.list[0]!.disposed).toBe(false);
    expect(() => tidy(async () => 1)).toThrow(/synchronous/);
  });

  it('counts host memory once per storage and releases it on dispose', () => {
    const before = memoryStats().hostBytes;
    const t = zeros([1024, 256]); // 1 MiB
    const view = t.reshape([256, 1024]); // same storage
    expect(memoryStats().hostBytes - before).toBe(1024 * 256 * 4);
    t.dispose();
    expect(memoryStats().hostBytes - before).toBe(1024 * 256 * 4);
    view.dispose();
    expect(memoryStats().hostBytes).toBe(before);
  });
});
