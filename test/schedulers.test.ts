import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGenerator, cuda, memoryStats, tensor, type Tensor } from '../lib';
import { createScheduler } from '../lib/schedulers';
import { python } from './utils/fixtures';

interface Run { timesteps: number[]; sigmas?: number[]; init_noise_sigma: number; final: number[]; error?: string }
interface Case { class: string; config: Record<string, unknown>; generator_seed?: number; runs: Record<string, Run>; add_noise?: { t: number[]; noise: number[]; noisy: number[][]; alphas_cumprod_sample: number[] } }
const golden = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'schedulers.json'), 'utf8')) as { x0: number[]; shape: number[]; cases: Record<string, Case> };
// Cases the shared golden file lacks (DPM-Solver third order), same x0 and model:
// written by scripts/reference/scheduler_trajectories.py from diffusers.
const thirdOrder = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'schedulers-third-order.json'), 'utf8')) as { cases: Record<string, Case> };

const ATOL = 1e-4, RTOL = 1e-4;
function expectClose(what: string, got: ArrayLike<number> | BigInt64Array, want: number[]): void {
  const g = Array.from(got as ArrayLike<number>, Number);
  expect(g.length, `${what} length`).toBe(want.length);
  const bad = want.findIndex((w, i) => !(Math.abs(g[i]! - w) <= ATOL + RTOL * Math.abs(w)));
  if (bad >= 0) expect.fail(`${what}[${bad}] = ${g[bad]}, expected ${want[bad]}`);
}
const t64 = (arr: number[]): Tensor => tensor(Float64Array.from(arr), golden.shape, { dtype: 'float64' });

