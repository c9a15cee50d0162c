/** One still image as the pipelines take it (AnimateDiff's image-to-video and Stable Video Diffusion). */
import { InvalidParameterError } from '../errors';
import { Tensor } from '../tensor';

/** An RGB image, channels last [H, W, 3]: uint8 0..255 (decoded files, PIL) or float 0..1, as `{ data, shape }` or a Tensor. */
export type ImageInput = { data: Uint8Array | Float32Array; shape: readonly number[] } | Tensor;

/** The image's [H, W] (checked to be [H, W, 3] with data of that size); errors name the option `name`. */
export function imageShape(image: unknown, name = 'image'): [number, number] {
  const o = image as { data?: unknown; shape?: unknown } | null;
  const plain = !!o && typeof o === 'object' && !(image instanceof Tensor) && (o.data instanceof Uint8Array || o.data instanceof Float32Array) && Array.isArray(o.shape);
  const shape = image instanceof Tensor ? (image.disposed ? undefined : image.shape) : plain ? (o!.shape as number[]) : undefined;
  if (!shape || shape.length !== 3 || shape[2] !== 3 || shape.slice(0, 2).some((d) => !Number.isInteger(d) || d < 1))
    throw new InvalidParameterError(name, 'an RGB image [H, W, 3] (uint8 0..255 or float 0..1) as { data, shape } or a Tensor', image instanceof Tensor ? image.shape : image);
  if (plain && (o!.data as ArrayLike<number>).length !== shape[0]! * shape[1]! * 3)
    throw new InvalidParameterError(name, `data of length H·W·3 = ${shape[0]! * shape[1]! * 3}`, (o!.data as ArrayLike<number>).length);
  if (image instanceof Tensor && !['uint8', 'float32', 'float16', 'float64', 'bfloat16'].includes(image.dtype))
    throw new InvalidParameterError(name, 'a uint8 or floating-point Tensor', image.dtype);
  return [shape[0]!, shape[1]!];
}
