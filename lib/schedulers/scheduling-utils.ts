/**
 * Shared scheduler machinery: the Scheduler interface, beta schedules, timestep
 * spacing and sigma tables computed exactly as diffusers does (torch float32
 * where diffusers uses torch tensors, numpy float64 where it uses numpy), and
 * the noise-drawing helper that matches diffusers' randn_tensor; the model
 * output conversions (prediction_type) and the step-index base classes the
 * schedulers share.
 *
 * Schedule tables are plain JS numbers; values diffusers holds in float32 are
 * rounded with Math.fround so they equal diffusers' to the last bit (or ~1 ulp
 * where torch's float32 transcendental functions differ from correctly rounded).
 */
import { cfg, type ConfigSpec } from '../config';
import { InvalidParameterError } from '../errors';
import { Generator } from '../generator';
import { assertDevice, keep, randn, type Device, type DType, Tensor, tensor, tidy } from '../tensor';
import { assertInteger, assertNumber, isPlainObject } from '../validate';

export const f32 = Math.fround;
/** sqrt of a float32 value, rounded to float32 (torch float32 `x ** 0.5`). */
export const sqrt32 = (x: number): number => f32(Math.sqrt(x));

/** What `step` returns; field names are diffusers' in camelCase. */
export interface SchedulerOutput {
  /** The sample at the previous (less noisy) timestep. */
  prevSample: Tensor;
  /** The model's estimate of the clean sample, where the scheduler computes one. */
  predOriginalSample?: Tensor;
  /** LCM's `denoised` (the same tensor as predOriginalSample; never the same as prevSample). */
  denoised?: Tensor;
}

export interface StepOptions {
  /**
   * Source of the noise of stochastic schedulers (DDPM, Euler ancestral, LCM,
   * DDIM with eta > 0, SDE DPM-Solver). Noise is drawn on the generator's
   * device as diffusers' randn_tensor does; when that differs from the sample's
   * device (a CPU generator with CUDA latents), step returns a Promise because
   * the copy to the device is asynchronous. Without a generator, noise comes
   * from the global generator on the sample's device.
   */
  generator?: Generator;
  /** DDIM only: the weight of the noise (0 = DDIM, 1 = DDPM-like). Default 0. */
  eta?: number;
}

export interface SetTimestepsOptions {
  /** Accepted for diffusers parity; the tables are JS numbers, so it has no effect. */
  device?: Device;
}

/** The public face of every scheduler. Members are diffusers' in camelCase; `config` keeps diffusers' snake_case keys. */
export interface Scheduler {
  /** The diffusers class name, e.g. 'DDIMScheduler'. */
  readonly className: string;
  /** The resolved config (defaults filled in), snake_case as in scheduler_config.json. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Keys of the input config this class ignored (other schedulers' keys). */
  readonly ignoredConfigKeys: readonly string[];
  /** Model evaluations per step (1 for all schedulers here). */
  readonly order: number;
  /** Timesteps of the current schedule, in the order the model is called. */
  readonly timesteps: number[];
  /** Noise levels per step (plus the final one), for sigma-based schedulers. */
  readonly sigmas?: number[];
  readonly initNoiseSigma: number;
  /** The training schedule's cumulative alpha products (absent for flow matching). */
  readonly alphasCumprod?: number[];
  readonly numInferenceSteps: number | null;
  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void;
  scaleModelInput(sample: Tensor, timestep: number): Tensor;
  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput>;
  /** Forward diffusion: noise `original` to `timesteps` (one per batch element, or one for all). */
  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor;
  /** Frees the tensors the scheduler holds between steps (multistep history); also done by setTimesteps. */
  dispose(): void;
}

// ---------------------------------------------------------------------------
// Config specs shared by the DDPM-family schedulers.

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
export const PREDICTION_TYPES = ['epsilon', 'v_prediction', 'sample'] as const;
export const TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;

