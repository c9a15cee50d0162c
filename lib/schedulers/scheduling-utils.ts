/**
 * The Scheduler interface every scheduler implements (diffusers' SchedulerMixin:
 * setTimesteps, scaleModelInput, step -> prevSample, addNoise), float32 rounding,
 * and the config specs the DDPM-family schedulers share.
 *
 * Schedule tables are plain JS numbers; values diffusers holds in float32 are
 * rounded with Math.fround so they equal diffusers' to the last bit (or ~1 ulp
 * where torch's float32 transcendental functions differ from correctly rounded).
 */
import { cfg, type ConfigSpec } from '../config';
import { InvalidParameterError } from '../errors';
import type { Generator } from '../generator';
import type { Device, Tensor } from '../tensor';

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
