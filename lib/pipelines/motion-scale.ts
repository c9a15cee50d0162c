/**
 * The motion scale: a factor on every motion module's residual branch y (out = x + scale · y), as
 * AnimateDiff-Evolved's motion-model "effect" (x·(1 − e) + (x + y)·e). Its "scale_multival" is another
 * thing: it multiplies the temporal attention's keys.
 * 0 leaves the spatial UNet alone, 1 is the model as trained. The exported UNet applies it
 * (scripts/animatorch_export/motion_module.py) through its optional motion_scale input.
 */
import { InvalidParameterError } from '../errors';
import type { ModelManifest } from '../model-manifest';

/**
 * motionScale, checked against the model: passed as the UNet's motion_scale input; 1 (the default) passes
 * nothing, so exports without the input run as before.
 */
export function checkMotionScale(manifest: ModelManifest, v: unknown): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidParameterError('motionScale', 'a finite number', v);
  if (v !== 1 && !manifest.unet.inputs.includes('motion_scale'))
    throw new InvalidParameterError('motionScale', `1 with model '${manifest.name}' (exported before the UNet's motion_scale input; export it again)`, v);
  return v;
}
