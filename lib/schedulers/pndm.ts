/**
 * PNDMScheduler (Liu et al., arXiv 2202.09778), numerically as diffusers'
 * scheduling_pndm.py: Runge-Kutta warm-up steps (unless skip_prk_steps) then
 * linear multistep (PLMS). Stateful: keeps the last model outputs.
 */
import { cfg, resolveConfig, type ConfigOf } from '../config';
import { InvalidParameterError } from '../errors';
import { keep, type Tensor, tidy } from '../tensor';
import { addNoiseAlphas, assertSteps, checkSetTimestepsOptions, checkStepArgs, disposeAll, trainIndex } from './sampling-helpers';
import { makeAlphasCumprod, npArange, npLinspace, roundHalfEven } from './schedule-tables';
import { betaSpec, f32, type Scheduler, type SchedulerOutput, type SetTimestepsOptions, sqrt32, type StepOptions, TIMESTEP_SPACINGS } from './scheduling-utils';

export const PNDM_CONFIG_SPEC = {
  ...betaSpec(),
  skip_prk_steps: cfg.bool(false),
  set_alpha_to_one: cfg.bool(false),
  prediction_type: cfg.oneOf('epsilon', ['epsilon', 'v_prediction'] as const),
  timestep_spacing: cfg.oneOf('leading', TIMESTEP_SPACINGS),
  steps_offset: cfg.int(0, 0),
};
export type PNDMSchedulerConfig = ConfigOf<typeof PNDM_CONFIG_SPEC>;

const PNDM_ORDER = 4;

export class PNDMScheduler implements Scheduler {
  readonly className = 'PNDMScheduler';
  readonly order = 1;
  readonly config: PNDMSchedulerConfig;
  readonly ignoredConfigKeys: readonly string[];
  readonly alphasCumprod: number[];
  readonly finalAlphaCumprod: number;
  readonly initNoiseSigma = 1.0;
  timesteps: number[] = [];
  prkTimesteps: number[] = [];
  plmsTimesteps: number[] = [];
  numInferenceSteps: number | null = null;

  private counter = 0;
  private ets: Tensor[] = [];
  private curSample: Tensor | null = null;
  private curModelOutput: Tensor | null = null;

  constructor(config: unknown = {}) {
    const { config: c, ignored } = resolveConfig(config, PNDM_CONFIG_SPEC);
    this.config = c;
    this.ignoredConfigKeys = ignored;
    this.alphasCumprod = makeAlphasCumprod(c);
    this.finalAlphaCumprod = c.set_alpha_to_one ? 1.0 : this.alphasCumprod[0]!;
  }

  setTimesteps(numInferenceSteps: number, options?: SetTimestepsOptions): void {
    const c = this.config;
    assertSteps(numInferenceSteps, c.num_train_timesteps);
    checkSetTimestepsOptions(options);
    const T = c.num_train_timesteps;
    const n = numInferenceSteps;
    // Ascending, as diffusers' _timesteps.
    let ts: number[];
    if (c.timestep_spacing === 'linspace') ts = npLinspace(0, T - 1, n).map(roundHalfEven);
    else if (c.timestep_spacing === 'leading') {
      const ratio = Math.floor(T / n);
      ts = Array.from({ length: n }, (_, i) => i * ratio + c.steps_offset);
    } else ts = npArange(T, 0, -T / n).map((t) => roundHalfEven(t) - 1).reverse();
    if (c.skip_prk_steps) {
      this.prkTimesteps = [];
      this.plmsTimesteps = [...ts.slice(0, -1), ...ts.slice(-2, -1), ...ts.slice(-1)].reverse();
    } else {
      if (n < 4) throw new InvalidParameterError('numInferenceSteps', 'at least 4 with skip_prk_steps false (or set skip_prk_steps)', n);
      const half = Math.floor(Math.floor(T / n) / 2);
      const last = ts.slice(-PNDM_ORDER);
      const prk: number[] = [];
      for (const t of last) prk.push(t, t + half);
      // prk[:-1].repeat(2)[1:-1][::-1]
      const rep = prk.slice(0, -1).flatMap((t) => [t, t]);
      this.prkTimesteps = rep.slice(1, -1).reverse();
      this.plmsTimesteps = ts.slice(0, -3).reverse();
    }
    this.timesteps = [...this.prkTimesteps, ...this.plmsTimesteps];
    this.numInferenceSteps = n;
    this.reset();
  }

  scaleModelInput(sample: Tensor, _timestep?: number): Tensor {
    return sample;
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): SchedulerOutput {
    checkStepArgs(modelOutput, timestep, sample, options);
    if (this.numInferenceSteps === null) throw new InvalidParameterError('setTimesteps', 'to be called before step');
    if (this.counter < this.prkTimesteps.length && !this.config.skip_prk_steps) return this.stepPrk(modelOutput, timestep, sample);
    return this.stepPlms(modelOutput, timestep, sample);
  }

