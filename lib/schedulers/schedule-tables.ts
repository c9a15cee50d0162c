/**
 * Schedule tables computed exactly as diffusers does: betas and alphas_cumprod
 * (torch float32), timestep spacing and sigma tables (numpy float64 where
 * diffusers uses numpy). Plain numbers; no tensors.
 */
import { InvalidParameterError } from '../errors';
import { assertSteps, checkSetTimestepsOptions } from './sampling-helpers';
import { BETA_SCHEDULES, f32, type SetTimestepsOptions, sqrt32 } from './scheduling-utils';

// Beta / alpha tables (float32, as diffusers builds them with torch).

/**
 * torch.linspace(start, end, steps, dtype=torch.float32) on CPU (x86-64, AVX2
 * kernels), bit for bit: float32 step; blocks of 8 lanes as
 * Vectorized<float>::arange(base, step) (lane j = base + j*step, rounded twice)
 * with base = start + step*idx (or end - step*(steps-idx-1) past the middle)
 * contracted to one FMA; the tail past the last 16-element block is scalar.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): number[] {
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) return [s];
  const step = f32(f32(e - s) / f32(steps - 1));
  const half = Math.floor(steps / 2);
  const at = (idx: number): number => (idx < half ? f32(s + step * idx) : f32(e - step * (steps - idx - 1)));
  const V = 8;
  const out = new Array<number>(steps);
  let i = 0;
  // ATen's vectorized_loop: two vectors per iteration, each from its own base.
  for (; i + 2 * V <= steps; i += 2 * V)
    for (const k of [i, i + V]) {
      const base = at(k);
      for (let j = 0; j < V; j++) out[k + j] = f32(base + f32(j * step));
    }
  for (; i < steps; i++) out[i] = at(i);
  return out;
}

/** diffusers' betas_for_alpha_bar (float64 math, float32 result). */
export function betasForAlphaBar(n: number, maxBeta = 0.999, transform: 'cosine' | 'exp' | 'laplace' = 'cosine'): number[] {
  const alphaBar =
    transform === 'cosine'
      ? (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2
      : transform === 'exp'
        ? (t: number) => Math.exp(t * -12.0)
        : (t: number) => {
            const lmb = -0.5 * Math.sign(0.5 - t || 1) * Math.log(1 - 2 * Math.abs(0.5 - t) + 1e-6);
            const snr = Math.exp(lmb);
            return Math.sqrt(snr / (1 + snr));
          };
  const betas: number[] = [];
  for (let i = 0; i < n; i++) betas.push(f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta)));
  return betas;
}

/** diffusers' rescale_zero_terminal_snr on float32 betas (arXiv 2305.08891, Algorithm 1). */
export function rescaleZeroTerminalSnr(betas: number[]): number[] {
  const n = betas.length;
  const cumprod = cumprodF32(betas.map((b) => f32(1 - b)));
  const sqrtBar = cumprod.map(sqrt32);
  const s0 = sqrtBar[0]!;
  const sT = sqrtBar[n - 1]!;
  const scale = f32(s0 / f32(s0 - sT));
  const bar = sqrtBar.map((v) => {
    const shifted = f32(f32(v - sT) * scale);
    return f32(shifted * shifted);
  });
  const alphas = bar.map((v, i) => (i === 0 ? v : f32(v / bar[i - 1]!)));
  return alphas.map((a) => f32(1 - a));
}

/** torch.cumprod on float32 CPU tensors: the running product is kept in double, each output rounded. */
export function cumprodF32(values: number[]): number[] {
  let acc = 1;
  return values.map((v) => f32((acc *= v)));
}

export interface BetaConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: number[] | null;
  rescale_betas_zero_snr?: boolean;
}

