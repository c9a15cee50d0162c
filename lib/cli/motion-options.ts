/** `render`'s flags for the motion modules: the motion scale, and FreeNoise for long videos (beside --context-length's windows). */
import type { Argv } from 'yargs';
import { FREE_NOISE_NOISE_TYPES, FREE_NOISE_WEIGHTING_SCHEMES } from '../pipelines/free-noise';

export function motionOptions<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .option('motion-scale', {
      type: 'number',
      describe: "scales the motion modules' residual (AnimateDiff-Evolved's effect): 1 as trained (default), 0 no motion modules, above 1 stronger motion; a model exported by this animatorch for values other than 1",
    })
    .option('free-noise', {
      type: 'boolean',
      describe: "FreeNoise (diffusers' enable_free_noise) for videos longer than the motion module's context: all frames in one UNet call, the motion modules attending in windows; instead of the context windows (a model exported by this animatorch)",
    })
    .option('free-noise-context-length', { type: 'number', describe: 'FreeNoise: frames per attention window (default 16; turns FreeNoise on)' })
    .option('free-noise-context-stride', { type: 'number', describe: 'FreeNoise: frames between window starts (default 4; turns FreeNoise on)' })
    .option('free-noise-weighting-scheme', { choices: FREE_NOISE_WEIGHTING_SCHEMES, describe: 'FreeNoise: averaging of overlapping windows (default pyramid; turns FreeNoise on)' })
    .option('free-noise-noise-type', { choices: FREE_NOISE_NOISE_TYPES, describe: 'FreeNoise: initial noise (default shuffle_context; turns FreeNoise on)' }) as unknown as Argv<T>;
}
