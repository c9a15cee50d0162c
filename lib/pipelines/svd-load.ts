/** Loads the modules of an exported Stable Video Diffusion folder (model.yaml `family: svd`). */
import path from 'node:path';
import { assertDtypeSupported } from '../device';
import { checkModelFiles, MANIFEST_FILE, type ModelManifest, ModelManifestError } from '../model-manifest';
import type { Device, DType } from '../tensor';
import { loadModule, type Module } from '../torchscript-module';
import { StableVideoDiffusionPipeline } from './stable-video-diffusion';
import { readSvdSettings } from './svd-settings';

export async function loadSvdPipeline(
  manifest: ModelManifest,
  options: { device: Device; dtype?: DType; signal?: AbortSignal; verify?: boolean },
): Promise<StableVideoDiffusionPipeline> {
  const settings = readSvdSettings(manifest);
  const modules = [manifest.unet.file, manifest.vae.file, settings.vaeEncoderFile, settings.imageEncoderFile];
  const problems = await checkModelFiles(manifest, { files: modules, sha256: options.verify === true, signal: options.signal });
  if (problems.length)
    throw new ModelManifestError(path.join(manifest.dir, MANIFEST_FILE), 'files', `the folder does not match it; re-copy or re-export the model:\n  ${problems.join('\n  ')}`);
  const dtype = options.dtype ?? (manifest.dtype as DType);
  assertDtypeSupported(options.device, dtype);
  const settled = await Promise.allSettled(modules.map((file) => loadModule(file, { device: options.device, dtype: options.dtype, signal: options.signal })));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of settled) if (r.status === 'fulfilled') r.value.dispose();
    throw failed.reason;
  }
  const [unet, vae, vaeEncoder, imageEncoder] = settled.map((r) => (r as PromiseFulfilledResult<Module>).value) as [Module, Module, Module, Module];
  return new StableVideoDiffusionPipeline({ manifest, unet, vae, vaeEncoder, imageEncoder, device: options.device, dtype });
}