describe('golden trajectories (diffusers, float64)', () => {
  for (const [name, c] of Object.entries({ ...golden.cases, ...thirdOrder.cases })) {
    for (const [steps, want] of Object.entries(c.runs)) {
      if (want.error) continue;
      it(`${name} steps=${steps}`, async () => {
        const s = createScheduler(c.class, c.config);
        s.setTimesteps(Number(steps));
        expectClose('timesteps', s.timesteps, want.timesteps);
        if (want.sigmas) expectClose('sigmas', s.sigmas ?? [], want.sigmas);
        expectClose('initNoiseSigma', [s.initNoiseSigma], [want.init_noise_sigma]);
        let x = t64(golden.x0).mul(want.init_noise_sigma);
        const generator = c.generator_seed !== undefined ? createGenerator(c.generator_seed) : undefined;
        for (const t of want.timesteps) {
          const xin = s.scaleModelInput(x, t);
          const eps = xin.mul(0.3).add((0.01 * t) / 1000);
          x = (await s.step(eps, t, x, { generator })).prevSample;
        }
        expectClose('final sample', await x.toArray(), want.final);
      });
    }
    if (c.add_noise) {
      const a = c.add_noise;
      it(`${name} addNoise`, async () => {
        const s = createScheduler(c.class, c.config);
        const ac = s.alphasCumprod!;
        expectClose('alphasCumprod', [0, 1, 10, 500, 999].map((i) => ac[i]!), a.alphas_cumprod_sample);
        for (let k = 0; k < a.t.length; k++) {
          const noisy = s.addNoise(t64(golden.x0), t64(a.noise), a.t[k]!);
          expectClose(`addNoise t=${a.t[k]}`, await noisy.toArray(), a.noisy[k]!);
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------
// Hand-derived behaviour beyond the golden 25-step runs.

const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' } as const;
const values = async (t: Tensor): Promise<number[]> => Array.from(await t.toArray(), Number);
const shape = [1, 4, 2, 3, 3];
const x0 = (): Tensor => t64(golden.x0);
function closeArrays(got: number[], want: number[], tol = 1e-10): void {
  expect(got.length).toBe(want.length);
  const bad = want.findIndex((w, i) => !(Math.abs(got[i]! - w) <= tol * Math.max(1, Math.abs(w))));
  if (bad >= 0) expect.fail(`[${bad}] = ${got[bad]}, expected ${want[bad]}`);
}
const f32 = Math.fround;

describe('timestep tables', () => {
  it('DDIM leading with steps_offset 1: 961, 921, ..., 1', () => {
    const s = createScheduler('DDIMScheduler', { ...SD, steps_offset: 1 });
    s.setTimesteps(25);
    expect(s.timesteps).toEqual(Array.from({ length: 25 }, (_, k) => 961 - 40 * k));
  });
  it("linspace rounds k * 999 / (n - 1) half to even (832.5 -> 832), descending", () => {
    const s = createScheduler('DDIMScheduler', { ...SD, timestep_spacing: 'linspace' });
    s.setTimesteps(25);
    expect(s.timesteps.slice(0, 6)).toEqual([999, 957, 916, 874, 832, 791]);
    expect(s.timesteps.at(-1)).toBe(0);
    expect(s.timesteps).toHaveLength(25);
  });
  it('trailing counts down from 999 by T / n', () => {
    const s = createScheduler('DDIMScheduler', { ...SD, timestep_spacing: 'trailing' });
    s.setTimesteps(25);
    expect(s.timesteps).toEqual(Array.from({ length: 25 }, (_, k) => 999 - 40 * k));
    s.setTimesteps(3);
    expect(s.timesteps).toEqual([999, 666, 332]);
    s.setTimesteps(7);
    expect(s.timesteps).toEqual([999, 856, 713, 570, 428, 285, 142]);
  });
  it('Euler linspace keeps fractional float32 timesteps', () => {
    const s = createScheduler('EulerDiscreteScheduler', SD);
    s.setTimesteps(25);
    expect(s.timesteps.slice(0, 4)).toEqual([999, 957.375, 915.75, 874.125]);
    expect(s.sigmas).toHaveLength(26);
    expect(s.sigmas.at(-1)).toBe(0);
  });
  it('PNDM with PLMS only repeats the second timestep', () => {
    const s = createScheduler('PNDMScheduler', { ...SD, skip_prk_steps: true, steps_offset: 1 });
    s.setTimesteps(5);
    expect(s.timesteps).toEqual([801, 601, 601, 401, 201, 1]);
  });
  it('PNDM with Runge-Kutta warm-up: 12 PRK timesteps then PLMS', () => {
    const s = createScheduler('PNDMScheduler', { ...SD, steps_offset: 1 });
    s.setTimesteps(25);
    expect(s.prkTimesteps).toEqual([961, 941, 941, 921, 921, 901, 901, 881, 881, 861, 861, 841]);
    expect(s.plmsTimesteps).toEqual(Array.from({ length: 22 }, (_, k) => 841 - 40 * k));
    expect(s.timesteps).toHaveLength(34);
  });
  it('LCM picks evenly from the 50-step origin schedule [999, 979, ..., 19]', () => {
    const s = createScheduler('LCMScheduler', {});
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 759, 499, 259]);
    s.setTimesteps(1);
    expect(s.timesteps).toEqual([999]);
  });
  it('DPM-Solver linspace drops the last of n + 1 points', () => {
    const s = createScheduler('DPMSolverMultistepScheduler', SD);
    s.setTimesteps(10);
    // round(k * 99.9) for k = 10..1: 999, 899.1, 799.2, 699.3, 599.4, 499.5 (half to even: 500), ...
    expect(s.timesteps).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  });
  it('flow matching: shift 1 is linear in t, shift s maps sigma to s*sigma / (1 + (s-1)*sigma)', () => {
    const a = createScheduler('FlowMatchEulerDiscreteScheduler', { shift: 1 });
    a.setTimesteps(4);
    // sigmas linspace(1, 0.001, 4)
    closeArrays(a.sigmas, [1, 0.667, 0.334, 0.001, 0].map(f32), 1e-7);
    const b = createScheduler('FlowMatchEulerDiscreteScheduler', { shift: 7 });
    b.setTimesteps(4);
    const smin = f32(f32(7 * 0.001) / f32(1 + f32(6 * 0.001)));
    const raw = [1, 1 + (smin - 1) / 3, 1 + (2 * (smin - 1)) / 3, smin];
    closeArrays(b.sigmas, [...raw.map((s) => (7 * s) / (1 + 6 * s)), 0].map(f32), 1e-7);
    closeArrays(b.timesteps, b.sigmas.slice(0, 4).map((s) => f32(s * 1000)), 1e-7);
  });
});

describe('beta schedules', () => {
  it('linear and scaled_linear start and end at the configured betas', () => {
    const lin = createScheduler('DDPMScheduler', { beta_start: 0.00085, beta_end: 0.012 });
    expect(lin.alphasCumprod[0]).toBe(f32(1 - f32(0.00085)));
    const sc = createScheduler('DDPMScheduler', SD);
    expect(sc.alphasCumprod[0]).toBe(f32(1 - f32(f32(Math.sqrt(0.00085)) ** 2)));
    expect(lin.alphasCumprod[999]).toBeLessThan(sc.alphasCumprod[999]!);
  });
  it('rescale_betas_zero_snr gives alphas_cumprod[-1] = 0 (and 2^-24 for the sigma schedulers)', () => {
    const ddim = createScheduler('DDIMScheduler', { ...SD, rescale_betas_zero_snr: true });
    expect(ddim.alphasCumprod[999]).toBe(0);
    const plain = createScheduler('DDIMScheduler', SD);
    // sqrt(alphas_cumprod[0]) is kept by the rescaling.
    expect(Math.abs(Math.sqrt(ddim.alphasCumprod[0]!) - Math.sqrt(plain.alphasCumprod[0]!))).toBeLessThan(1e-6);
    const euler = createScheduler('EulerDiscreteScheduler', { ...SD, rescale_betas_zero_snr: true });
    expect(euler.alphasCumprod[999]).toBe(2 ** -24);
    expect(Number.isFinite(euler.initNoiseSigma)).toBe(true);
    expect(euler.initNoiseSigma).toBeCloseTo(4096, 0); // sqrt((1 - 2^-24) / 2^-24)
  });
  it('squaredcos_cap_v2 follows cos²((t/T + 0.008) / 1.008 · π/2)', () => {
    const s = createScheduler('DDPMScheduler', { beta_schedule: 'squaredcos_cap_v2' });
    const ab = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    expect(Math.abs(s.alphasCumprod[499]! - ab(0.5) / ab(0))).toBeLessThan(1e-5);
  });
  it('trained_betas are used as given', () => {
    const s = createScheduler('DDIMScheduler', { num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3, 0.4] });
    closeArrays(s.alphasCumprod, [0.9, 0.72, 0.504, 0.3024], 1e-6);
  });
});

describe('steps with few timesteps', () => {
  const eps = (x: Tensor, t: number) => x.mul(0.3).add((0.01 * t) / 1000);

  it('DDIM, 1 trailing step: the direct x0 prediction', async () => {
    const s = createScheduler('DDIMScheduler', { ...SD, clip_sample: false, timestep_spacing: 'trailing' });
    s.setTimesteps(1);
    expect(s.timesteps).toEqual([999]);
    const x = x0();
    const e = eps(x, 999);
    const out = await s.step(e, 999, x);
    const a = s.alphasCumprod[999]!;
    const [xs, es] = [await values(x), await values(e)];
    const want = xs.map((v, i) => (v - f32(Math.sqrt(f32(1 - a))) * es[i]!) / f32(Math.sqrt(a)));
    closeArrays(await values(out.prevSample), want);
    closeArrays(await values(out.predOriginalSample!), want);
  });

  it('DDIM set_alpha_to_one: last step lands on x0, or on alphas_cumprod[0] without it', async () => {
    const run = async (setAlphaToOne: boolean) => {
      const s = createScheduler('DDIMScheduler', { ...SD, clip_sample: false, steps_offset: 1, set_alpha_to_one: setAlphaToOne });
      s.setTimesteps(25);
      const x = x0();
      const out = await s.step(eps(x, 1), 1, x);
      return { s, prev: await values(out.prevSample), x0: await values(out.predOriginalSample!), e: await values(eps(x, 1)) };
    };
    const one = await run(true);
    closeArrays(one.prev, one.x0);
    const zero = await run(false);
    const a0 = zero.s.alphasCumprod[0]!;
    closeArrays(zero.prev, zero.x0.map((v, i) => f32(Math.sqrt(a0)) * v + f32(Math.sqrt(f32(1 - a0))) * zero.e[i]!));
  });

  it('DDIM clip_sample clamps the x0 prediction to clip_sample_range', async () => {
    for (const range of [1, 2]) {
      const s = createScheduler('DDIMScheduler', { ...SD, clip_sample: true, clip_sample_range: range });
      s.setTimesteps(10);
      const x = x0().mul(10);
      const out = await s.step(x.mul(0), s.timesteps[0]!, x);
      const p = await values(out.predOriginalSample!);
      expect(Math.max(...p.map(Math.abs))).toBe(range);
    }
  });

  it('Euler, 1 trailing step: prevSample = x - sigma_max * eps = x0 prediction', async () => {
    const s = createScheduler('EulerDiscreteScheduler', { ...SD, timestep_spacing: 'trailing' });
    s.setTimesteps(1);
    const sigma = s.sigmas[0]!;
    expect(s.sigmas).toEqual([sigma, 0]);
    const x = x0().mul(s.initNoiseSigma);
    const e = eps(s.scaleModelInput(x, 999), 999);
    const out = await s.step(e, 999, x);
    const [xs, es] = [await values(x), await values(e)];
    closeArrays(await values(out.prevSample), xs.map((v, i) => f32(v) - sigma * es[i]!), 1e-6);
    closeArrays(await values(out.prevSample), await values(out.predOriginalSample!), 1e-6);
  });

  it('DPM-Solver++, 1 step: first order to sigma 0 returns the x0 prediction', async () => {
    const s = createScheduler('DPMSolverMultistepScheduler', SD);
    s.setTimesteps(1);
    expect(s.timesteps).toEqual([999]);
    const x = x0();
    const e = eps(x, 999);
    const out = await s.step(e, 999, x);
    const sigma = s.sigmas[0]!;
    const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
    const sigmaT = f32(sigma * alpha);
    const [xs, es] = [await values(x), await values(e)];
    closeArrays(await values(out.prevSample), xs.map((v, i) => (v - sigmaT * es[i]!) / alpha), 1e-6);
  });

  it('DPM-Solver++, 2 steps with lower_order_final: two first-order steps', async () => {
    const s = createScheduler('DPMSolverMultistepScheduler', { ...SD, lower_order_final: true });
    s.setTimesteps(2);
    expect(s.timesteps).toEqual([999, 500]);
    let x = x0();
    const xs: number[][] = [];
    for (const t of s.timesteps) {
      xs.push(await values(x));
      x = (await s.step(eps(x, t), t, x)).prevSample;
    }
    // Last step: to sigma 0 the first-order update is the x0 prediction of the second point.
    const sigma = s.sigmas[1]!;
    const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
    const sigmaT = f32(sigma * alpha);
    const x1 = xs[1]!;
    const want = x1.map((v) => (v - sigmaT * (0.3 * v + 0.005)) / alpha);
    closeArrays(await values(x), want, 1e-6);
  });

  it('PNDM with Runge-Kutta warm-up agrees with PLMS (1%) and first-order DDIM (5%)', async () => {
    const run = async (cls: string, config: Record<string, unknown>) => {
      const s = createScheduler(cls, { ...SD, steps_offset: 1, ...config });
      s.setTimesteps(25);
      let x = x0();
      for (const t of s.timesteps) x = (await s.step(eps(x, t), t, x)).prevSample;
      s.dispose();
      return values(x);
    };
    const prk = await run('PNDMScheduler', {});
    const plms = await run('PNDMScheduler', { skip_prk_steps: true });
    const ddim = await run('DDIMScheduler', { clip_sample: false, set_alpha_to_one: false });
    const rel = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!) / (1 + Math.abs(b[i]!))));
    expect(rel(prk, plms)).toBeLessThan(1e-2);
    expect(rel(prk, ddim)).toBeLessThan(5e-2);
    expect(rel(prk, ddim)).toBeGreaterThan(rel(prk, plms));
  });

  it('DDPM variance types: fixed_small_log and fixed_large draw the same noise with other scales', async () => {
    const run = async (variance_type: string) => {
      const s = createScheduler('DDPMScheduler', { ...SD, variance_type, clip_sample: false });
      s.setTimesteps(10);
      const x = x0();
      const t = s.timesteps[1]!;
      return { s, t, out: await values((await s.step(eps(x, t), t, x, { generator: createGenerator(7) })).prevSample) };
    };
    const small = await run('fixed_small');
    const log = await run('fixed_small_log');
    const large = await run('fixed_large');
    // fixed_small_log is exp(0.5 log v) = sqrt(v): the same as fixed_small.
    closeArrays(log.out, small.out, 1e-6);
    expect(large.out).not.toEqual(small.out);
    expect(small.t).toBe(800);
    expect(small.s.getVariance(800)).toBeLessThan(large.s.getVariance(800));
  });
});

describe('stochastic schedulers', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['EulerAncestralDiscreteScheduler', SD],
    ['LCMScheduler', {}],
    ['DDPMScheduler', { ...SD, clip_sample: false }],
    ['DDIMScheduler', SD],
  ];
  for (const [cls, config] of cases) {
    it(`${cls}: same seed, same result; another seed, another result`, async () => {
      const run = async (seed: number) => {
        const s = createScheduler(cls, config);
        s.setTimesteps(4);
        const generator = createGenerator(seed);
        let x = x0().mul(s.initNoiseSigma);
        for (const t of s.timesteps) {
          const e = s.scaleModelInput(x, t).mul(0.3);
          x = (await s.step(e, t, x, { generator, eta: 1 })).prevSample;
        }
        return values(x);
      };
      const [a, b, c] = [await run(1), await run(1), await run(2)];
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
      expect(a.every(Number.isFinite)).toBe(true);
    });
  }
});