/** num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas with diffusers' defaults. */
export function betaSpec(defaults: { beta_start?: number; beta_end?: number; beta_schedule?: string } = {}, schedules: readonly string[] = BETA_SCHEDULES) {
  return {
    num_train_timesteps: cfg.int(1000, 1),
    beta_start: cfg.number(defaults.beta_start ?? 0.0001, 0),
    beta_end: cfg.number(defaults.beta_end ?? 0.02, 0),
    beta_schedule: cfg.oneOf(defaults.beta_schedule ?? 'linear', schedules),
    trained_betas: cfg.numberArray(),
  } satisfies ConfigSpec;
}

/**
 * prediction_type, thresholding, dynamic_thresholding_ratio, clip_sample_range and
 * sample_max_value (how x̂0 is predicted and clipped) with the defaults DDIM and DDPM share.
 */
export function x0PredictionSpec() {
  return {
    prediction_type: cfg.oneOf('epsilon', PREDICTION_TYPES),
    thresholding: cfg.bool(false),
    dynamic_thresholding_ratio: cfg.number(0.995, 0, 1),
    clip_sample_range: cfg.number(1.0, 0, Infinity, true),
    sample_max_value: cfg.number(1.0, 0),
  } satisfies ConfigSpec;
}

/** Errors for known keys whose value asks for something not implemented here. */
export function rejectUnsupported(config: Readonly<Record<string, unknown>>, checks: [key: string, supported: (v: unknown) => boolean, expected: string][]): void {
  for (const [key, ok, expected] of checks) if (!ok(config[key])) throw new InvalidParameterError(key, expected, config[key]);
}
export const notThresholding: [string, (v: unknown) => boolean, string] = ['thresholding', (v) => v === false, 'false (dynamic thresholding is not implemented)'];

// ---------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------
// Arguments.

export function assertSteps(n: unknown, trainSteps: number, name = 'numInferenceSteps'): asserts n is number {
  assertInteger(name, n, 1, trainSteps);
}

export function checkSetTimestepsOptions(options: unknown): void {
  if (options === undefined) return;
  if (!isPlainObject(options)) throw new InvalidParameterError('options', 'an object such as { device }', options);
  if (options.device !== undefined) assertDevice('device', options.device);
}

export function checkStepArgs(modelOutput: unknown, timestep: unknown, sample: unknown, options: unknown): StepOptions {
  if (!(modelOutput instanceof Tensor)) throw new InvalidParameterError('modelOutput', 'a Tensor', modelOutput);
  if (!(sample instanceof Tensor)) throw new InvalidParameterError('sample', 'a Tensor', sample);
  assertNumber('timestep', timestep);
  if (options === undefined) return {};
  if (!isPlainObject(options)) throw new InvalidParameterError('options', 'an object such as { generator, eta }', options);
  if (options.generator !== undefined && !(options.generator instanceof Generator))
    throw new InvalidParameterError('generator', 'a Generator from createGenerator()', options.generator);
  return options as StepOptions;
}

export function assertTensor(name: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) throw new InvalidParameterError(name, 'a Tensor', v);
}

/** Integer training timestep for table lookups (alphas_cumprod[t]). */
export function trainIndex(t: number, trainSteps: number, name = 'timestep'): number {
  if (!Number.isInteger(t) || t < 0 || t >= trainSteps) throw new InvalidParameterError(name, `an integer timestep in [0, ${trainSteps - 1}]`, t);
  return t;
}

/** timesteps of addNoise as a list. */
export function timestepList(timesteps: unknown): number[] {
  const list = typeof timesteps === 'number' ? [timesteps] : timesteps;
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => typeof t === 'number' && Number.isFinite(t)))
    throw new InvalidParameterError('timesteps', 'a number or a non-empty array of numbers', timesteps);
  return list;
}

/**
 * Per-batch coefficients shaped [B, 1, ...] to broadcast against `like`, in its
 * dtype and on its device (a plain number when there is a single timestep).
 */