  private stepPrk(modelOutput: Tensor, timestep: number, sample: Tensor): SchedulerOutput {
    const ratio = Math.floor(this.config.num_train_timesteps / this.numInferenceSteps!);
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(ratio / 2);
    const prevTimestep = timestep - diffToPrev;
    const t = this.prkTimesteps[Math.floor(this.counter / 4) * 4]!;
    const phase = this.counter % 4;
    const prev = tidy(() => {
      let eps = modelOutput;
      if (phase === 0) {
        this.replaceCurModelOutput(modelOutput.mul(1 / 6));
        this.pushEts(modelOutput);
        this.replaceCurSample(sample);
      } else if (phase === 1 || phase === 2) {
        this.replaceCurModelOutput(this.curModelOutput!.add(modelOutput.mul(1 / 3)));
      } else {
        eps = this.curModelOutput!.add(modelOutput.mul(1 / 6));
        this.replaceCurModelOutput(null);
      }
      return this.prevSample(this.curSample ?? sample, t, prevTimestep, eps);
    });
    this.counter++;
    return { prevSample: prev };
  }

  private stepPlms(modelOutput: Tensor, timestep: number, sample: Tensor): SchedulerOutput {
    if (!this.config.skip_prk_steps && this.ets.length < 3)
      throw new InvalidParameterError('step', 'the 12 Runge-Kutta steps to run before PLMS steps (follow scheduler.timesteps)');
    const ratio = Math.floor(this.config.num_train_timesteps / this.numInferenceSteps!);
    let t = timestep;
    let prevTimestep = t - ratio;
    const prev = tidy(() => {
      if (this.counter !== 1) {
        while (this.ets.length > 3) this.ets.shift()!.dispose();
        this.pushEts(modelOutput);
      } else {
        prevTimestep = t;
        t = t + ratio;
      }
      const e = this.ets;
      const n = e.length;
      let eps: Tensor;
      let x = sample;
      if (n === 1 && this.counter === 0) {
        eps = modelOutput;
        this.replaceCurSample(sample);
      } else if (n === 1 && this.counter === 1) {
        eps = modelOutput.add(e[n - 1]!).div(2);
        x = this.curSample!;
      } else if (n === 2) eps = e[n - 1]!.mul(3).sub(e[n - 2]!).div(2);
      else if (n === 3) eps = e[n - 1]!.mul(23).sub(e[n - 2]!.mul(16)).add(e[n - 3]!.mul(5)).div(12);
      else eps = e[n - 1]!.mul(55).sub(e[n - 2]!.mul(59)).add(e[n - 3]!.mul(37)).sub(e[n - 4]!.mul(9)).mul(1 / 24);
      const out = this.prevSample(x, t, prevTimestep, eps);
      if (n === 1 && this.counter === 1) this.replaceCurSample(null);
      return out;
    });
    this.counter++;
    return { prevSample: prev };
  }

  /** diffusers' _get_prev_sample: formula (9) of the PNDM paper, float32 coefficients. */
  private prevSample(sample: Tensor, timestep: number, prevTimestep: number, modelOutput: Tensor): Tensor {
    const T = this.config.num_train_timesteps;
    const a = this.alphasCumprod[trainIndex(timestep, T)]!;
    const aPrev = prevTimestep >= 0 ? this.alphasCumprod[trainIndex(prevTimestep, T)]! : this.finalAlphaCumprod;
    const b = f32(1 - a);
    const bPrev = f32(1 - aPrev);
    let eps = modelOutput;
    if (this.config.prediction_type === 'v_prediction') eps = modelOutput.mul(sqrt32(a)).add(sample.mul(sqrt32(b)));
    const sampleCoeff = sqrt32(f32(aPrev / a));
    const denom = f32(f32(a * sqrt32(bPrev)) + sqrt32(f32(f32(a * b) * aPrev)));
    return sample.mul(sampleCoeff).sub(eps.mul(f32(aPrev - a)).div(denom));
  }

  private pushEts(modelOutput: Tensor): void {
    this.ets.push(keep(modelOutput.clone()));
  }
  private replaceCurSample(sample: Tensor | null): void {
    this.curSample?.dispose();
    this.curSample = sample ? keep(sample.clone()) : null;
  }
  private replaceCurModelOutput(t: Tensor | null): void {
    this.curModelOutput?.dispose();
    this.curModelOutput = t ? keep(t) : null;
  }

  private reset(): void {
    disposeAll([...this.ets, this.curSample, this.curModelOutput]);
    this.ets = [];
    this.curSample = null;
    this.curModelOutput = null;
    this.counter = 0;
  }

  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[]): Tensor {
    return addNoiseAlphas(this.alphasCumprod, original, noise, timesteps);
  }

  dispose(): void {
    this.reset();
  }
}
