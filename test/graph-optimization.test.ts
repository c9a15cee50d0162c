// Module.setGraphOptimization: TorchScript's optimising executor off gives the same outputs from the first call.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { testModules } from './utils/fixtures';
import { InvalidParameterError } from '../lib/errors';
import type { Tensor } from '../lib/tensor';
import { tensor } from '../lib/tensor-factories';
import { loadModule } from '../lib/torchscript-module';

const readF32 = (file: string) => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe('Module.setGraphOptimization', () => {
  it('off: every call, the first included, matches the Python reference and the optimised module', async () => {
    const dir = await testModules();
    const plain = (await loadModule(path.join(dir, 'conv_attn.pt'))).setGraphOptimization(false);
    const optimised = await loadModule(path.join(dir, 'conv_attn.pt'));
    const x = tensor(readF32(path.join(dir, 'conv_attn.in.bin')), [2, 32, 16, 16]);
    const want = readF32(path.join(dir, 'conv_attn.out.bin'));
    try {
      for (let call = 0; call < 3; call++) {
        const a = (await (await plain.forward(x) as Tensor).toArray()) as Float32Array;
        const b = (await (await optimised.forward(x) as Tensor).toArray()) as Float32Array;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(a[i]! - want[i]!), Math.abs(a[i]! - b[i]!));
        expect(a.length).toBe(want.length);
        expect(worst).toBeLessThan(1e-4);
      }
    } finally {
      plain.dispose();
      optimised.dispose();
      x.dispose();
    }
  });

  it('rejects a non-boolean naming the argument', async () => {
    const m = await loadModule(path.join(await testModules(), 'conv_attn.pt'));
    try {
      expect(() => m.setGraphOptimization('no' as unknown as boolean)).toThrow(InvalidParameterError);
      expect(() => m.setGraphOptimization('no' as unknown as boolean)).toThrow(/enabled/);
    } finally {
      m.dispose();
    }
  });
});