describe('addNoise', () => {
  it('DDPM: sqrt(alphas_cumprod[t]) x0 + sqrt(1 - alphas_cumprod[t]) noise, per batch element', async () => {
    const s = createScheduler('DDPMScheduler', SD);
    const x = tensor([1, 1, 2, 2], [2, 2], { dtype: 'float64' });
    const n = tensor([0, 1, 0, 1], [2, 2], { dtype: 'float64' });
    const [a, b] = [s.alphasCumprod[10]!, s.alphasCumprod[900]!];
    closeArrays(await values(s.addNoise(x, n, [10, 900])), [Math.sqrt(a), Math.sqrt(a) + Math.sqrt(1 - a), 2 * Math.sqrt(b), 2 * Math.sqrt(b) + Math.sqrt(1 - b)]);
    closeArrays(await values(s.addNoise(x, n, 10)), [Math.sqrt(a), Math.sqrt(a) + Math.sqrt(1 - a), 2 * Math.sqrt(a), 2 * Math.sqrt(a) + Math.sqrt(1 - a)]);
  });
  it('Euler: x0 + sigma(t) noise; flow matching: sigma noise + (1 - sigma) x0', async () => {
    const e = createScheduler('EulerDiscreteScheduler', SD);
    e.setTimesteps(10);
    const x = tensor([1, 2], [2, 1], { dtype: 'float64' });
    const n = tensor([1, 1], [2, 1], { dtype: 'float64' });
    const t = e.timesteps[3]!;
    closeArrays(await values(e.addNoise(x, n, t)), [1 + e.sigmas[3]!, 2 + e.sigmas[3]!]);
    const f = createScheduler('FlowMatchEulerDiscreteScheduler', { shift: 3 });
    f.setTimesteps(10);
    const s = f.sigmas[2]!;
    closeArrays(await values(f.addNoise(x, n, [f.timesteps[2]!, f.timesteps[2]!])), [s + (1 - s), s + 2 * (1 - s)]);
  });
});

