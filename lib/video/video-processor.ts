/**
 * Decoded VAE output -> frames, as diffusers' VideoProcessor.postprocess_video:
 * [-1, 1] -> (x / 2 + 0.5).clamp(0, 1), channels last. 'uint8' then rounds
 * x * 255 (PIL output in diffusers; original AnimateDiff's GIF writer truncates,
 * so pixels may differ from it by 1); 'float' keeps 0..1 (diffusers 'np').
 */
import { InvalidParameterError } from '../errors';
import { type Tensor, tidy } from '../tensor';

export type FrameType = 'uint8' | 'float';

/** [N, 3, H, W] in [-1, 1] -> [N, H, W, 3] uint8 (rounded) or float32 in [0, 1], same device. */
export function imagesToFrames(images: Tensor, type: FrameType = 'uint8'): Tensor {
  if (images.ndim !== 4 || images.shape[1] !== 3) throw new InvalidParameterError('images', 'a [N, 3, H, W] tensor', images.shape);
  return tidy(() => {
    const x = images.astype('float32').div(2).add(0.5).clamp(0, 1).permute([0, 2, 3, 1]);
    return type === 'uint8' ? x.mul(255).round().astype('uint8').contiguous() : x.contiguous();
  });
}

/** Same as imagesToFrames, copied to the host. */
export async function imagesToFrameData(images: Tensor, type: 'uint8'): Promise<Uint8Array>;
export async function imagesToFrameData(images: Tensor, type: 'float'): Promise<Float32Array>;
export async function imagesToFrameData(images: Tensor, type: FrameType): Promise<Uint8Array | Float32Array>;
export async function imagesToFrameData(images: Tensor, type: FrameType = 'uint8'): Promise<Uint8Array | Float32Array> {
  const frames = imagesToFrames(images, type);
  try {
    return (await frames.toArray()) as Uint8Array | Float32Array;
  } finally {
    frames.dispose();
  }
}

/** A video being filled chunk by chunk on the host: [F, H, W, 3]. */
export class FrameBuffer {
  readonly data: Uint8Array | Float32Array;
  private filled = 0;

  constructor(
    readonly numFrames: number,
    readonly height: number,
    readonly width: number,
    readonly type: FrameType,
  ) {
    const n = numFrames * height * width * 3;
    this.data = type === 'uint8' ? new Uint8Array(n) : new Float32Array(n);
  }

  get shape(): [number, number, number, 3] {
    return [this.numFrames, this.height, this.width, 3];
  }

  get frameCount(): number {
    return this.filled;
  }

  /** Appends decoded images [n, 3, H, W] in [-1, 1]. */
  async append(images: Tensor): Promise<void> {
    const [n, , h, w] = images.shape as [number, number, number, number];
    if (h !== this.height || w !== this.width) throw new InvalidParameterError('images', `[n, 3, ${this.height}, ${this.width}]`, images.shape);
    if (this.filled + n > this.numFrames) throw new InvalidParameterError('images', `at most ${this.numFrames - this.filled} more frames`, n);
    const data = await imagesToFrameData(images, this.type);
    this.data.set(data as never, this.filled * h * w * 3);
    this.filled += n;
  }
}
