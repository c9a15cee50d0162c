import { describe, expect, it } from 'vitest';
import { createGenerator, parseSeed, rand, randn, Tensor } from '../lib';
import { python } from './utils/fixtures';

const bits = async (t: Tensor): Promise<string[]> => Array.from(new Uint32Array((await t.toArray()).buffer as ArrayBuffer), (u) => u.toString(16));

describe('createGenerator', () => {
  it('draws exactly what torch.Generator().manual_seed(seed) draws in Python, bit for bit', async () => {
    // Seeds include 0, one above 2^53, one above 2^63 (AnimateDiff's configs use such seeds) and 2^64-1.
    const seeds = ['0', '42', '9007199254740993', '10589116295929063558', '18446744073709551615'];
    const shapes = [[2, 3], [1, 4, 2, 8, 8]];
    const code = [
      'import torch, struct',
      `for s in [${seeds.join(', ')}]:`,
      `  for shape in ${JSON.stringify(shapes)}:`,
      '    g = torch.Generator().manual_seed(s)',
      '    a = torch.randn(*shape, generator=g)',
      '    b = torch.rand(3, generator=g)',
      "    print(' '.join(format(struct.unpack('<I', struct.pack('<f', v))[0], 'x') for v in a.flatten().tolist() + b.tolist()))",
    ].join('\n');
    const want = (await python(code)).trim().split('\n');
    let k = 0;
    for (const s of seeds) {
      for (const shape of shapes) {
        const g = createGenerator(BigInt(s));
        const got = [...(await bits(randn(shape, { generator: g }))), ...(await bits(rand([3], { generator: g })))];
        expect(got.join(' '), `seed ${s} shape ${shape}`).toBe(want[k++]);
      }
    }
  });

  it('accepts seeds as BigInt, decimal strings and safe numbers, and wraps negatives as torch does', async () => {
    expect(parseSeed('10589116295929063558')).toBe(10589116295929063558n);
    expect(parseSeed(10589116295929063558n)).toBe(10589116295929063558n);
    expect(parseSeed(123)).toBe(123n);
    expect(parseSeed(-1)).toBe(2n ** 64n - 1n);
    expect(createGenerator('-1').initialSeed).toBe(2n ** 64n - 1n);
    const a = await randn([4], { generator: createGenerator(-1) }).toArray();
    const b = await randn([4], { generator: createGenerator(2n ** 64n - 1n) }).toArray();
    expect(Array.from(a as Float32Array)).toEqual(Array.from(b as Float32Array));
  });

  it('refuses seeds that would lose digits or do not fit in 64 bits', () => {
    expect(() => parseSeed(2 ** 60)).toThrow(/seed: expected a safe integer, a BigInt or a decimal string/);
    expect(() => parseSeed(1.5)).toThrow(/seed: expected an integer/);
    expect(() => parseSeed('12abc')).toThrow(/seed/);
    expect(() => parseSeed(2n ** 64n)).toThrow(/\[-2\^63, 2\^64\)/);
    expect(() => createGenerator(1, 'gpu')).toThrow(/device/);
  });

  it('reseeds, saves and restores its state', async () => {
    const g = createGenerator(7);
    const first = Array.from((await randn([5], { generator: g }).toArray()) as ArrayLike<number>);
    g.manualSeed(7);
    expect(Array.from((await randn([5], { generator: g }).toArray()) as ArrayLike<number>)).toEqual(first);
    const state = g.getState();
    const next = Array.from((await randn([5], { generator: g }).toArray()) as ArrayLike<number>);
    g.setState(state);
    expect(Array.from((await randn([5], { generator: g }).toArray()) as ArrayLike<number>)).toEqual(next);
    expect(next).not.toEqual(first);
  });

  it("draws on the generator's device and says so when asked for another", () => {
    expect(() => randn([2], { generator: createGenerator(1), device: 'cuda' })).toThrow(/device: expected the generator's device 'cpu'/);
    expect(() => createGenerator(1, 'cuda')).toThrow(/CUDA/);
  });
});
