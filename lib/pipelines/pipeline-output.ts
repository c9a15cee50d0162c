/** What AnimateDiffPipeline returns, and the error a failed decode throws. */
import type { Tensor } from '../tensor';

export type OutputType = 'uint8' | 'float' | 'latents';

/** Decoded frames, channels last. */
export interface VideoFrames<T extends Uint8Array | Float32Array = Uint8Array> {
  /** [F, H, W, 3]: uint8 0..255 (rounded, as diffusers' PIL output) or float32 0..1 (diffusers 'np'). */
  frames: T;
  shape: [number, number, number, 3];
  /** Playback rate (AnimateDiff renders at 8). */
  fps: number;
}

/** One generated video. `seed` is the seed its noise came from (absent with a user generator or latents). */
export type AnimateDiffPipelineOutput<T extends Uint8Array | Float32Array = Uint8Array> = VideoFrames<T> & { seed?: bigint };

/** outputType 'latents': the denoised latents [1, 4, F, h, w] (raw, not divided by the scaling factor); dispose when done. */
export interface AnimateDiffLatentsOutput {
  latents: Tensor;
  shape: number[];
  seed?: bigint;
}

/**
 * The VAE failed after sampling succeeded. The denoised latents are not lost:
 * `latents` holds them (the caller owns and must dispose them); retry with
 * `pipeline.decodeLatents(error.latents, { vaeTiling: true, decodeChunkSize: 1 })`.
 */
export class VaeDecodeError extends Error {
  constructor(
    readonly latents: Tensor,
    options: { cause?: unknown },
  ) {
    super(
      `VAE decode failed after sampling; the denoised latents are kept in error.latents ` +
        `(shape [${latents.shape.join(', ')}]): retry with pipeline.decodeLatents(error.latents, ...) ` +
        `using vaeTiling or a smaller decodeChunkSize. Cause: ${(options.cause as Error)?.message ?? String(options.cause)}`,
      options,
    );
    this.name = 'VaeDecodeError';
  }
}
