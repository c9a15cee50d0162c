/**
 * FlowMatchEulerDiscreteScheduler (rectified flow / flow matching, as used by
 * SD3, Flux and HunyuanVideo), numerically as diffusers'
 * scheduling_flow_match_euler_discrete.py: x_{next} = x + (σ_next - σ) v,
 * with σ shifted by σ' = shift σ / (1 + (shift - 1) σ).
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { assertSteps, castTo, checkSetTimestepsOptions, checkStepArgs, stepOutput, withNoise } from './sampling-helpers';
import { karrasSigmas, npLinspace } from './schedule-tables';
import { f32, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, type StepOptions } from './scheduling-utils';
import { StepIndexScheduler } from './step-index-scheduler';

export const FLOW_MATCH_CONFIG_SPEC = {
  num_train_timesteps: cfg.int(1000, 1),
  shift: cfg.number(1.0, 0, Infinity, true),
  use_dynamic_shifting: cfg.bool(false),
  base_shift: cfg.optionalNumber(),
  max_shift: cfg.optionalNumber(),
  base_image_seq_len: cfg.int(256, 1),
  max_image_seq_len: cfg.int(4096, 1),
  invert_sigmas: cfg.bool(false),
  shift_terminal: cfg.optionalNumber(),
  use_karras_sigmas: cfg.bool(false),
  use_exponential_sigmas: cfg.bool(false),
  use_beta_sigmas: cfg.bool(false),
  time_shift_type: cfg.oneOf('exponential', ['exponential', 'linear'] as const),
  stochastic_sampling: cfg.bool(false),
};
export type FlowMatchEulerDiscreteSchedulerConfig = ConfigOf<typeof FLOW_MATCH_CONFIG_SPEC>;

export interface FlowMatchSetTimestepsOptions extends SetTimestepsOptions {
  /** exp(mu) is the shift when use_dynamic_shifting is on (required then). */
  mu?: number;
}

export class FlowMatchEulerDiscreteScheduler extends StepIndexScheduler implements Scheduler {
  readonly className = 'FlowMatchEulerDiscreteScheduler';
  readonly order = 1;
  readonly config: FlowMatchEulerDiscreteSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  /** Flow matching starts from pure noise: x_T = noise, so the initial noise scale is 1. */
  readonly initNoiseSigma = 1.0;
  timesteps: number[];
  sigmas: number[];
  numInferenceSteps: number | null = null;
  shift: number;
  private readonly sigmaMin: number;
  private readonly sigmaMax: number;

  constructor(config: unknown = {}) {
    super();
    const { config: c, ignored } = resolveConfig(config, FLOW_MATCH_CONFIG_SPEC);
    rejectUnsupported(c, [
      ['use_exponential_sigmas', (v) => v === false, 'false (exponential sigmas are not implemented)'],
      ['use_beta_sigmas', (v) => v === false, 'false (beta sigmas are not implemented)'],
    ]);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.shift = c.shift;
    const T = c.num_train_timesteps;
    // np.linspace(1, T, T, dtype=float32)[::-1] / T, shifted in float32 torch ops.
    const base = npLinspace(1, T, T).map(f32).reverse().map((t) => f32(t / T));
    const sigmas = c.use_dynamic_shifting ? base : base.map((s) => f32(f32(c.shift * s) / f32(1 + f32((c.shift - 1) * s))));
    this.sigmas = sigmas;
    this.timesteps = sigmas.map((s) => f32(s * T));
    this.sigmaMin = sigmas[sigmas.length - 1]!;
    this.sigmaMax = sigmas[0]!;
  }

  /** Changes the shift used by later setTimesteps calls (diffusers' set_shift). */
  setShift(shift: number): void {
    if (typeof shift !== 'number' || !(shift > 0)) throw new InvalidParameterError('shift', 'a number > 0', shift);
    this.shift = shift;
  }

  setTimesteps(numInferenceSteps: number, options: FlowMatchSetTimestepsOptions = {}): void {
    const c = this.config;
    const T = c.num_train_timesteps;
    assertSteps(numInferenceSteps, T);
    checkSetTimestepsOptions({ device: options?.device });
    const n = numInferenceSteps;
    if (c.use_dynamic_shifting && (typeof options.mu !== 'number' || !Number.isFinite(options.mu)))
      throw new InvalidParameterError('mu', 'a number (required with use_dynamic_shifting)', options.mu);
    // float64 (numpy) from here until the float32 conversion.
    let sigmas = npLinspace(this.sigmaMax * T, this.sigmaMin * T, n).map((t) => t / T);
    if (c.use_dynamic_shifting) {
      const mu = options.mu!;
      sigmas =
        c.time_shift_type === 'exponential'
          ? sigmas.map((t) => Math.exp(mu) / (Math.exp(mu) + (1 / t - 1) ** 1.0))
          : sigmas.map((t) => mu / (mu + (1 / t - 1) ** 1.0));
    } else sigmas = sigmas.map((s) => (this.shift * s) / (1 + (this.shift - 1) * s));
    if (c.shift_terminal) {
      const scale = (1 - sigmas[sigmas.length - 1]!) / (1 - c.shift_terminal);
      sigmas = sigmas.map((s) => 1 - (1 - s) / scale);
    }
    if (c.use_karras_sigmas) sigmas = karrasSigmas(sigmas[sigmas.length - 1]!, sigmas[0]!, n);
    let s32 = sigmas.map(f32);
    let timesteps = s32.map((s) => f32(s * T));
    if (c.invert_sigmas) {
      s32 = s32.map((s) => f32(1 - s));
      timesteps = s32.map((s) => f32(s * T));
      s32.push(1);
    } else s32.push(0);
    this.sigmas = s32;
    this.timesteps = timesteps;
    this.numInferenceSteps = n;
    this.resetStepIndex();
  }

  /** Flow matching does not scale the model input. */
  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    return sample;
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    const i = this.sigmaStepIndex(timestep, this.sigmas);
    const sigma = this.sigmas[i]!;
    const sigmaNext = this.sigmas[i + 1]!;
    this.stepIndex = i + 1;
    if (this.config.stochastic_sampling) {
      const base = tidy(() => castTo(sample, 'float32').sub(modelOutput.mul(sigma)).mul(f32(1 - sigmaNext)));
      return stepOutput(withNoise(base, sigmaNext, 'float32', opts.generator, modelOutput.dtype));
    }
    const dt = f32(sigmaNext - sigma);
    return { prevSample: tidy(() => castTo(castTo(sample, 'float32').add(modelOutput.mul(dt)), modelOutput.dtype)) };
  }

  /** diffusers' scale_noise: σ noise + (1 - σ) x0, σ at each timestep of the current schedule. */
  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return this.addSigmaNoise(
      this.sigmas,
      original,
      noise,
      timesteps,
      (o, n, sigma) => (typeof sigma === 'number' ? n.mul(sigma).add(o.mul(1 - sigma)) : sigma.mul(n).add(sigma.neg().add(1).mul(o))),
    );
  }

  dispose(): void {}
}
