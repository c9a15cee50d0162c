/**
 * EulerDiscreteScheduler (Karras et al., arXiv 2206.00364, Algorithm 2 without
 * churn), numerically as diffusers' scheduling_euler_discrete.py.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import {
  assertSteps,
  assertTensor,
  batchCoefficient,
  betaSpec,
  castTo,
  checkSetTimestepsOptions,
  checkStepArgs,
  f32,
  interpIndex,
  karrasSigmas,
  makeAlphasCumprod,
  npArange,
  npLinspace,
  PREDICTION_TYPES,
  rejectUnsupported,
  requireTimestepIndex,
  roundHalfEven,
  type Scheduler,
  type SchedulerOutput,
  type SetTimestepsOptions,
  sigmasFromAlphasCumprod,
  sigmaToT,
  sqrt32,
  type StepOptions,
  TIMESTEP_SPACINGS,
  timestepList,
} from './scheduling-utils';

export const EULER_CONFIG_SPEC = {
  ...betaSpec(),
  prediction_type: cfg.oneOf('epsilon', PREDICTION_TYPES),
  interpolation_type: cfg.oneOf('linear', ['linear', 'log_linear'] as const),
  use_karras_sigmas: cfg.bool(false),
  use_exponential_sigmas: cfg.bool(false),
  use_beta_sigmas: cfg.bool(false),
  sigma_min: cfg.optionalNumber(0, true),
  sigma_max: cfg.optionalNumber(0, true),
  timestep_spacing: cfg.oneOf('linspace', TIMESTEP_SPACINGS),
  timestep_type: cfg.oneOf('discrete', ['discrete', 'continuous'] as const),
  steps_offset: cfg.int(0, 0),
  rescale_betas_zero_snr: cfg.bool(false),
  final_sigmas_type: cfg.oneOf('zero', ['zero', 'sigma_min'] as const),
};
export type EulerDiscreteSchedulerConfig = ConfigOf<typeof EULER_CONFIG_SPEC>;

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

/** Euler-family alphas_cumprod: with rescale_betas_zero_snr the last one is 2^-24 so sigma stays finite. */
export function eulerAlphasCumprod(c: Parameters<typeof makeAlphasCumprod>[0]): number[] {
  const ac = makeAlphasCumprod(c);
  if (c.rescale_betas_zero_snr) ac[ac.length - 1] = 2 ** -24;
  return ac;
}