export function batchCoefficient(values: number[], like: Tensor): number | Tensor {
  if (values.length === 1) return values[0]!;
  const shape = [values.length, ...like.shape.slice(1).map(() => 1)];
  return tensor(Float64Array.from(values), shape, { dtype: like.dtype, device: like.device });
}

/** Rounds a coefficient the way torch would hold it in `dtype` (float32 → fround). */
export const inDtype = (dtype: DType, x: number): number => (dtype === 'float32' ? f32(x) : x);

/** forward diffusion for ᾱ-based schedulers: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε, computed in the sample's dtype as diffusers does. */
export function addNoiseAlphas(alphasCumprod: number[], original: Tensor, noise: Tensor, timesteps: unknown): Tensor {
  assertTensor('original', original);
  assertTensor('noise', noise);
  const ts = timestepList(timesteps).map((t) => trainIndex(t, alphasCumprod.length, 'timesteps'));
  const dt = original.dtype;
  return tidy(() => {
    const a = batchCoefficient(ts.map((t) => inDtype(dt, Math.sqrt(inDtype(dt, alphasCumprod[t]!)))), original);
    const b = batchCoefficient(ts.map((t) => inDtype(dt, Math.sqrt(inDtype(dt, 1 - inDtype(dt, alphasCumprod[t]!))))), original);
    return mulScalar(original, a).add(mulScalar(noise, b));
  });
}

const mulScalar = (t: Tensor, c: number | Tensor): Tensor => (typeof c === 'number' ? t.mul(c) : c.mul(t));

// ---------------------------------------------------------------------------
// Model output conversions (prediction_type).

/**
 * x̂0 from the model output where x_t = α x0 + σ ε (α = sqrt(ᾱ_t) and σ = sqrt(1 - ᾱ_t),
 * or DPM-Solver's α_t, σ_t). For 'sample' it is the model output itself (not a copy).
 */
export function predictOriginalSample(predictionType: string, modelOutput: Tensor, sample: Tensor, alpha: number, sigma: number): Tensor {
  if (predictionType === 'epsilon') return sample.sub(modelOutput.mul(sigma)).div(alpha);
  if (predictionType === 'sample') return modelOutput;
  return sample.mul(alpha).sub(modelOutput.mul(sigma));
}

/** ε̂ from the model output where x_t = α x0 + σ ε. For 'epsilon' it is the model output itself (not a copy). */
export function predictEpsilon(predictionType: string, modelOutput: Tensor, sample: Tensor, alpha: number, sigma: number): Tensor {
  if (predictionType === 'epsilon') return modelOutput;
  if (predictionType === 'sample') return sample.sub(modelOutput.mul(alpha)).div(sigma);
  return modelOutput.mul(alpha).add(sample.mul(sigma));
}

/**
 * x̂0 of the Karras-sigma (Euler-family) schedulers, where x = x0 + σ ε and the
 * model sees x / sqrt(σ² + 1). For 'sample' it is the model output itself (not a copy).
 */
export function sigmaPredictOriginalSample(predictionType: string, modelOutput: Tensor, sample: Tensor, sigma: number): Tensor {
  if (predictionType === 'epsilon') return sample.sub(modelOutput.mul(sigma));
  if (predictionType === 'sample') return modelOutput;
  const s2p1 = f32(f32(sigma * sigma) + 1);
  return modelOutput.mul(f32(-sigma / sqrt32(s2p1))).add(sample.div(s2p1));
}

// ---------------------------------------------------------------------------
// Step-index bookkeeping of the sigma-based schedulers.

/** diffusers' index_for_timestep: the match's position (the second one when the timestep repeats). */
export function indexForTimestep(timesteps: number[], t: number): number | undefined {
  const t32 = f32(t);
  const hits: number[] = [];
  for (let i = 0; i < timesteps.length && hits.length < 2; i++) if (timesteps[i] === t || timesteps[i] === t32) hits.push(i);
  return hits.length > 1 ? hits[1] : hits[0];
}

