/** `animatorch export`: parses the flags and calls exportModel(). */
import type { Argv, CommandModule } from 'yargs';
import { exportModel, type ExportArgs } from '../../model-export';

export const ExportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'Export AnimateDiff weights (SD1.5 base + motion module + LoRAs), a Stable Video Diffusion folder (--svd) or a ControlNet (--controlnet) to an animatorch folder (runs Python with torch)',
  builder: (yargs: Argv<object>) =>
    yargs
      .option('base', { type: 'string', describe: 'diffusers pipeline folder or single-file .safetensors/.ckpt (AnimateDiff; required unless --svd or --controlnet)' })
      .option('svd', { type: 'string', describe: 'diffusers Stable Video Diffusion (SVD / SVD-XT) folder, instead of --base' })
      .option('controlnet', { type: 'string', describe: 'export this SD1.5 ControlNet (diffusers folder or original .safetensors/.pth) or AnimateDiff SparseCtrl (v3_sd15_sparsectrl_*.ckpt or diffusers folder) instead, to --out' })
      .check((a) => {
        const given = (['base', 'svd', 'controlnet'] as const).filter((k) => a[k] !== undefined);
        if (given.length === 0) throw new Error('export needs --base (AnimateDiff), --svd (Stable Video Diffusion) or --controlnet');
        if (given.length > 1) throw new Error(`export: ${given.map((k) => '--' + k).join(' and ')} cannot be combined`);
        return true;
      })
      .option('motion-module', { type: 'string', describe: 'AnimateDiff motion module (.ckpt/.safetensors) or diffusers MotionAdapter folder' })
      .option('motion-version', { choices: ['v1', 'v2', 'v3'] as const, describe: 'override the detected motion module version' })
      .option('motion-lora', { type: 'string', array: true, describe: 'MotionLoRA PATH[:alpha] (repeatable; alpha default 1.0)' })
      .option('lora', { type: 'string', array: true, describe: 'kohya image LoRA PATH[:alpha] (repeatable; alpha default 0.8)' })
      .option('adapter-lora', { type: 'string', describe: 'v3 domain adapter LoRA PATH[:alpha] (alpha default 1.0)' })
      .option('numerics', { choices: ['animatediff', 'diffusers'] as const, describe: "whose numerics to match, the original AnimateDiff or diffusers (default: the exporter's, animatediff); also for a SparseCtrl's motion modules" })
      .option('dtype', { choices: ['float32', 'float16', 'bfloat16'] as const, describe: 'dtype of the exported weights (default float32; float16 for CUDA)' })
      .option('device', { type: 'string', describe: 'cpu or cuda[:N] (where the export runs)' })
      .option('attention-backend', { choices: ['auto', 'math', 'sdpa'] as const, describe: "attention in the TorchScript files: 'sdpa' (torch 2.x fused), 'math' (runs on libtorch 1.13); 'auto' picks by the exporting torch" })
      .option('out', { type: 'string', demandOption: true, describe: 'output model (or ControlNet) folder' })
      .option('name', { type: 'string', describe: 'model name in model.yaml (default: the folder name)' })
      .option('verify', { type: 'boolean', default: true, describe: 'compare scripted and eager outputs (--no-verify skips)' })
      .option('mapped-weights', { type: 'boolean', describe: "AnimateDiff: the UNet's weights in unet/model.weights.bin, memory-mapped and released block by block on CPU, so a render holds one block's weights, not all (default; --no-mapped-weights keeps them in unet/model.pt)" })
      .option('quiet', { type: 'boolean', default: false, describe: 'print only errors' })
      .option('debug', { type: 'boolean', default: false, describe: 'show Python tracebacks' })
      .example('$0 export --base sd15/ --motion-module mm_sd_v15_v2.ckpt --out models/my-model', 'SD1.5 (diffusers folder) + an AnimateDiff v2 motion module')
      .example('$0 export --base toonyou.safetensors --motion-module mm.ckpt --motion-lora zoom.ckpt:0.8 --out models/toon', 'a single-file base with a MotionLoRA merged at 0.8')
      .example('$0 export --svd stable-video-diffusion-img2vid-xt/ --out models/svd-xt', 'Stable Video Diffusion (image-to-video)')
      .example('$0 export --controlnet control_v11p_sd15_canny.pth --out models/canny', 'a ControlNet for generate({ controlnet }) and render --controlnet')
      .example('$0 export --controlnet v3_sd15_sparsectrl_rgb.ckpt --out models/sparsectrl-rgb', 'an AnimateDiff v3 SparseCtrl (keyframes: render --controlnet "path=...,input=a.png;b.png,frames=0,15")') as unknown as Argv<ExportArgs>,
  handler: async (args) => {
    process.exitCode = await exportModel(args);
  },
};
