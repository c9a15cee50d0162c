/** `animatorch render`: parses the flags and calls render(). */
import type { Argv, CommandModule } from 'yargs';
import { AbortError } from '../../errors';
import { render, type RenderArgs } from '../../render/render';
import { motionOptions } from '../motion-options';
import { videoOptions } from '../video-options';

export const RenderCommand: CommandModule<object, RenderArgs> = {
  command: 'render',
  describe: 'Render a video from a prompt (default model: the bundled demo model)',
  builder: (yargs: Argv<object>) =>
    motionOptions(videoOptions(yargs))
      .option('model', { alias: 'm', type: 'string', describe: 'an exported model folder (model.yaml); default: the bundled demo model' })
      .option('seed', { type: 'string', array: true, describe: 'seed (repeatable: one video each); 64-bit, exact' })
      .option('device', { type: 'string', default: 'auto', describe: 'auto | cpu | cuda | cuda:N' })
      .option('dtype', { choices: ['float32', 'float16', 'bfloat16'] as const, describe: 'compute dtype (default: the model\'s)' })
      .option('threads', { type: 'number', describe: 'CPU threads for libtorch (default: torch\'s, the number of physical cores)' })
      .option('verify', { type: 'boolean', describe: 'check every model file\'s sha256 against model.yaml before loading' })
      .option('vae-tiling', { type: 'boolean', describe: 'decode in spatial tiles: less memory for large sizes' })
      .option('decode-chunk-size', { type: 'number', describe: 'frames per VAE call (default 16; fewer: less memory)' })
      .option('max-memory', { type: 'string', describe: 'memory a render may use, e.g. 24GB (default: the free host RAM, or free VRAM on CUDA); renders estimated above it are refused before loading' })
      .option('out', { alias: 'o', type: 'string', describe: '.gif, .webp, .mp4, or a folder for PNG frames (with --config: the output folder)' })
      .option('config', { type: 'string', describe: 'AnimateDiff-style prompt YAML: renders every prompt x seed and a sample grid' })
      .option('recipe', { type: 'string', describe: 'the .json recipe of an earlier render (one per video: out-0-42.gif.json): renders it again, warning about every difference (model files, versions, device)' })
      .option('force', { type: 'boolean', describe: 'with --recipe: overwrite an existing output (by default the original video)' })
      .example('$0 render --prompt "a red circle moving right" --seed 42 --out out.gif', 'the bundled demo model, one seed')
      .example('$0 render -m models/my-model -p "a cat" --seed 1 --seed 2 --device cuda --dtype float16 --out cat.mp4', 'two videos: cat-0-1.mp4, cat-1-2.mp4')
      .example('$0 render --config prompts.yaml --model models/my-model', "every prompt x seed of an AnimateDiff prompt config, and a grid")
      .example('$0 render --recipe cat-0-1.mp4.json --out again.mp4', 'one of them again, from its recipe') as unknown as Argv<RenderArgs>,
  handler: async (args) => {
    // SIGINT (Ctrl-C) and SIGTERM (kill, docker stop, a job queue) stop the render the same way: the
    // current step ends at the next UNet call, VAE chunk or tile, temp files go, nothing half-written stays.
    // A second signal forces (the default handler). SIGTERM exits 143 (128 + 15), as shells expect.
    const ctrl = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      process.stderr.write(`\naborting on ${signal} (${signal === 'SIGINT' ? 'Ctrl-C' : 'send it'} again to force)...\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (signal === 'SIGTERM') process.exitCode = 143;
      ctrl.abort(new AbortError(signal === 'SIGTERM' ? 'terminated (SIGTERM)' : 'interrupted (SIGINT)'));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await render(args, { signal: ctrl.signal });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