export class EulerDiscreteScheduler implements Scheduler {
  readonly className = 'EulerDiscreteScheduler';
  readonly order = 1;
  readonly config: EulerDiscreteSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  timesteps: number[];
  sigmas: number[];
  numInferenceSteps: number | null = null;
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  /** sigma of each training timestep (float32). */
  private readonly trainSigmas: number[];

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, EULER_CONFIG_SPEC);
    rejectUnsupported(c, [
      ['interpolation_type', (v) => v === 'linear', "'linear' ('log_linear' is not implemented)"],
      ['use_exponential_sigmas', (v) => v === false, 'false (exponential sigmas are not implemented)'],
      ['use_beta_sigmas', (v) => v === false, 'false (beta sigmas are not implemented)'],
      ['timestep_type', (v) => v === 'discrete', "'discrete' (continuous timesteps are not implemented)"],
    ]);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = eulerAlphasCumprod(c);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    this.sigmas = [...this.trainSigmas].reverse().concat([0]);
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    return this.config.timestep_spacing === 'leading' ? sqrt32(f32(f32(max * max) + 1)) : max;
  }

  /** Starts stepping at this index of timesteps (img2img), as diffusers' set_begin_index. */
  setBeginIndex(beginIndex = 0): void {
    this.beginIndex = beginIndex;
  }
  get currentStepIndex(): number | null {
    return this.stepIndex;
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    const c = this.config;
    assertSteps(numInferenceSteps, c.num_train_timesteps);
    checkSetTimestepsOptions(options);
    const n = numInferenceSteps;
    let timesteps = eulerTimesteps(c.timestep_spacing, c.num_train_timesteps, n, c.steps_offset);
    let sigmas = timesteps.map((t) => interpIndex(t, this.trainSigmas));
    if (c.use_karras_sigmas) {
      const logSigmas = this.trainSigmas.map((s) => f32(Math.log(s)));
      sigmas = karrasSigmas(c.sigma_min ?? sigmas[sigmas.length - 1]!, c.sigma_max ?? sigmas[0]!, n);
      timesteps = sigmas.map((s) => f32(sigmaToT(s, logSigmas)));
    }
    const last = c.final_sigmas_type === 'sigma_min' ? sqrt32(f32(f32(1 - this.alphasCumprod[0]!) / this.alphasCumprod[0]!)) : 0;
    this.sigmas = [...sigmas, last].map(f32);
    this.timesteps = timesteps;
    this.numInferenceSteps = n;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  private initStepIndex(timestep: number): number {
    this.stepIndex = this.beginIndex ?? requireTimestepIndex(this.timesteps, timestep);
    return this.stepIndex;
  }

  scaleModelInput(sample: Tensor, timestep: number): Tensor {
    assertTensor('sample', sample);
    const i = this.stepIndex ?? this.initStepIndex(timestep);
    const s = this.sigmas[i]!;
    return sample.div(sqrt32(f32(f32(s * s) + 1)));
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput {
    checkStepArgs(modelOutput, timestep, sample, options);
    const i = this.stepIndex ?? this.initStepIndex(timestep);
    if (i + 1 >= this.sigmas.length) throw new InvalidParameterError('step', 'no more calls than scheduler.timesteps has entries (call setTimesteps to restart)');
    const sigma = this.sigmas[i]!;
    const dt = f32(this.sigmas[i + 1]! - sigma);
    const pt = this.config.prediction_type;
    const out = tidy(() => {
      // diffusers upcasts the sample to float32 (and casts the result back to the model output's dtype).
      const x = castTo(sample, 'float32');
      let x0: Tensor;
      if (pt === 'sample') x0 = modelOutput;
      else if (pt === 'epsilon') x0 = x.sub(modelOutput.mul(sigma));
      else {
        const s2p1 = f32(f32(sigma * sigma) + 1);
        x0 = modelOutput.mul(f32(-sigma / sqrt32(s2p1))).add(x.div(s2p1));
      }
      const derivative = x.sub(x0).div(sigma);
      const prev = castTo(x.add(derivative.mul(dt)), modelOutput.dtype);
      return { prevSample: prev === sample ? prev.clone() : prev, predOriginalSample: x0 === modelOutput ? x0.clone() : x0 };
    });
    this.stepIndex = i + 1;
    return out;
  }

  /** original + noise * sigma(t), with sigma looked up in the current timesteps. */
  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return sigmaAddNoise(this, original, noise, timesteps);
  }

  dispose(): void {}

  /** @internal */
  get _stepIndex(): number | null {
    return this.stepIndex;
  }
  /** @internal */
  get _beginIndex(): number | null {
    return this.beginIndex;
  }
}

/** diffusers' add_noise of the sigma schedulers: x0 + σ ε, σ at each timestep's index (or the begin/step index). */
export function sigmaAddNoise(
  s: { timesteps: number[]; sigmas: number[]; _stepIndex: number | null; _beginIndex: number | null },
  original: Tensor,
  noise: Tensor,
  timesteps: unknown,
  combine: (original: Tensor, noise: Tensor, sigma: number | Tensor) => Tensor = (o, n, sigma) => o.add(typeof sigma === 'number' ? n.mul(sigma) : sigma.mul(n)),
): Tensor {
  assertTensor('original', original);
  assertTensor('noise', noise);
  const ts = timestepList(timesteps);
  const indices =
    s._beginIndex === null ? ts.map((t) => requireTimestepIndex(s.timesteps, t)) : ts.map(() => s._stepIndex ?? s._beginIndex!);
  const dt = original.dtype;
  return tidy(() => combine(original, noise, batchCoefficient(indices.map((i) => (dt === 'float32' ? f32(s.sigmas[i]!) : s.sigmas[i]!)), original)));
}
