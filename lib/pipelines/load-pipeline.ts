/** loadPipeline(): an exported model folder (model.yaml + TorchScript files) -> a pipeline. */
import path from 'node:path';
import { assertDtypeSupported } from '../device';
import { InvalidParameterError, throwIfAborted } from '../errors';
import { checkModelFiles, MANIFEST_FILE, ModelManifestError, readModelManifest } from '../model-manifest';
import { assertDevice, assertDtype, type Device, type DType } from '../tensor';
import { loadClipTokenizer } from '../tokenizers/clip';
import { assertKnownKeys } from '../suggest';
import { isPlainObject } from '../validate';
import { loadModule, type Module } from '../torchscript-module';
import { AnimateDiffPipeline } from './animatediff';
import type { StableVideoDiffusionPipeline } from './stable-video-diffusion';
import { loadSvdPipeline } from './svd-load';

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
  assertKnownKeys('loadPipeline()', options, ['device', 'dtype', 'signal', 'verify', 'family'] satisfies (keyof LoadPipelineOptions)[]);
  if (options.family !== undefined && options.family !== 'animatediff' && options.family !== 'svd')
    throw new InvalidParameterError('family', "'animatediff' or 'svd'", options.family);
  const device = options.device ?? 'cpu';
  assertDevice('device', device);
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.verify !== undefined && typeof options.verify !== 'boolean') throw new InvalidParameterError('verify', 'a boolean', options.verify);
  throwIfAborted(options.signal);
  const manifest = await readModelManifest(modelDir);
  const family = manifest.family === 'svd' ? 'svd' : 'animatediff';
  if (options.family !== undefined && options.family !== family)
    throw new InvalidParameterError('family', `'${options.family}', but ${path.join(manifest.dir, MANIFEST_FILE)} is family '${manifest.family}'`, options.family);
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
  const load = (file: string) => loadModule(file, { device, dtype: options.dtype, signal: options.signal });
  const settled = await Promise.allSettled(modules.map(load));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of settled) if (r.status === 'fulfilled') r.value?.dispose();
    throw failed.reason;
  }
  const [unet, vae, textEncoder] = settled.map((r) => (r as PromiseFulfilledResult<Module | undefined>).value);
  const tokenizer = textEncoder ? await loadClipTokenizer() : undefined;
  return new AnimateDiffPipeline({ manifest, unet: unet!, vae: vae!, textEncoder, tokenizer, device, dtype });
}