export function requireTimestepIndex(timesteps: number[], t: number): number {
  const i = indexForTimestep(timesteps, t);
  if (i === undefined) throw new InvalidParameterError('timestep', 'one of scheduler.timesteps', t);
  return i;
}

// ---------------------------------------------------------------------------
// Noise.

const sameDevice = (a: Device, b: Device): boolean => a === b || (a === 'cuda' && b === 'cuda:0') || (a === 'cuda:0' && b === 'cuda');

/**
 * `base + coef * noise` (then cast to `outDtype`), with noise drawn like
 * diffusers' randn_tensor(shape, generator, device, dtype): on the generator's
 * device (or the sample's without a generator), then moved. Synchronous unless
 * the generator lives on another device than `base`. Takes ownership of `base`.
 */
export function withNoise(
  base: Tensor,
  coef: number,
  noiseDtype: DType,
  generator: Generator | undefined,
  outDtype: DType = base.dtype,
): Tensor | Promise<Tensor> {
  const device = base.device;
  if (generator !== undefined && !sameDevice(generator.device, device)) {
    if (generator.device !== 'cpu') {
      base.dispose();
      throw new InvalidParameterError('generator', `a generator on 'cpu' or on the sample's device '${device}'`, `a generator on '${generator.device}'`);
    }
    // Drawn now, so the generator advances in step order; moved asynchronously.
    const drawn = keep(randn(base.shape, { generator, dtype: noiseDtype }));
    keep(base);
    return (async () => {
      try {
        const moved = await drawn.to({ device });
        try {
          return combine(base, coef, moved, outDtype);
        } finally {
          moved.dispose();
        }
      } finally {
        drawn.dispose();
        base.dispose();
      }
    })();
  }
  try {
    return tidy(() => combine(base, coef, randn(base.shape, { generator, dtype: noiseDtype, device: generator ? undefined : device }), outDtype));
  } finally {
    base.dispose();
  }
}

function combine(base: Tensor, coef: number, noise: Tensor, outDtype: DType): Tensor {
  return tidy(() => {
    const out = base.add(noise.mul(coef));
    return out.dtype === outDtype ? out : out.astype(outDtype);
  });
}

/** Builds the step output, resolving an asynchronous prevSample when there is one. */
export function stepOutput(prev: Tensor | Promise<Tensor>, extra: Omit<SchedulerOutput, 'prevSample'> = {}): SchedulerOutput | Promise<SchedulerOutput> {
  if (prev instanceof Promise) return prev.then((prevSample) => ({ prevSample, ...extra }));
  return { prevSample: prev, ...extra };
}

/** Casts when needed (keeps the tensor itself when the dtype already matches). */
export const castTo = (t: Tensor, dtype: DType): Tensor => (t.dtype === dtype ? t : t.astype(dtype));

/** Disposes a stored tensor if present. */
export function disposeAll(tensors: (Tensor | null | undefined)[]): void {
  const seen = new Set<Tensor>();
  for (const t of tensors) if (t && !seen.has(t)) {
    seen.add(t);
    t.dispose();
  }
}

// ---------------------------------------------------------------------------
// Base classes of the schedulers that step by position in their schedule.

/**
 * diffusers' _step_index / _begin_index, shared by the schedulers that walk
 * their schedule by position (the sigma-based ones and LCM): the index is the
 * begin index or the first step's timestep's position, and step advances it.
 */
export abstract class StepIndexScheduler {
  abstract timesteps: number[];
  protected stepIndex: number | null = null;
  protected beginIndex: number | null = null;

  /** Starts stepping at this index of timesteps (img2img), as diffusers' set_begin_index. */
  setBeginIndex(beginIndex = 0): void {
    this.beginIndex = beginIndex;
  }
  get currentStepIndex(): number | null {
    return this.stepIndex;
  }

  /** The index of the current step (set on the first call: the begin index, else the timestep's position). */
  protected currentIndex(timestep: number): number {
    return (this.stepIndex ??= this.beginIndex ?? this.indexOfTimestep(timestep));
  }

