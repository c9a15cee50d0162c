/**
 * Schedulers by diffusers class name. `createScheduler('DDIMScheduler', config)`
 * takes the contents of a diffusers scheduler_config.json (snake_case keys);
 * `createScheduler(config)` uses the config's own `_class_name`.
 */
import { configClassName } from '../config';
import { InvalidParameterError } from '../errors';
import { isPlainObject } from '../validate';
import { DDIMScheduler } from './ddim';
import { DDPMScheduler } from './ddpm';
import { DPMSolverMultistepScheduler } from './dpm-solver-multistep';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete';
import { EulerDiscreteScheduler } from './euler-discrete';
import { FlowMatchEulerDiscreteScheduler } from './flow-match-euler-discrete';
import { LCMScheduler } from './lcm';
import { PNDMScheduler } from './pndm';
import type { Scheduler } from './scheduling-utils';

export const SCHEDULERS = {
  DDIMScheduler,
  DDPMScheduler,
  PNDMScheduler,
  EulerDiscreteScheduler,
  EulerAncestralDiscreteScheduler,
  DPMSolverMultistepScheduler,
  LCMScheduler,
  FlowMatchEulerDiscreteScheduler,
} as const;

export type SchedulerClassName = keyof typeof SCHEDULERS;
export type AnyScheduler = InstanceType<(typeof SCHEDULERS)[SchedulerClassName]>;

/** The diffusers class names createScheduler knows. */
export const schedulerClassNames = (): SchedulerClassName[] => Object.keys(SCHEDULERS) as SchedulerClassName[];

export function createScheduler<N extends SchedulerClassName>(className: N, config?: unknown): InstanceType<(typeof SCHEDULERS)[N]>;
export function createScheduler(className: string, config?: unknown): Scheduler;
export function createScheduler(config: Record<string, unknown>): Scheduler;
export function createScheduler(classNameOrConfig: unknown, config?: unknown): Scheduler {
  let className = classNameOrConfig;
  if (isPlainObject(classNameOrConfig) && config === undefined) {
    config = classNameOrConfig;
    className = configClassName(classNameOrConfig);
    if (className === undefined)
      throw new InvalidParameterError('config._class_name', `a scheduler class name (one of ${schedulerClassNames().join(', ')})`, classNameOrConfig._class_name);
  }
  if (typeof className !== 'string' || !Object.prototype.hasOwnProperty.call(SCHEDULERS, className))
    throw new InvalidParameterError('className', `one of ${schedulerClassNames().join(', ')}`, className);
  const Ctor = SCHEDULERS[className as SchedulerClassName];
  return new Ctor(config === undefined ? {} : config);
}

export { DDIMScheduler, DDPMScheduler, PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler, LCMScheduler, FlowMatchEulerDiscreteScheduler };
export type { Scheduler, SchedulerOutput, StepOptions, SetTimestepsOptions } from './scheduling-utils';
export type { DDIMSchedulerConfig } from './ddim';
export type { DDPMSchedulerConfig } from './ddpm';
export type { PNDMSchedulerConfig } from './pndm';
export type { EulerDiscreteSchedulerConfig } from './euler-discrete';
export type { EulerAncestralDiscreteSchedulerConfig } from './euler-ancestral-discrete';
export type { DPMSolverMultistepSchedulerConfig } from './dpm-solver-multistep';
export type { LCMSchedulerConfig, LCMSetTimestepsOptions } from './lcm';
export type { FlowMatchEulerDiscreteSchedulerConfig, FlowMatchSetTimestepsOptions } from './flow-match-euler-discrete';
