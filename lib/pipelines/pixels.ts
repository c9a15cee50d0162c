/** Pixels as the pipelines take them (frames or one image, channels last), made into float tensors on a device. */
import { type Device, Tensor, tidy } from '../tensor';
import { tensor } from '../tensor-factories';
import { sameDevice } from '../tensor-options';

/**
 * `pixels` (uint8 0..255 or float 0..1, channels last; plain data with its shape or a Tensor) as float32
 * 0..1 on `device` (pil_to_numpy's x / 255), then `layout` (permutes, normalisation) inside one tidy.
 * Temporary copies are freed; a Tensor passed in is left alone.
 */
export async function pixelsToFloat(
  pixels: Tensor | { data: Uint8Array | Float32Array; shape: readonly number[] },
  device: Device,
  layout: (x: Tensor) => Tensor,
): Promise<Tensor> {
  const host = pixels instanceof Tensor ? pixels : tensor(pixels.data, [...pixels.shape]);
  try {
    const moved = sameDevice(host.device, device) ? host : await host.to({ device });
    try {
      return tidy(() => layout(moved.dtype === 'uint8' ? moved.astype('float32').div(255) : moved.astype('float32')));
    } finally {
      if (moved !== host) moved.dispose();
    }
  } finally {
    if (host !== pixels) host.dispose();
  }
}

/**
 * Frames [F, H, W, 3] -> [F, 3, height, width]: resized as diffusers' VaeImageProcessor.resize resizes arrays and
 * tensors (F.interpolate's default, nearest) when their size is not the render's.
 */
export function framesToSize(x: Tensor, size?: { height: number; width: number }): Tensor {
  const [, h, w] = x.shape;
  const chw = x.permute([0, 3, 1, 2]);
  return !size || (h === size.height && w === size.width) ? chw : chw.interpolate({ size: [size.height, size.width] });
}
