/** loadPipeline(): an exported model folder (model.yaml + TorchScript files) -> a pipeline. */
import path from 'node:path';
import { assertDtypeSupported } from '../device';
import { InvalidParameterError, throwIfAborted } from '../errors';
import { checkModelFiles, MANIFEST_FILE, ModelManifestError, readModelManifest } from '../model-manifest';
import { assertDevice, assertDtype, type Device, type DType } from '../tensor';
import { loadClipTokenizer } from '../tokenizers/clip';
import { assertKnownKeys } from '../suggest';
import { isPlainObject } from '../validate';
import { loadModule } from '../torchscript-module';
import { AnimateDiffPipeline } from './animatediff';
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
   * How long the models stay in memory. 'all' (default): loaded here, held until dispose(), for
   * repeated renders. 'stage': each loaded when its stage starts and freed when it ends (the text
   * encoder while encoding, the UNet while denoising, the VAE while decoding): a render then peaks at
   * the UNet's weights plus its activations, at the cost of loading each model again per render.
   */
  keepModules?: KeepModules;
}

/**
 * Loads an exported model folder (model.yaml + TorchScript files) onto `device`.
 * Folders exported with --no-text-encoder load too; pass promptEmbeds to them.
 */
export async function loadPipeline(modelDir: string, options: LoadPipelineOptions = {}): Promise<AnimateDiffPipeline> {
  if (!isPlainObject(options as unknown)) throw new InvalidParameterError('options', 'an options object', options);
  assertKnownKeys('loadPipeline()', options, ['device', 'dtype', 'signal', 'verify', 'keepModules'] satisfies (keyof LoadPipelineOptions)[]);
  const device = options.device ?? 'cpu';
  assertDevice('device', device);
  if (options.dtype !== undefined) assertDtype('dtype', options.dtype);
  if (options.verify !== undefined && typeof options.verify !== 'boolean') throw new InvalidParameterError('verify', 'a boolean', options.verify);
  const keep = options.keepModules ?? 'all';
  if (!(KEEP_MODULES as readonly unknown[]).includes(keep)) throw new InvalidParameterError('keepModules', "'all' or 'stage'", keep);
  throwIfAborted(options.signal);
  const manifest = await readModelManifest(modelDir);
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
  const load = async (file: string) => (keep === 'all' ? loadModule(file, { device, dtype: options.dtype, signal: options.signal }) : undefined);
  // One at a time: each load briefly holds buffers of its own, and peaks should not add up.
  const loaded: StageModule[] = [];
  try {
    for (const file of modules) loaded.push(new StageModule(file, stageOptions, await load(file)));
  } catch (err) {
    for (const m of loaded) m.dispose();
    throw err;
  }
  const [unet, vae, textEncoder] = loaded;
  const tokenizer = textEncoder ? await loadClipTokenizer() : undefined;
  return new AnimateDiffPipeline({ manifest, unet: unet!, vae: vae!, textEncoder, tokenizer, device, dtype });
}