/** Betas (float32 values) for a config, as the diffusers constructors compute them. */
export function makeBetas(c: BetaConfig): number[] {
  const n = c.num_train_timesteps;
  let betas: number[];
  if (c.trained_betas) {
    if (c.trained_betas.length !== n)
      throw new InvalidParameterError('trained_betas', `${n} values (num_train_timesteps)`, `${c.trained_betas.length} values`);
    betas = c.trained_betas.map(f32);
  } else if (c.beta_schedule === 'linear') betas = torchLinspaceF32(c.beta_start, c.beta_end, n);
  else if (c.beta_schedule === 'scaled_linear') betas = torchLinspaceF32(c.beta_start ** 0.5, c.beta_end ** 0.5, n).map((b) => f32(b * b));
  else if (c.beta_schedule === 'squaredcos_cap_v2') betas = betasForAlphaBar(n);
  else if (c.beta_schedule === 'laplace') betas = betasForAlphaBar(n, 0.999, 'laplace');
  else if (c.beta_schedule === 'sigmoid') {
    const d = c.beta_end - c.beta_start;
    betas = torchLinspaceF32(-6, 6, n).map((x) => f32(f32(f32(1 / (1 + Math.exp(-x))) * d) + c.beta_start));
  } else throw new InvalidParameterError('beta_schedule', `one of ${BETA_SCHEDULES.join(', ')}`, c.beta_schedule);
  if (c.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  return betas;
}

/** alphas_cumprod (float32 values) for a config. */
export function makeAlphasCumprod(c: BetaConfig): number[] {
  return cumprodF32(makeBetas(c).map((b) => f32(1 - b)));
}

/** Euler-family alphas_cumprod: with rescale_betas_zero_snr the last one is 2^-24 so sigma stays finite. */
export function eulerAlphasCumprod(c: BetaConfig): number[] {
  const ac = makeAlphasCumprod(c);
  if (c.rescale_betas_zero_snr) ac[ac.length - 1] = 2 ** -24;
  return ac;
}

/** Karras-style sigmas ((1 - ᾱ) / ᾱ) ** 0.5 in float32, indexed by training timestep. */
export const sigmasFromAlphasCumprod = (ac: number[]): number[] => ac.map((a) => sqrt32(f32(f32(1 - a) / a)));

// ---------------------------------------------------------------------------
// numpy equivalents for the timestep tables.

/** numpy's round (half to even). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace(start, stop, num, endpoint) in float64. */
export function npLinspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const out: number[] = [];
  if (div <= 0) {
    for (let i = 0; i < num; i++) out.push(start);
    return out;
  }
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out.push(i * step + start);
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** np.arange(start, stop, step) for floats. */
export function npArange(start: number, stop: number, step: number): number[] {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const out: number[] = [];
  for (let i = 0; i < len; i++) out.push(start + i * step);
  return out;
}

/** np.interp(x, arange(len(fp)), fp). */
export function interpIndex(x: number, fp: number[]): number {
  if (x <= 0) return fp[0]!;
  if (x >= fp.length - 1) return fp[fp.length - 1]!;
  const i = Math.floor(x);
  const w = x - i;
  return w === 0 ? fp[i]! : fp[i]! + (fp[i + 1]! - fp[i]!) * w;
}

/** int64 timesteps of the DDPM-family `set_timesteps` (descending), for 'linspace' | 'leading' | 'trailing'. */
export function spacedTimesteps(spacing: string, trainSteps: number, n: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return npLinspace(0, trainSteps - 1, n).map(roundHalfEven).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(trainSteps / n);
    const out: number[] = [];
    for (let i = n - 1; i >= 0; i--) out.push(i * ratio + stepsOffset);
    return out;
  }
  if (spacing === 'trailing') return npArange(trainSteps, 0, -trainSteps / n).map((t) => roundHalfEven(t) - 1);
  throw new InvalidParameterError('timestep_spacing', "one of 'leading', 'trailing', 'linspace'", spacing);
}

/**
 * setTimesteps of the schedulers that space int64 timesteps by config.timestep_spacing
 * (DDIM, DDPM): checks the arguments and returns the schedule.
 */
export function setSpacedTimesteps(
  c: { num_train_timesteps: number; timestep_spacing: string; steps_offset: number },
  numInferenceSteps: number,
  options: SetTimestepsOptions | undefined,
): number[] {
  assertSteps(numInferenceSteps, c.num_train_timesteps);
  checkSetTimestepsOptions(options);
  return spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset);
}

/** The training schedule's timesteps, T - 1 down to 0 (the schedule before setTimesteps). */
export const trainingTimesteps = (T: number): number[] => Array.from({ length: T }, (_, i) => T - 1 - i);

/** float32 timesteps of the Euler-family set_timesteps (np.float32 arithmetic). */
export function eulerTimesteps(spacing: string, T: number, n: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return npLinspace(0, T - 1, n).map(f32).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    const out: number[] = [];
    for (let i = n - 1; i >= 0; i--) out.push(f32(f32(i * ratio) + stepsOffset));
    return out;
  }
  return npArange(T, 0, -T / n).map((t) => f32(f32(roundHalfEven(t)) - 1));
}

/** diffusers' _sigma_to_t: fractional training timestep of `sigma` on the log-sigma table (float32 log_sigmas). */
export function sigmaToT(sigma: number, logSigmas: number[]): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low_idx = cumsum(log_sigma - log_sigmas >= 0).argmax(): the last index where it holds, or 0 if none.
  let lowIdx = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i]! >= 0) lowIdx = i;
  lowIdx = Math.min(lowIdx, logSigmas.length - 2);
  const low = logSigmas[lowIdx]!;
  const high = logSigmas[lowIdx + 1]!;
  let w = (low - logSigma) / f32(low - high);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * lowIdx + w * (lowIdx + 1);
}

/** diffusers' _convert_to_karras (rho = 7), float64. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7.0;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return npLinspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** Fractional training timesteps of `sigmas` on the log of the training sigmas (float32 log_sigmas), as diffusers maps Karras sigmas back. */
export function sigmasToTimesteps(sigmas: number[], trainSigmas: number[]): number[] {
  const logSigmas = trainSigmas.map((s) => f32(Math.log(s)));
  return sigmas.map((s) => sigmaToT(s, logSigmas));
}

/** The schedule's sigmas plus the final one (final_sigmas_type 'sigma_min': the smallest training sigma; 'zero': 0), in float32. */
export function withFinalSigma(sigmas: number[], finalSigmasType: 'zero' | 'sigma_min', trainSigmas: number[]): number[] {
  return [...sigmas, finalSigmasType === 'sigma_min' ? trainSigmas[0]! : 0].map(f32);
}

/** sqrt(σ² + 1) in float32: the Karras-sigma schedulers' model-input scale (and, for 'leading' spacing, their initial noise scale). */
export const karrasInputScale = (sigma: number): number => sqrt32(f32(f32(sigma * sigma) + 1));
