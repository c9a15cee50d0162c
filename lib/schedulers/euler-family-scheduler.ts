/** EulerFamilyScheduler: the base class of the sigma-based (Euler/Karras) schedulers. */
import { Tensor } from '../tensor';
import { assertSteps, assertTensor, checkSetTimestepsOptions } from './sampling-helpers';
import { type BetaConfig, eulerAlphasCumprod, eulerTimesteps, interpIndex, karrasInputScale, sigmasFromAlphasCumprod, trainingTimesteps } from './schedule-tables';
import { type SetTimestepsOptions } from './scheduling-utils';
import { StepIndexScheduler } from './step-index-scheduler';

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
