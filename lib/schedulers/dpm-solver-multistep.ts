/**
 * DPMSolverMultistepScheduler (DPM-Solver / DPM-Solver++, Lu et al., arXiv
 * 2206.00927 and 2211.01095), numerically as diffusers'
 * scheduling_dpmsolver_multistep.py: algorithm types dpmsolver++, sde-dpmsolver++,
 * dpmsolver and sde-dpmsolver, solver orders 1-3, midpoint/heun, Karras sigmas,
 * lower_order_final, euler_at_final, final_sigmas_type, lambda_min_clipped.
 * Stateful: keeps the last `solver_order` converted model outputs.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { keep, type Tensor, tidy } from '../tensor';
import { assertSteps, castTo, checkSetTimestepsOptions, checkStepArgs, disposeAll, indexForTimestep, predictEpsilon, predictOriginalSample, stepOutput, withNoise } from './sampling-helpers';
import { eulerAlphasCumprod, interpIndex, karrasSigmas, npArange, npLinspace, roundHalfEven, sigmasFromAlphasCumprod, sigmasToTimesteps, trainingTimesteps, withFinalSigma } from './schedule-tables';
import { betaSpec, f32, notThresholding, rejectUnsupported, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, sqrt32, type StepOptions, TIMESTEP_SPACINGS } from './scheduling-utils';
import { StepIndexScheduler } from './step-index-scheduler';

export const DPM_CONFIG_SPEC = {
  ...betaSpec(),
  solver_order: cfg.int(2, 1, 3),
  prediction_type: cfg.oneOf('epsilon', ['epsilon', 'sample', 'v_prediction', 'flow_prediction'] as const),
  thresholding: cfg.bool(false),
  dynamic_thresholding_ratio: cfg.number(0.995, 0, 1),
  sample_max_value: cfg.number(1.0, 0),
  algorithm_type: cfg.oneOf('dpmsolver++', ['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis'] as const),
  solver_type: cfg.oneOf('midpoint', ['midpoint', 'heun', 'logrho', 'bh1', 'bh2'] as const),
  lower_order_final: cfg.bool(true),
  euler_at_final: cfg.bool(false),
  use_karras_sigmas: cfg.bool(false),
  use_exponential_sigmas: cfg.bool(false),
  use_beta_sigmas: cfg.bool(false),
  use_lu_lambdas: cfg.bool(false),
  use_flow_sigmas: cfg.bool(false),
  flow_shift: cfg.number(1.0, 0, Infinity, true),
  final_sigmas_type: cfg.oneOf('zero', ['zero', 'sigma_min'] as const),
  lambda_min_clipped: cfg.number(-Infinity),
  variance_type: { default: null as 'learned' | 'learned_range' | null, parse: cfg.oneOf('learned', ['learned', 'learned_range'] as const).parse },
  timestep_spacing: cfg.oneOf('linspace', TIMESTEP_SPACINGS),
  steps_offset: cfg.int(0, 0),
  rescale_betas_zero_snr: cfg.bool(false),
  use_dynamic_shifting: cfg.bool(false),
  time_shift_type: cfg.oneOf('exponential', ['exponential'] as const),
};
export type DPMSolverMultistepSchedulerConfig = ConfigOf<typeof DPM_CONFIG_SPEC>;

const alphaSigma = (sigma: number): [number, number] => {
  const alpha = f32(1 / sqrt32(f32(f32(sigma * sigma) + 1)));
  return [alpha, f32(sigma * alpha)];
};
const lambdaOf = (alpha: number, sigma: number): number => f32(f32(Math.log(alpha)) - f32(Math.log(sigma)));

export class DPMSolverMultistepScheduler extends StepIndexScheduler implements Scheduler {
  readonly className = 'DPMSolverMultistepScheduler';
  readonly order = 1;
  readonly config: DPMSolverMultistepSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  readonly initNoiseSigma = 1.0;
  timesteps: number[];
  sigmas: number[];
  numInferenceSteps: number | null = null;
  private readonly algorithm: 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver' | 'sde-dpmsolver++';
  private readonly solverType: 'midpoint' | 'heun';
  private readonly trainSigmas: number[];
  private readonly lambdaT: number[];
  private modelOutputs: (Tensor | null)[];
  private lowerOrderNums = 0;

  constructor(config: unknown = {}) {
    super();
    const { config: c, ignored } = resolveConfig(config, DPM_CONFIG_SPEC);
    rejectUnsupported(c, [
      notThresholding,
      ['use_exponential_sigmas', (v) => v === false, 'false (exponential sigmas are not implemented)'],
      ['use_beta_sigmas', (v) => v === false, 'false (beta sigmas are not implemented)'],
      ['use_lu_lambdas', (v) => v === false, 'false (Lu lambdas are not implemented)'],
      ['use_flow_sigmas', (v) => v === false, 'false (flow sigmas are not implemented)'],
      ['use_dynamic_shifting', (v) => v === false, 'false (dynamic shifting is not implemented)'],
      ['prediction_type', (v) => v !== 'flow_prediction', "'epsilon', 'sample' or 'v_prediction' (flow_prediction needs use_flow_sigmas, not implemented)"],
    ]);
    // diffusers maps the deprecated names onto supported ones.
    this.algorithm = c.algorithm_type === 'deis' ? 'dpmsolver++' : c.algorithm_type;
    this.solverType = c.solver_type === 'heun' ? 'heun' : 'midpoint';
    if (c.algorithm_type === 'sde-dpmsolver' && c.solver_order === 3)
      throw new InvalidParameterError('solver_order', "1 or 2 for algorithm_type 'sde-dpmsolver' (diffusers has no third-order SDE-DPM-Solver)", 3);
    if (!this.algorithm.endsWith('++') && c.final_sigmas_type === 'zero')
      throw new InvalidParameterError('final_sigmas_type', `'sigma_min' for algorithm_type '${c.algorithm_type}'`, c.final_sigmas_type);
    this.config = { ...c, algorithm_type: this.algorithm, solver_type: this.solverType };
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = eulerAlphasCumprod(c);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    this.lambdaT = this.alphasCumprod.map((a) => lambdaOf(sqrt32(a), sqrt32(f32(1 - a))));
    this.sigmas = [...this.trainSigmas];
    this.timesteps = trainingTimesteps(c.num_train_timesteps);
    this.modelOutputs = new Array(c.solver_order).fill(null);
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    const c = this.config;
    const T = c.num_train_timesteps;
    assertSteps(numInferenceSteps, T);
    checkSetTimestepsOptions(options);
    const n = numInferenceSteps;
    // searchsorted(flip(lambda_t), lambda_min_clipped): the number of lambdas below the clip.
    const clippedIdx = this.lambdaT.filter((l) => l < c.lambda_min_clipped).length;
    const lastTimestep = T - clippedIdx;
    let timesteps: number[];
    if (c.timestep_spacing === 'linspace') timesteps = npLinspace(0, lastTimestep - 1, n + 1).map(roundHalfEven).reverse().slice(0, -1);
    else if (c.timestep_spacing === 'leading') {
      const ratio = Math.floor(lastTimestep / (n + 1));
      timesteps = [];
      for (let i = n; i >= 1; i--) timesteps.push(i * ratio + c.steps_offset);
    } else timesteps = npArange(lastTimestep, 0, -T / n).map((t) => roundHalfEven(t) - 1);
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      sigmas = karrasSigmas(this.trainSigmas[0]!, this.trainSigmas[T - 1]!, n);
      const ts = sigmasToTimesteps(sigmas, this.trainSigmas);
      timesteps = c.beta_schedule !== 'squaredcos_cap_v2' ? ts.map(roundHalfEven) : ts.map(Math.trunc);
    } else sigmas = timesteps.map((t) => interpIndex(t, this.trainSigmas));
    this.sigmas = withFinalSigma(sigmas, c.final_sigmas_type, this.trainSigmas);
    this.timesteps = timesteps;
    this.numInferenceSteps = timesteps.length;
    this.reset();
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    return sample;
  }

  /** diffusers' _init_step_index here: a timestep not in the schedule starts at the last step. */
  protected override indexOfTimestep(timestep: number): number {
    return indexForTimestep(this.timesteps, timestep) ?? this.timesteps.length - 1;
  }

  /** diffusers' convert_model_output: x0 for the ++ variants, epsilon otherwise. */
  private convertModelOutput(modelOutput: Tensor, sample: Tensor, i: number): Tensor {
    const c = this.config;
    const [alpha, sigma] = alphaSigma(this.sigmas[i]!);
    // A learned variance's channels follow epsilon's; other prediction types use the whole output, as diffusers does.
    const mo = c.variance_type !== null && c.prediction_type === 'epsilon' && modelOutput.shape[1]! > 3 ? modelOutput.narrow(1, 0, 3) : modelOutput;
    const out = (this.algorithm.endsWith('++') ? predictOriginalSample : predictEpsilon)(c.prediction_type, mo, sample, alpha, sigma);
    return out === mo ? out.clone() : out;
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput | Promise<SchedulerOutput> {
    const opts = checkStepArgs(modelOutput, timestep, sample, options);
    if (this.numInferenceSteps === null) throw new InvalidParameterError('setTimesteps', 'to be called before step');
    const c = this.config;
    const i = this.sigmaStepIndex(timestep, this.sigmas);
    const len = this.timesteps.length;
    const lowerOrderFinal = i === len - 1 && (c.euler_at_final || (c.lower_order_final && len < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = i === len - 2 && c.lower_order_final && len < 15;

    const converted = keep(tidy(() => this.convertModelOutput(modelOutput, sample, i)));
    this.modelOutputs[0]?.dispose();
    for (let k = 0; k < c.solver_order - 1; k++) this.modelOutputs[k] = this.modelOutputs[k + 1]!;
    this.modelOutputs[c.solver_order - 1] = converted;

    let order: 1 | 2 | 3;
    if (c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) order = 1;
    else if (c.solver_order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) order = 2;
    else order = 3;

    const sde = this.algorithm.startsWith('sde');
    const update = this.update(order, i, sample, sde);
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex = i + 1;
    if (sde) {
      // randn_tensor(..., dtype=torch.float32), then cast to the model output's dtype.
      return stepOutput(withNoise(update.base, update.noiseCoef, 'float32', opts.generator, modelOutput.dtype));
    }
    const prevSample = castTo(update.base, modelOutput.dtype);
    if (prevSample !== update.base) update.base.dispose();
    return { prevSample };
  }

  /** The deterministic part of x_t, and the coefficient of the noise for the SDE variants. */
  private update(order: 1 | 2 | 3, i: number, sample: Tensor, sde: boolean): { base: Tensor; noiseCoef: number } {
    const alg = this.algorithm;
    const heun = this.solverType === 'heun';
    const [alphaT, sigmaT] = alphaSigma(this.sigmas[i + 1]!);
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[i]!);
    const lambdaT = lambdaOf(alphaT, sigmaT);
    const lambdaS0 = lambdaOf(alphaS0, sigmaS0);
    const h = f32(lambdaT - lambdaS0);
    const expNegH = f32(Math.exp(-h));
    const expH = f32(Math.exp(h));
    const exp2 = f32(Math.exp(f32(-2 * h)));
    const noiseCoef = alg === 'sde-dpmsolver++' ? f32(sigmaT * sqrt32(f32(1 - exp2))) : alg === 'sde-dpmsolver' ? f32(sigmaT * sqrt32(f32(f32(Math.exp(f32(2 * h))) - 1))) : 0;
    const m = this.modelOutputs;
    const n = m.length;
    const m0 = m[n - 1]!;
    const base = tidy(() => {
      const x = castTo(sample, 'float32');
      // Coefficient helpers (all float32 like diffusers' 0-dim tensors).
      const plusPlusD0 = f32(alphaT * f32(expNegH - 1));
      const plainD0 = f32(sigmaT * f32(expH - 1));
      const sdePPD0 = f32(alphaT * f32(1 - exp2));
      if (order === 1) {
        if (alg === 'dpmsolver++') return x.mul(f32(sigmaT / sigmaS0)).sub(m0.mul(plusPlusD0));
        if (alg === 'dpmsolver') return x.mul(f32(alphaT / alphaS0)).sub(m0.mul(plainD0));
        if (alg === 'sde-dpmsolver++') return x.mul(f32(f32(sigmaT / sigmaS0) * expNegH)).add(m0.mul(sdePPD0));
        return x.mul(f32(alphaT / alphaS0)).sub(m0.mul(f32(2 * plainD0)));
      }
      const [alphaS1, sigmaS1] = alphaSigma(this.sigmas[i - 1]!);
      const lambdaS1 = lambdaOf(alphaS1, sigmaS1);
      const m1 = m[n - 2]!;
      const h0 = f32(lambdaS0 - lambdaS1);
      const r0 = f32(h0 / h);
      if (order === 2) {
        const D0 = m0;
        const D1 = m0.sub(m1).mul(f32(1 / r0));
        if (alg === 'dpmsolver++') {
          const first = x.mul(f32(sigmaT / sigmaS0)).sub(D0.mul(plusPlusD0));
          return heun ? first.add(D1.mul(f32(alphaT * f32(f32(f32(expNegH - 1) / h) + 1)))) : first.sub(D1.mul(f32(0.5 * plusPlusD0)));
        }
        if (alg === 'dpmsolver') {
          const first = x.mul(f32(alphaT / alphaS0)).sub(D0.mul(plainD0));
          return heun ? first.sub(D1.mul(f32(sigmaT * f32(f32(f32(expH - 1) / h) - 1)))) : first.sub(D1.mul(f32(0.5 * plainD0)));
        }
        if (alg === 'sde-dpmsolver++') {
          const first = x.mul(f32(f32(sigmaT / sigmaS0) * expNegH)).add(D0.mul(sdePPD0));
          return heun
            ? first.add(D1.mul(f32(alphaT * f32(f32(f32(1 - exp2) / f32(-2 * h)) + 1))))
            : first.add(D1.mul(f32(0.5 * sdePPD0)));
        }
        const first = x.mul(f32(alphaT / alphaS0)).sub(D0.mul(f32(2 * plainD0)));
        return heun ? first.sub(D1.mul(f32(2 * f32(sigmaT * f32(f32(f32(expH - 1) / h) - 1))))) : first.sub(D1.mul(plainD0));
      }
      const [alphaS2, sigmaS2] = alphaSigma(this.sigmas[i - 2]!);
      const lambdaS2 = lambdaOf(alphaS2, sigmaS2);
      const m2 = m[n - 3]!;
      const h1 = f32(lambdaS1 - lambdaS2);
      const r1 = f32(h1 / h);
      const D0 = m0;
      const D1_0 = m0.sub(m1).mul(f32(1 / r0));
      const D1_1 = m1.sub(m2).mul(f32(1 / r1));
      const diff = D1_0.sub(D1_1);
      const D1 = D1_0.add(diff.mul(f32(r0 / f32(r0 + r1))));
      const D2 = diff.mul(f32(1 / f32(r0 + r1)));
      const h2 = f32(h * h);
      if (alg === 'dpmsolver++')
        return x
          .mul(f32(sigmaT / sigmaS0))
          .sub(D0.mul(plusPlusD0))
          .add(D1.mul(f32(alphaT * f32(f32(f32(expNegH - 1) / h) + 1))))
          .sub(D2.mul(f32(alphaT * f32(f32(f32(f32(expNegH - 1) + h) / h2) - 0.5))));
      if (alg === 'dpmsolver')
        return x
          .mul(f32(alphaT / alphaS0))
          .sub(D0.mul(plainD0))
          .sub(D1.mul(f32(sigmaT * f32(f32(f32(expH - 1) / h) - 1))))
          .sub(D2.mul(f32(sigmaT * f32(f32(f32(f32(expH - 1) - h) / h2) - 0.5))));
      if (alg === 'sde-dpmsolver++')
        return x
          .mul(f32(f32(sigmaT / sigmaS0) * expNegH))
          .add(D0.mul(sdePPD0))
          .add(D1.mul(f32(alphaT * f32(f32(f32(1 - exp2) / f32(-2 * h)) + 1))))
          .add(D2.mul(f32(alphaT * f32(f32(f32(f32(1 - exp2) - f32(2 * h)) / f32(f32(2 * h) * f32(2 * h))) - 0.5))));
      throw new InvalidParameterError('solver_order', "at most 2 for algorithm_type 'sde-dpmsolver' (diffusers has no third-order SDE-DPM-Solver)", 3);
    });
    return { base, noiseCoef: sde ? noiseCoef : 0 };
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    // alpha_t x0 + sigma_t eps with alpha_t, sigma_t from the schedule's sigma at each timestep.
    return this.addSigmaNoise(
      this.sigmas,
      original,
      noise,
      timesteps,
      (o, n, sigma) => {
        if (typeof sigma === 'number') {
          const alpha = 1 / Math.sqrt(sigma * sigma + 1);
          return o.mul(alpha).add(n.mul(sigma * alpha));
        }
        const alpha = sigma.square().add(1).rsqrt();
        return alpha.mul(o).add(sigma.mul(alpha).mul(n));
      },
    );
  }

  private reset(): void {
    disposeAll(this.modelOutputs);
    this.modelOutputs = new Array(this.config.solver_order).fill(null);
    this.lowerOrderNums = 0;
    this.resetStepIndex();
  }

  dispose(): void {
    this.reset();
  }
}