describe('dtypes and memory', () => {
  // Deterministic cases only: torch draws different streams for float32 and float64 randn.
  it('float32 samples: float32 results within float32 accuracy of the float64 golden runs', async () => {
    for (const name of ['ddim_animatediff', 'ddim_trailing_vpred', 'euler', 'dpmpp_2m_karras', 'dpmpp_2m_cosine_sample', 'pndm_sd', 'flowmatch_shift7']) {
      const c = golden.cases[name]!;
      const want = c.runs['25']!;
      const s = createScheduler(c.class, c.config);
      s.setTimesteps(25);
      let x = tensor(Float32Array.from(golden.x0), golden.shape).mul(want.init_noise_sigma);
      const generator = c.generator_seed !== undefined ? createGenerator(c.generator_seed) : undefined;
      for (const t of want.timesteps) {
        const eps = s.scaleModelInput(x, t).mul(0.3).add((0.01 * t) / 1000);
        x = (await s.step(eps, t, x, { generator })).prevSample;
        expect(x.dtype).toBe('float32');
      }
      const got = await values(x);
      const scale = Math.max(...want.final.map(Math.abs));
      const err = Math.max(...got.map((g, i) => Math.abs(g - want.final[i]!))) / scale;
      expect(err, name).toBeLessThan(1e-3);
    }
  });

  it('1,000-step loops free every intermediate tensor', async () => {
    const configs: [string, Record<string, unknown>][] = [
      ['DPMSolverMultistepScheduler', { ...SD, solver_order: 3 }],
      ['PNDMScheduler', { ...SD, skip_prk_steps: true }],
      ['PNDMScheduler', SD],
      ['EulerAncestralDiscreteScheduler', SD],
      ['DDPMScheduler', SD],
      ['EulerDiscreteScheduler', SD],
      ['DDIMScheduler', SD],
      ['LCMScheduler', {}],
      ['FlowMatchEulerDiscreteScheduler', { shift: 7 }],
    ];
    for (const [cls, config] of configs) {
      const s = createScheduler(cls, config);
      s.setTimesteps(cls === 'LCMScheduler' ? 50 : 1000);
      const generator = createGenerator(0);
      (globalThis as { gc?: () => void }).gc?.();
      const before = memoryStats().hostBytes;
      let x = x0();
      for (const t of s.timesteps) {
        const xin = s.scaleModelInput(x, t);
        const e = xin.mul(0.3);
        const out = await s.step(e, t, x, { generator });
        if (xin !== x) xin.dispose();
        e.dispose();
        out.predOriginalSample?.dispose();
        x.dispose();
        x = out.prevSample;
      }
      // The measure sees live tensors: the final sample is still counted here.
      expect(memoryStats().hostBytes, cls).toBeGreaterThan(before);
      x.dispose();
      s.dispose();
      expect(memoryStats().hostBytes - before, cls).toBeLessThanOrEqual(0);
    }
  });
});

