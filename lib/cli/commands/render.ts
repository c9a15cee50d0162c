/** `animatorch render`: parses the flags and calls render(). */
import type { Argv, CommandModule } from 'yargs';
import { AbortError } from '../../errors';
import { render, type RenderArgs } from '../../render/render';
import { motionOptions } from '../motion-options';
import { videoOptions } from '../video-options';

export const RenderCommand: CommandModule<object, RenderArgs> = {
  command: 'render',
  describe: 'Render a video from a prompt (default model: the bundled demo model), or from an image with a Stable Video Diffusion model (--image)',
  builder: (yargs: Argv<object>) =>
    motionOptions(videoOptions(yargs))
      .option('image', { type: 'string', describe: 'image-to-video: the image to animate (PNG; other formats and resizing via ffmpeg), with a Stable Video Diffusion --model' })
      .option('motion-bucket-id', { type: 'number', describe: 'SVD: more motion with higher values (default 127)' })
      .option('noise-aug-strength', { type: 'number', describe: 'SVD: noise added to the image before encoding (default 0.02)' })
      .option('min-guidance-scale', { type: 'number', describe: 'SVD: guidance of the first frame, ramped to the last (default 1)' })
      .option('max-guidance-scale', { type: 'number', describe: 'SVD: guidance of the last frame (default 3; --guidance-scale sets it too)' })
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
      .option('controlnet', {
        type: 'string',
        array: true,
        describe:
          'path=CONTROLNET_DIR,input=FRAMES_DIR|VIDEO|IMAGE[,scale=1][,start=0][,end=1][,guess][,preprocess=canny|threshold][,low=100,high=200|threshold=128,invert]: steer each frame (repeatable: several are summed); inputs are resized to the render size. A SparseCtrl (export --controlnet v3_sd15_sparsectrl_*.ckpt) takes keyframes: input=A.png;B.png|DIR,frames=0,8 (default 0) and seed=N for an RGB one\'s VAE sample (default: the video seed)',
      })
      .option('recipe', { type: 'string', describe: 'the .json recipe of an earlier render (one per video: out-0-42.gif.json): renders it again, warning about every difference (model files, versions, device)' })
      .option('init-video', { type: 'string', describe: 'video-to-video: a .gif, .webp, .png, a video file (.mp4, .webm, .mov...; read with ffmpeg) or a folder of frames; resized to cover --width x --height, centre-cropped, sampled evenly to --frames' })
      .option('init-image', { type: 'string', describe: 'image-to-video: a still (.png, .jpg, .webp...) repeated over the frames, then treated as video-to-video' })
      .option('strength', { type: 'number', describe: 'with --init-video / --init-image: how far it is re-noised, 0..1 (1 = from noise; default 0.8)' })
      .option('anchor-first-frame', { type: 'boolean', describe: 'with --init-image: keep the first frame on the image (its latent re-noised to each step)' })
      .option('force', { type: 'boolean', describe: 'with --recipe: overwrite an existing output (by default the original video)' })
      .example('$0 render --prompt "a red circle moving right" --seed 42 --out out.gif', 'the bundled demo model, one seed')
      .example('$0 render -m models/my-model -p "a cat" --seed 1 --seed 2 --device cuda --dtype float16 --out cat.mp4', 'two videos: cat-0-1.mp4, cat-1-2.mp4')
      .example('$0 render --config prompts.yaml --model models/my-model', "every prompt x seed of an AnimateDiff prompt config, and a grid")
      .example('$0 render -p "a blue circle moving right" --init-video red.gif --strength 0.7 --out blue.gif', 'video-to-video: restyle an existing clip')
      .example('$0 render --init-image sq.png --anchor-first-frame --strength 0.6 -p "a green square"', 'image-to-video: animate a still')
      .example('$0 render -m models/my-model -p "a dancer" --controlnet path=models/canny,input=clip.mp4,preprocess=canny --out dancer.mp4', "a ControlNet on a video's Canny edges")
      .example('$0 render -m models/my-model -p "a fox" --controlnet "path=models/sparsectrl-rgb,input=first.png;last.png,frames=0,15" --frames 16', 'SparseCtrl RGB: keyframes on frames 0 and 15')
      .example('$0 render --model models/svd --image in.png --frames 14 --fps 7 --motion-bucket-id 127 --out out.mp4', 'image-to-video with Stable Video Diffusion (animatorch export --svd)')
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
