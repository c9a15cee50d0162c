/** animatorch: text-to-video diffusion for Node.js on libtorch. Public exports only. */
export { AbortError, InvalidParameterError, NativeLoadError } from './errors';
export {
  Tensor,
  DTYPES,
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  fullLike,
  arange,
  linspace,
  randn,
  rand,
  cat,
  stack,
  where,
  tidy,
  keep,
} from './tensor';
export type { DType, Device, TensorOptions, RandomOptions, TypedArray, Scalar, TensorOrScalar } from './tensor';
export { Generator, createGenerator, parseSeed } from './generator';
export type { Seed } from './generator';
export { Module, loadModule } from './torchscript-module';
export type { LoadModuleOptions, ModuleInput, ModuleOutput, ParameterInfo } from './torchscript-module';
export { cuda, memoryStats, setNumThreads, getNumThreads, versions } from './device';
export type { MemoryStats } from './device';
export { CLIPTokenizer, loadClipTokenizer } from './tokenizers/clip';
export {
  createScheduler,
  schedulerClassNames,
  SCHEDULERS,
  DDIMScheduler,
  DDPMScheduler,
  PNDMScheduler,
  EulerDiscreteScheduler,
  EulerAncestralDiscreteScheduler,
  DPMSolverMultistepScheduler,
  LCMScheduler,
  FlowMatchEulerDiscreteScheduler,
} from './schedulers';
export type {
  Scheduler,
  SchedulerOutput,
  StepOptions,
  SetTimestepsOptions,
  SchedulerClassName,
  AnyScheduler,
  DDIMSchedulerConfig,
  DDPMSchedulerConfig,
  PNDMSchedulerConfig,
  EulerDiscreteSchedulerConfig,
  EulerAncestralDiscreteSchedulerConfig,
  DPMSolverMultistepSchedulerConfig,
  LCMSchedulerConfig,
  LCMSetTimestepsOptions,
  FlowMatchEulerDiscreteSchedulerConfig,
  FlowMatchSetTimestepsOptions,
} from './schedulers';