describe('devices', () => {
  // diffusers' randn_tensor: a CPU generator with CUDA latents draws on the CPU and moves the noise.
  it.skipIf(!cuda.isAvailable())('CUDA float32 samples with a CPU generator: step resolves asynchronously to the CPU result', async () => {
    for (const [cls, config] of [
      ['EulerAncestralDiscreteScheduler', SD],
      ['LCMScheduler', {}],
      ['DDPMScheduler', { ...SD, clip_sample: false }],
      ['DPMSolverMultistepScheduler', { ...SD, algorithm_type: 'sde-dpmsolver++' }],
    ] as [string, Record<string, unknown>][]) {
      const run = async (device: 'cpu' | 'cuda') => {
        const s = createScheduler(cls, config);
        s.setTimesteps(5);
        const generator = createGenerator(5);
        let x = await tensor(Float32Array.from(golden.x0), golden.shape).to({ device });
        for (const t of s.timesteps) {
          const pending = s.step(s.scaleModelInput(x, t).mul(0.3), t, x, { generator });
          if (device === 'cuda') expect(pending).toBeInstanceOf(Promise);
          x = (await pending).prevSample;
          expect(x.device).toContain(device);
        }
        return values(await x.to({ device: 'cpu' }));
      };
      closeArrays(await run('cuda'), await run('cpu'), 1e-4);
    }
  });
});

