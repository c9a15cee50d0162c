/** The flags that describe a video, shared by `render` (renders it here) and `submit` (queues it for a farm). */
import type { Argv } from 'yargs';

export function videoOptions<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .option('prompt', { alias: 'p', type: 'string', describe: 'what the video shows' })
    .option('negative-prompt', { alias: 'n', type: 'string', describe: 'what it should not show' })
    .option('steps', { type: 'number', describe: 'denoising steps (default 25, or the model\'s)' })
    .option('guidance-scale', { alias: 'g', type: 'number', describe: 'classifier-free guidance (default 7.5, or the model\'s)' })
    .option('frames', { alias: 'L', type: 'number', describe: 'number of frames (default 16, or the model\'s)' })
    .option('width', { alias: 'W', type: 'number', describe: 'a multiple of the VAE factor, 8 for SD (default: the model\'s)' })
    .option('height', { alias: 'H', type: 'number', describe: 'a multiple of the VAE factor, 8 for SD (default: the model\'s)' })
    .option('scheduler', { type: 'string', describe: 'diffusers scheduler class, e.g. DDIMScheduler, EulerDiscreteScheduler' })
    .option('fps', { type: 'number', describe: 'frames per second of the output (default 8)' })
    .option('context-length', { type: 'number', describe: 'frames per context window for long videos (default 16)' })
    .option('context-overlap', { type: 'number', describe: 'frames shared by neighbouring windows' }) as unknown as Argv<T>;
}
