/**
 * Cheap previews without the VAE: SD1.5 latents projected linearly to RGB
 * (per-channel factors fitted to the SD1.5 VAE, the widely used table from
 * ComfyUI's latent formats), one pixel per latent pixel.
 */
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';
import { tensor } from '../tensor-factories';

/** Rows: latent channels 0..3; columns: R, G, B. */
export const SD15_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [0.3512, 0.2297, 0.3227],
  [0.325, 0.4974, 0.235],
  [-0.2829, 0.1762, 0.2721],
  [-0.212, -0.2616, -0.7177],
];

export interface LatentPreviewOptions {
  /** 4 x 3 projection; default SD1.5's. */
  factors?: readonly (readonly number[])[];
}

/**
 * Latents [B, 4, F, h, w] (or [4, F, h, w]; raw, i.e. as sampled, not divided by
 * the scaling factor) -> uint8 RGB frames [B·F, h, w, 3] on the same device.
 */
export function latentsToPreviewFrames(latents: Tensor, options: LatentPreviewOptions = {}): Tensor {
  const factors = options.factors ?? SD15_LATENT_RGB_FACTORS;
  const video = latents.ndim === 4 ? latents.unsqueeze(0) : latents;
  const c = video.shape[1];
  if (video.ndim !== 5 || factors.length !== c || !factors.every((r) => r.length === 3))
    throw new InvalidParameterError('latents', `[B, ${factors.length}, F, h, w] latents matching a ${factors.length} x 3 factor table`, latents.shape);
  const out = tidy(() => {
    const m = tensor(factors.flat(), [c!, 3], { device: video.device });
    // [B, C, F, h, w] -> [B, F, h, w, C] @ [C, 3] -> [B·F, h, w, 3]
    const rgb = video.astype('float32').permute([0, 2, 3, 4, 1]).matmul(m);
    return rgb.add(1).div(2).clamp(0, 1).mul(255).round().astype('uint8').flatten(0, 1).contiguous();
  });
  if (video !== latents) video.dispose();
  return out;
}

/** The same, copied to the host, with its shape. */
export async function latentPreview(latents: Tensor, options: LatentPreviewOptions = {}): Promise<{ frames: Uint8Array; shape: [number, number, number, 3] }> {
  const t = latentsToPreviewFrames(latents, options);
  try {
    const [n, h, w] = t.shape as [number, number, number];
    return { frames: (await t.toArray()) as Uint8Array, shape: [n, h, w, 3] };
  } finally {
    t.dispose();
  }
}