describe('float32 tables against torch itself', () => {
  // torch.linspace / cumprod / pow on float32 are what diffusers builds its tables with. The JS
  // emulation follows libtorch 1.13's kernels bit for bit (the shared golden tables check that);
  // torch 2.x's cumprod accumulates in another order and differs by up to an ulp, so against
  // torch itself, on either flavour, the tables must agree to 2 float32 ulps.
  const within = (got: ArrayLike<number>, want: number[], rel: number) => {
    expect(got.length).toBe(want.length);
    const worst = Math.max(...want.map((w, i) => Math.abs(got[i]! - w) / Math.abs(w)));
    expect(worst).toBeLessThanOrEqual(rel);
  };
  it('betas and alphas_cumprod match torch float32 for linear, scaled_linear and odd sizes', async () => {
    const configs = [
      [0.00085, 0.012, 1000, 'linear'],
      [0.00085, 0.012, 1000, 'scaled_linear'],
      [0.0001, 0.02, 1000, 'linear'],
      [0.0001, 0.02, 999, 'scaled_linear'],
      [0.001, 0.03, 37, 'linear'],
    ] as const;
    const code = `
import torch, json
out = []
for (a, b, n, kind) in ${JSON.stringify(configs)}:
    betas = torch.linspace(a, b, n, dtype=torch.float32) if kind == 'linear' else torch.linspace(a ** 0.5, b ** 0.5, n, dtype=torch.float32) ** 2
    ac = torch.cumprod(1.0 - betas, dim=0)
    out.append({'ac': ac.tolist(), 'sigmas': (((1 - ac) / ac) ** 0.5).tolist()})
print(json.dumps(out))`;
    const want = JSON.parse(await python(code)) as { ac: number[]; sigmas: number[] }[];
    configs.forEach(([beta_start, beta_end, num_train_timesteps, beta_schedule], k) => {
      const s = createScheduler('EulerDiscreteScheduler', { beta_start, beta_end, num_train_timesteps, beta_schedule });
      within(s.alphasCumprod, want[k]!.ac, 2.4e-7);
      within(s.sigmas.slice(0, -1).reverse(), want[k]!.sigmas, 1e-6);
    });
  });
});