  /** The position of a timestep in the schedule (diffusers' index_for_timestep); an error when it is not there. */
  protected indexOfTimestep(timestep: number): number {
    return requireTimestepIndex(this.timesteps, timestep);
  }

  /** currentIndex of a step from sigmas[i] to sigmas[i + 1]; an error past the last step. */
  protected sigmaStepIndex(timestep: number, sigmas: number[]): number {
    const i = this.currentIndex(timestep);
    if (i + 1 >= sigmas.length) throw new InvalidParameterError('step', 'no more calls than scheduler.timesteps has entries (call setTimesteps to restart)');
    return i;
  }

  /** Forgets both indices (a new schedule). */
  protected resetStepIndex(): void {
    this.stepIndex = null;
    this.beginIndex = null;
  }

  /**
   * diffusers' add_noise of the sigma schedulers: x0 + σ ε by default (or `combine`), σ from `sigmas`
   * at each timestep's index, or at the step (else begin) index once a begin index is set.
   */
  protected addSigmaNoise(
    sigmas: number[],
    original: Tensor,
    noise: Tensor,
    timesteps: unknown,
    combine: (original: Tensor, noise: Tensor, sigma: number | Tensor) => Tensor = (o, n, sigma) => o.add(typeof sigma === 'number' ? n.mul(sigma) : sigma.mul(n)),
  ): Tensor {
    assertTensor('original', original);
    assertTensor('noise', noise);
    const ts = timestepList(timesteps);
    const indices = this.beginIndex === null ? ts.map((t) => requireTimestepIndex(this.timesteps, t)) : ts.map(() => this.stepIndex ?? this.beginIndex!);
    const dt = original.dtype;
    return tidy(() => combine(original, noise, batchCoefficient(indices.map((i) => (dt === 'float32' ? f32(sigmas[i]!) : sigmas[i]!)), original)));
  }
}

/**
 * What diffusers' two Euler schedulers (EulerDiscrete and EulerAncestralDiscrete)
 * share: Karras sigmas over the training schedule, the model-input scaling,
 * the initial noise scale and forward noising.
 */
export abstract class EulerFamilyScheduler extends StepIndexScheduler {
  abstract readonly config: Readonly<{ num_train_timesteps: number; timestep_spacing: string; steps_offset: number }>;
  readonly alphasCumprod: number[];
  timesteps: number[];
  sigmas: number[];
  numInferenceSteps: number | null = null;
  /** sigma of each training timestep (float32). */
  protected readonly trainSigmas: number[];

  constructor(c: BetaConfig) {
    super();
    this.alphasCumprod = eulerAlphasCumprod(c);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    this.sigmas = [...this.trainSigmas].reverse().concat([0]);
    this.timesteps = trainingTimesteps(c.num_train_timesteps);
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.config.timestep_spacing === 'leading' ? karrasInputScale(max) : max;
  }

  /** setTimesteps' common start: checks the arguments; the spaced timesteps and their interpolated sigmas (float64, no final sigma). */
  protected spacedSchedule(numInferenceSteps: number, options: SetTimestepsOptions | undefined): { timesteps: number[]; sigmas: number[] } {
    const c = this.config;
    assertSteps(numInferenceSteps, c.num_train_timesteps);
    checkSetTimestepsOptions(options);
    const timesteps = eulerTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset);
    return { timesteps, sigmas: timesteps.map((t) => interpIndex(t, this.trainSigmas)) };
  }

  scaleModelInput(sample: Tensor, timestep: number): Tensor {
    assertTensor('sample', sample);
    return sample.div(karrasInputScale(this.sigmas[this.currentIndex(timestep)]!));
  }

  /** original + noise * sigma(t), with sigma looked up in the current timesteps. */
  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return this.addSigmaNoise(this.sigmas, original, noise, timesteps);
  }

  dispose(): void {}
}
