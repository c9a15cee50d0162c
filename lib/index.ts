/** animatorch: text-to-video diffusion for Node.js on libtorch. Public exports only. */
export { AbortError, DisposedError, InvalidParameterError, NativeLoadError } from './errors';
export { Tensor, DTYPES, tidy, keep } from './tensor';
export type { DType, Device, TensorOptions, TypedArray, Scalar, TensorOrScalar } from './tensor';
export { tensor, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, randn, rand, cat, stack, where } from './tensor-factories';
export type { RandomOptions } from './tensor-factories';
export { Generator, createGenerator, parseSeed, randomSeed } from './generator';
export type { Seed } from './generator';
export { Module, loadModule } from './torchscript-module';
export type { LoadModuleOptions, ModuleInput, ModuleOutput, ParameterInfo } from './torchscript-module';
export { cuda, memoryStats, setNumThreads, getNumThreads, getBlasNumThreads, versions, releaseHostMemory, setHostMmapThreshold, setHostMemoryReuse } from './device';
export { setHostCache, hostCacheStats, releaseHostCache, type HostCacheOptions, type HostCacheStats } from './host-cache';
export type { MemoryStats } from './device';
export { blasLibrary, findBlasLibrary } from './blas-library';
export type { BlasLibrary, BlasThreading } from './blas-library';
export { addonInfo } from './native/binding';
export type { AddonChoice, PrebuildMeta } from './native/prebuilds';
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
export { AnimateDiffPipeline } from './pipelines/animatediff';
export type { AnimateDiffComponents } from './pipelines/animatediff';
export { DEFAULT_FPS, GENERATE_DEFAULTS } from './pipelines/animatediff-inputs';
export type { GenerateOptions, DecodeLatentsOptions, EncodePromptOptions, SchedulerChoice } from './pipelines/animatediff-inputs';
export { loadPipeline, loadAnyPipeline } from './pipelines/load-pipeline';
export type { LoadPipelineOptions, Pipeline } from './pipelines/load-pipeline';
export { StableVideoDiffusionPipeline } from './pipelines/stable-video-diffusion';
export type { SvdComponents } from './pipelines/stable-video-diffusion';
export { SVD_DEFAULTS } from './pipelines/svd-inputs';
export type { SvdGenerateOptions } from './pipelines/svd-inputs';
export { resizeWithAntialiasing } from './pipelines/svd-image';
export type { ImageInput } from './pipelines/svd-image';
export { StageModule, type KeepModules } from './pipelines/stage-module';
export { VaeDecodeError } from './pipelines/pipeline-output';
export { estimateRenderMemory, readArchitecture, availableMemory, MemoryLimitError } from './pipelines/memory-estimate';
export type { MemoryEstimate, ModelArchitecture } from './pipelines/memory-estimate';
export { estimateSvdRenderMemory, readSvdArchitecture } from './pipelines/svd-memory-estimate';
export type { SvdArchitecture, SvdMemoryInputs } from './pipelines/svd-memory-estimate';
export type { AnimateDiffPipelineOutput, AnimateDiffLatentsOutput, VideoFrames, OutputType } from './pipelines/pipeline-output';
export type { ProgressEvent, DenoiseProgress, DecodeProgress, ProgressCallback, LatentPreview } from './pipelines/progress';
export { contextWindows, contextWeights, ContextFuser, CONTEXT_SCHEDULES, FUSE_METHODS } from './pipelines/context-windows';
export type { ContextSchedule, FuseMethod, ContextWindowOptions } from './pipelines/context-windows';
export { interpolateEmbeddings, frameEmbeddings, parsePromptMap } from './pipelines/prompt-travel';
export type { PromptMap, Keyframe } from './pipelines/prompt-travel';
export { ControlNet, loadControlNet, readControlNetManifest } from './pipelines/controlnet-model';
export type { ControlNetManifest, LoadControlNetOptions } from './pipelines/controlnet-model';
export type { ControlNetOptions } from './pipelines/controlnet';
export { cannyFrames, thresholdFrames } from './video/control-preprocess';
export type { CannyOptions, ThresholdOptions } from './video/control-preprocess';
export { checkModelFiles, readModelManifest, ModelManifestError } from './model-manifest';
export type { CheckModelFilesOptions, ModelManifest, SchedulerConfig } from './model-manifest';
export { tiledDecode, planTiles } from './video/vae-tiling';
export type { VaeTilingOptions } from './video/vae-tiling';
export { latentPreview } from './video/latent-preview';
export { findTorchPython } from './python';
export { readInitVideo, readInitImage } from './video/read-frames';
export type { ReadVideo, ReadImage, ReadFramesOptions } from './video/read-frames';
export type { VideoInput } from './pipelines/video-to-video';
export { writeVideo, writeGrid, composeGrid, videoFormatFor, checkOutputPath } from './video/writers';
export type { WriteVideoOptions, GridOptions, GridVideo, VideoFormat } from './video/writers';
export { createRecipe, readRecipe, writeRecipeSidecar, RecipeError, RECIPE_METADATA_KEY } from './render/recipe';
export type { Recipe } from './render/recipe';
export { readPromptConfig, parsePromptConfig, PromptConfigError } from './render/prompt-config';
export type { RenderJob } from './render/prompt-config';
export { inspectPath } from './checkpoints/inspect';
export type { InspectResult } from './checkpoints/inspect';
export { render } from './render/render';
export type { RenderArgs, RenderedVideo } from './render/render';
export { createRenderQueue, RenderQueue, isCancelledReason } from './farm/queue';
export type { RenderQueueOptions, SubmitOptions, CancelOutcome, RenderQueueEvents } from './farm/queue';
export { runRenderWorker, RenderWorker } from './farm/worker';
export type { RenderWorkerOptions } from './farm/worker';
export type { RenderJobData, RenderRequest, RenderResult, RenderProgress } from './farm/render-job';
export { modelYamlHash } from './farm/models';
export type { FarmConnection } from './farm/connection';
