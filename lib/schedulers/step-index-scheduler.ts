/** StepIndexScheduler: the base class of the schedulers that step by position in their schedule. */
import { InvalidParameterError } from '../errors';
import { Tensor, tidy } from '../tensor';
import { assertTensor, batchCoefficient, requireTimestepIndex, timestepList } from './sampling-helpers';
import { f32 } from './scheduling-utils';

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
