// Exported TorchScript files (scripts/export_random_model.py) loaded through the
// addon give what the Python modules gave: reference.json holds Python's inputs
// and outputs for several shapes, including ones other than the export's probes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModule, type ModuleInput, Tensor, tensor, versions } from '../lib';
import { findTorchPython } from '../lib/python';
import { exportedModel } from './utils/fixtures';

interface RefTensor {
  shape: number[];
  dtype: 'float32' | 'int64';
  data: number[];
}
interface RefCase {
  name: string;
  file: string;
  method: string;
  args: (({ name: string } & RefTensor) | { name: string; int: number })[];
  output: RefTensor;
}
interface Reference {
  tolerance: { atol: number; rtol: number };
  cases: RefCase[];
}

const toTensor = (r: RefTensor): Tensor =>
  r.dtype === 'int64' ? tensor(BigInt64Array.from(r.data, (v) => BigInt(v)), r.shape) : tensor(Float32Array.from(r.data), r.shape);

async function checkAgainstReference(dir: string): Promise<Record<string, number[]>> {
  const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as Reference;
  const outputs: Record<string, number[]> = {};
  for (const c of ref.cases) {
    const m = await loadModule(path.join(dir, c.file));
    const args: ModuleInput[] = c.args.map((a) => ('int' in a ? a.int : toTensor(a)));
    const out = (await m.call(c.method, ...args)) as Tensor;
    expect(out.shape, c.name).toEqual(c.output.shape);
    const got = Array.from(await out.toArray(), Number);
    let worst = 0;
    got.forEach((g, i) => {
      const want = c.output.data[i]!;
      worst = Math.max(worst, Math.abs(g - want) - (ref.tolerance.atol + ref.tolerance.rtol * Math.abs(want)));
    });
    expect(worst, `${c.name}: worst excess over tolerance`).toBeLessThanOrEqual(0);
    outputs[c.name] = got;
    m.dispose();
  }
  return outputs;
}

describe('exported models through the addon', () => {
  it('tiny v2 (AnimateDiff numerics): UNet, VAE decoder/encoder and text encoder match Python at several shapes', async () => {
    const dir = await exportedModel('tiny-v2', 0);
    const out = await checkAgainstReference(dir);
    expect(Object.keys(out)).toEqual(expect.arrayContaining(['unet_b2_f4_8x8', 'unet_b1_f3_6x10', 'vae_decode_n2_4x4', 'text_encoder_clip_skip_1']));
    expect(out.text_encoder_clip_skip_0).not.toEqual(out.text_encoder_clip_skip_1);
  });

  it('tiny v2 with mapped weights (--mapped-weights) matches Python, and the in-memory export exactly', async () => {
    const [plain, mapped] = [await checkAgainstReference(await exportedModel('tiny-v2', 0)), await checkAgainstReference(await exportedModel('tiny-v2', 0, ['--mapped-weights']))];
    expect(Object.keys(mapped)).toEqual(Object.keys(plain));
    for (const name of Object.keys(plain)) expect(mapped[name], name).toEqual(plain[name]);
  });

  it('tiny v2 with diffusers numerics matches Python, and differs from AnimateDiff numerics over several frames', async () => {
    const [a, d] = await Promise.all([
      exportedModel('tiny-v2', 0),
      exportedModel('tiny-v2', 0, ['--numerics', 'diffusers']),
    ]);
    const outD = await checkAgainstReference(d);
    const refA = JSON.parse(readFileSync(path.join(a, 'reference.json'), 'utf8')) as Reference;
    const unetA = refA.cases.find((c) => c.name === 'unet_b2_f4_8x8')!.output.data;
    const diff = Math.max(...outD.unet_b2_f4_8x8!.map((v, i) => Math.abs(v - unetA[i]!)));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('tiny v1 (whole-video GroupNorm) matches Python', async () => {
    await checkAgainstReference(await exportedModel('tiny-v1', 1));
  });

  it('a model without a text encoder still exports a working UNet and VAE', async () => {
    const dir = await exportedModel('tiny-v3', 2, ['--no-text-encoder']);
    const out = await checkAgainstReference(dir);
    expect(Object.keys(out).some((k) => k.startsWith('text_encoder'))).toBe(false);
    expect(readFileSync(path.join(dir, 'model.yaml'), 'utf8')).not.toMatch(/^text_encoder:/m);
  });

  it('SDPA attention (torch >= 2.0: scaled_dot_product_attention) exports, matches Python and the math path through the addon', async (ctx) => {
    // libtorch 1.13 has no SDPA: there the exporter refuses it (scripts/tests test_attention_backend_selection).
    const major = (v: string) => Number(v.split('.')[0]);
    if (major((await findTorchPython()).torchVersion) < 2 || major(versions().libtorch) < 2) ctx.skip();
    const [sdpa, math] = await Promise.all([
      exportedModel('tiny-v2', 3, ['--attention-backend', 'sdpa']),
      exportedModel('tiny-v2', 3, ['--attention-backend', 'math']),
    ]);
    expect(readFileSync(path.join(sdpa, 'model.yaml'), 'utf8')).toMatch(/attention_backend: sdpa/);
    expect(readFileSync(path.join(math, 'model.yaml'), 'utf8')).toMatch(/attention_backend: math/);
    const [a, b] = [await checkAgainstReference(sdpa), await checkAgainstReference(math)];
    for (const name of ['unet_b2_f4_8x8', 'unet_b1_f3_6x10']) {
      const diff = Math.max(...a[name]!.map((v, i) => Math.abs(v - b[name]![i]!)));
      expect(diff, name).toBeLessThan(1e-4);
    }
  });
});
