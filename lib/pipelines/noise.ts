/** randn as diffusers' randn_tensor: drawn on the generator's device (CPU for seeds), then moved to `device`. */
import type { Generator } from '../generator';
import type { Device, Tensor } from '../tensor';
import { randn } from '../tensor-factories';
import { sameDevice } from '../tensor-options';

export async function drawNoise(shape: number[], generator: Generator | undefined, device: Device): Promise<Tensor> {
  if (!generator) return randn(shape, { device });
  const drawn = randn(shape, { generator });
  if (sameDevice(drawn.device, device)) return drawn;
  try {
    return await drawn.to({ device });
  } finally {
    drawn.dispose();
  }
}
