/** loadPipeline(): an exported model folder (model.yaml + TorchScript files) -> a pipeline. */
import path from 'node:path';
import { assertDtypeSupported } from '../device';
import { useDefaultHostCache } from '../host-cache';
import { InvalidParameterError, throwIfAborted } from '../errors';
import { checkModelFiles, MANIFEST_FILE, ModelManifestError, readModelManifest } from '../model-manifest';
import { assertDevice, assertDtype, type Device, type DType } from '../tensor';
import { loadClipTokenizer } from '../tokenizers/clip';
import { assertKnownKeys } from '../suggest';
import { isPlainObject } from '../validate';
import { AnimateDiffPipeline } from './animatediff';
import type { StableVideoDiffusionPipeline } from './stable-video-diffusion';
import { loadSvdPipeline } from './svd-load';
import { KEEP_MODULES, type KeepModules, StageModule } from './stage-module';

export interface LoadPipelineOptions {
  /** Where the models run. Default 'cpu'. */
  device?: Device;
  /** Weights dtype (e.g. 'float16' on CUDA). Default: as exported (model.yaml `dtype`). */
  dtype?: DType;
  /** Rejects with an AbortError if aborted before loading finishes. */
  signal?: AbortSignal;
  /**
   * Hash the module files (UNet, VAE decoder, text encoder) and compare with model.yaml's sha256 before
   * loading (reads every byte once more: seconds for a full-size model). Their sizes are always checked.
   * Default false.
   */
  verify?: boolean;
  /**
   * The family the folder must be ('animatediff' or 'svd'; model.yaml `family`): a folder of another family is
   * an error. It also gives the result its static type. Without it the pipeline still matches the folder.
   */
  family?: 'animatediff' | 'svd';
  /**
   * How long the models stay in memory. 'all' (default): loaded here, held until dispose(), for
   * repeated renders. 'stage': each loaded when its stage starts and freed when it ends (the text
   * encoder while encoding, the UNet while denoising, the VAE while decoding): a render then peaks at
   * the UNet's weights plus its activations, at the cost of loading each model again per render.
   */
  keepModules?: KeepModules;
}

/** What loadPipeline() returns for a folder of either family. */
export type Pipeline = AnimateDiffPipeline | StableVideoDiffusionPipeline;

/**
 * Loads an exported model folder (model.yaml + TorchScript files) onto `device`: a StableVideoDiffusionPipeline
 * for `family: svd`, else an AnimateDiffPipeline. Folders exported with --no-text-encoder load too; pass
 * promptEmbeds to them. Without `family` the static type is AnimateDiffPipeline (as before SVD existed):
 * pass `{ family: 'svd' }` for SVD folders, or use loadAnyPipeline() and narrow with instanceof.
 */
export async function loadPipeline(modelDir: string, options: LoadPipelineOptions & { family: 'svd' }): Promise<StableVideoDiffusionPipeline>;
export async function loadPipeline(modelDir: string, options?: LoadPipelineOptions): Promise<AnimateDiffPipeline>;
export async function loadPipeline(modelDir: string, options: LoadPipelineOptions = {}): Promise<Pipeline> {
  return loadAnyPipeline(modelDir, options);
}

/** loadPipeline() typed as either family. */
export async function loadAnyPipeline(modelDir: string, options: LoadPipelineOptions = {}): Promise<Pipeline> {
  if (!isPlainObject(options as unknown)) throw new InvalidParameterError('options', 'an options object', options);
  assertKnownKeys('loadPipeline()', options, ['device', 'dtype', 'signal', 'verify', 'family', 'keepModules'] satisfies (keyof LoadPipelineOptions)[]);
  if (options.family !== undefined && options.family !== 'animatediff' && options.family !== 'svd')
    throw new InvalidParameterError('family', "'animatediff' or 'svd'", options.family);
  const device = options.device ?? 'cpu';
  assertDevice('device', device);
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.verify !== undefined && typeof options.verify !== 'boolean') throw new InvalidParameterError('verify', 'a boolean', options.verify);
  const keep = options.keepModules ?? 'all';
  if (!(KEEP_MODULES as readonly unknown[]).includes(keep)) throw new InvalidParameterError('keepModules', "'all' or 'stage'", keep);
  throwIfAborted(options.signal);
  // int8 weights too: each layer's dequantized weights are cut out of the last layer's (a one-shot int8
  // render here peaked at 1,963 MiB with the cache against 2,241-2,293 without, its steps ~30% faster).
  if (device === 'cpu') useDefaultHostCache();
  const manifest = await readModelManifest(modelDir);
  const family = manifest.family === 'svd' ? 'svd' : 'animatediff';
  if (options.family !== undefined && options.family !== family)
    throw new InvalidParameterError('family', `'${options.family}', but ${path.join(manifest.dir, MANIFEST_FILE)} is family '${manifest.family}'`, options.family);
  if (family === 'svd' && keep !== 'all') throw new InvalidParameterError('keepModules', "'all' with a Stable Video Diffusion model (its stages are not loaded one at a time yet)", keep);
  if (family === 'svd') return loadSvdPipeline(manifest, { device, dtype: options.dtype, signal: options.signal, verify: options.verify });
  const modules = [manifest.unet.file, manifest.vae.file, ...(manifest.textEncoder ? [manifest.textEncoder.file] : [])];
  const problems = await checkModelFiles(manifest, { files: modules, sha256: options.verify === true, signal: options.signal });
  if (problems.length)
    throw new ModelManifestError(
      path.join(manifest.dir, MANIFEST_FILE),
      'files',
      `the folder does not match it; re-copy or re-export the model:\n  ${problems.join('\n  ')}`,
    );
  const dtype = options.dtype ?? (manifest.dtype as DType);
  assertDtypeSupported(device, dtype);
  // On CPU TorchScript's optimising executor finds nothing to fuse in these graphs, yet spends the
  // first two calls profiling them (full-size UNet: steps 1-2 took 1.5-2x a later one): run them as scripted.
  const stageOptions = { device, dtype: options.dtype, keep, ...(device === 'cpu' && { graphOptimization: false }) };
  // The UNet's weights are allocated outside the host cache, and go back to the OS when freed: else they
  // would take the text encoder's freed memory, which is there for step 1 (int8 weights, 1.2 GiB, took all
  // of it, and step 1 mapped ~425 MiB afresh: 1.14-1.18x the later steps), and be kept through the decode
  // (1,458 MiB free there). The text encoder's and the VAE's go through it, freed into the next stage's.
  // Under 'all' each is loaded here, one at a time: each load briefly holds buffers of its own, and peaks
  // should not add up.
  const loaded: StageModule[] = [];
  try {
    for (const file of modules) {
      const stage = new StageModule(file, { ...stageOptions, hostCache: file !== manifest.unet.file });
      loaded.push(stage);
      if (keep === 'all') await stage.load(options.signal);
    }
  } catch (err) {
    for (const m of loaded) m.dispose();
    throw err;
  }
  const [unet, vae, textEncoder] = loaded;
  const tokenizer = textEncoder ? await loadClipTokenizer() : undefined;
  return new AnimateDiffPipeline({ manifest, unet: unet!, vae: vae!, textEncoder, tokenizer, device, dtype });
}
