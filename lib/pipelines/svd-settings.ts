/** The SVD parts of model.yaml (family: svd) beyond the common manifest: the image encoder and the UNet's frame count. */
import path from 'node:path';
import { MANIFEST_FILE, type ModelManifest, ModelManifestError } from '../model-manifest';
import { SVD_DEFAULTS } from './svd-inputs';

export interface SvdSettings {
  /** The CLIP image encoder's TorchScript file (absolute). */
  imageEncoderFile: string;
  /** The VAE encoder's file (absolute). */
  vaeEncoderFile: string;
  /** CLIP input size (224). */
  imageSize: number;
  /** Image embedding width (1024 for SVD). */
  projectionDim: number;
  imageMean: number[];
  imageStd: number[];
  /** The UNet's training frame count: the default numFrames (14 SVD, 25 SVD-XT). */
  numFrames: number;
  defaultFps: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function readSvdSettings(m: ModelManifest): SvdSettings {
  const where = path.join(m.dir, MANIFEST_FILE);
  const fail = (key: string, msg: string): never => {
    throw new ModelManifestError(where, key, msg);
  };
  if (m.family !== 'svd') fail('family', `'${m.family}' is not a Stable Video Diffusion model (family: svd)`);
  const enc = isObj(m.raw.image_encoder) ? m.raw.image_encoder : fail('image_encoder', 'missing (expected a mapping: file, image_size, projection_dim, image_mean, image_std)');
  const unet = m.raw.unet as Obj;
  const int = (o: Obj, key: string, prefix: string): number => {
    const v = o[key];
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : fail(prefix + key, `expected a positive integer, got ${JSON.stringify(v)}`);
  };
  const triple = (key: string): number[] => {
    const v = enc[key];
    return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : fail(`image_encoder.${key}`, 'expected 3 numbers');
  };
  const file = typeof enc.file === 'string' && enc.file ? path.resolve(m.dir, enc.file) : fail('image_encoder.file', 'missing (expected a path)');
  return {
    imageEncoderFile: file,
    vaeEncoderFile: m.vae.encoderFile ?? fail('vae.encoder_file', 'missing: SVD encodes the conditioning image with the VAE encoder'),
    imageSize: int(enc, 'image_size', 'image_encoder.'),
    projectionDim: int(enc, 'projection_dim', 'image_encoder.'),
    imageMean: triple('image_mean'),
    imageStd: triple('image_std'),
    numFrames: int(unet, 'num_frames', 'unet.'),
    defaultFps: SVD_DEFAULTS.fps,
  };
}
