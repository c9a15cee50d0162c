/**
 * Image-to-video, as stable-diffusion.cpp's AnimateDiff `--init-img`: the still is repeated over the
 * frames and then goes exactly the video-to-video way (VAE posterior sampled, noised to the first of the
 * timesteps `strength` keeps). `anchorFirstFrame` additionally keeps frame 0 on the image: after every
 * scheduler step its latent is replaced by the image latent re-noised (scheduler.addNoise, the same noise
 * as at the start) to the next timestep, and by the clean image latent after the last step. This is the
 * first-frame replacement of HunyuanVideo's i2v `token_replace`, in the form diffusers' SD inpainting uses
 * for a UNet that takes one timestep for all frames.
 */
import { InvalidParameterError } from '../errors';
import type { Scheduler } from '../schedulers/scheduling-utils';
import { Tensor, tidy } from '../tensor';
import { cat } from '../tensor-factories';
import type { VideoInput } from './video-to-video';
import { type ImageInput, imageShape } from './image-input';

export type { ImageInput };

/** image / anchorFirstFrame checked against video and the resolved size: the image's [H, W] and the anchoring flag. */
export function checkImageToVideo(
  o: { image?: unknown; video?: unknown; anchorFirstFrame?: unknown },
  size?: { width: number; height: number },
): { shape: [number, number]; anchorFirstFrame: boolean } | undefined {
  if (o.image === undefined) {
    if (o.anchorFirstFrame !== undefined) throw new InvalidParameterError('anchorFirstFrame', 'to be given with image (image-to-video)', o.anchorFirstFrame);
    return undefined;
  }
  if (o.video !== undefined) throw new InvalidParameterError('image', 'to be left out when video is given (one init medium)', 'an image');
  const shape = imageShape(o.image);
  if (size && (shape[0] !== size.height || shape[1] !== size.width))
    throw new InvalidParameterError('image', `pixels of ${size.width}x${size.height} (width x height)`, `${shape[1]}x${shape[0]}`);
  const anchorFirstFrame = o.anchorFirstFrame ?? false;
  if (typeof anchorFirstFrame !== 'boolean') throw new InvalidParameterError('anchorFirstFrame', 'a boolean', anchorFirstFrame);
  return { shape, anchorFirstFrame };
}

/** The still repeated `numFrames` times: the init video of image-to-video. A new Tensor for a Tensor image. */
export function repeatImage(image: ImageInput, numFrames: number): VideoInput {
  if (image instanceof Tensor) return image.unsqueeze(0).repeat([numFrames, 1, 1, 1]);
  const n = image.data.length;
  const frames = image.data instanceof Uint8Array ? new Uint8Array(n * numFrames) : new Float32Array(n * numFrames);
  for (let f = 0; f < numFrames; f++) frames.set(image.data, f * n);
  return { frames, shape: [numFrames, ...image.shape] };
}

/**
 * Keeps frame 0 of latents [1, C, F, h, w] on the image: holds the image's encoded latent and the noise it
 * was first noised with (both [1, C, 1, h, w], frame 0 of the video-to-video encoding). Owns them.
 */
export class FirstFrameAnchor {
  private constructor(
    readonly imageLatent: Tensor,
    readonly noise: Tensor,
  ) {}

  /** From video-to-video's init latents and noise, both [1, F, C, h, w] (diffusers' layout). Not consumed. */
  static fromEncoding(init: Tensor, noise: Tensor): FirstFrameAnchor {
    const first = (t: Tensor) => tidy(() => t.narrow(1, 0, 1).permute([0, 2, 1, 3, 4]).contiguous());
    const latent = first(init);
    try {
      return new FirstFrameAnchor(latent, first(noise));
    } catch (err) {
      latent.dispose();
      throw err;
    }
  }

  /** The image latent noised to `timestep` with the initial noise; the clean latent when `timestep` is undefined. */
  firstFrame(scheduler: Scheduler, timestep: number | undefined): Tensor {
    return timestep === undefined ? this.imageLatent.clone() : tidy(() => scheduler.addNoise(this.imageLatent, this.noise, timestep).astype('float32'));
  }

  /** After step i of `timesteps`: the latents with frame 0 replaced (at timesteps[i + 1], or clean after the last). New tensor. */
  afterStep(latents: Tensor, scheduler: Scheduler, timesteps: readonly number[], i: number): Tensor {
    const f = latents.shape[2]!;
    const first = this.firstFrame(scheduler, timesteps[i + 1]);
    try {
      return tidy(() => {
        const x = first.astype(latents.dtype);
        return f === 1 ? x : cat([x, latents.narrow(2, 1, f - 1)], 2);
      });
    } finally {
      first.dispose();
    }
  }

  dispose(): void {
    this.imageLatent.dispose();
    this.noise.dispose();
  }
}
