/** `animatorch bench`: parses the flags, calls benchmarkPipeline() and prints its table. */
import type { Argv, CommandModule } from 'yargs';
import { type BenchResult, benchmarkPipeline, formatBenchTable } from '../../pipelines/benchmark';
import type { KeepModules } from '../../pipelines/stage-module';
import type { Device, DType } from '../../tensor';

export interface BenchArgs {
  model: string;
  width?: number;
  height?: number;
  frames?: number;
  device?: string;
  dtype?: string;
  /** Timed repetitions per stage (default 3). */
  iterations?: number;
  /** Untimed runs first (default 2: TorchScript optimises during the first runs). */
  warmup?: number;
  /** > 1: the UNet step runs the CFG batch of 2, as a render does (default 7.5). */
  guidanceScale?: number;
  json?: boolean;
  /** 'stage': each stage holds only its own model, as a one-shot render. */
  keepModules?: string;
}

export interface BenchIO {
  stdout?: (text: string) => void;
}

/** The bench command's handler: benchmarks and prints the table (or JSON). */
export async function bench(args: BenchArgs, io: BenchIO = {}): Promise<BenchResult> {
  const print = io.stdout ?? ((t: string) => process.stdout.write(`${t}\n`));
  const result = await benchmarkPipeline(args.model, {
    ...(args.device ? { device: args.device as Device } : {}),
    ...(args.dtype ? { dtype: args.dtype as DType } : {}),
    ...(args.width !== undefined ? { width: args.width } : {}),
    ...(args.height !== undefined ? { height: args.height } : {}),
    ...(args.frames !== undefined ? { frames: args.frames } : {}),
    ...(args.iterations !== undefined ? { iterations: args.iterations } : {}),
    ...(args.warmup !== undefined ? { warmup: args.warmup } : {}),
    ...(args.guidanceScale !== undefined ? { guidanceScale: args.guidanceScale } : {}),
    ...(args.keepModules !== undefined ? { keepModules: args.keepModules as KeepModules } : {}),
  });
  print(args.json ? JSON.stringify(result, null, 2) : formatBenchTable(result));
  return result;
}

export const BenchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench <model>',
  describe: 'Time text encoding, one UNet step and one VAE decode for an exported model folder',
  builder: (yargs: Argv<object>) =>
    yargs
      .positional('model', { type: 'string', demandOption: true, describe: 'exported model folder (model.yaml)' })
      .option('width', { alias: 'W', type: 'number', describe: "image width (default: the model's sample size × the VAE factor)" })
      .option('height', { type: 'number', describe: "image height (default: the model's sample size × the VAE factor)" })
      .option('frames', { type: 'number', default: 16, describe: 'frames per UNet step and VAE decode' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
      .option('dtype', { choices: ['float32', 'float16', 'bfloat16'] as const, describe: 'default: as exported' })
      .option('iterations', { type: 'number', default: 3, describe: 'timed runs per stage' })
      .option('warmup', { type: 'number', default: 2, describe: 'untimed runs first (TorchScript optimises during the first runs)' })
      .option('guidance-scale', { type: 'number', default: 7.5, describe: '> 1 runs the UNet on the CFG batch of 2' })
      .option('keep-modules', { choices: ['all', 'stage'] as const, default: 'all', describe: "'stage': each stage holds only its own model (the text encoder, UNet or VAE), as a one-shot render" })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON instead of a table' })
      .example('$0 bench models/demo', 'time each stage of the demo model at its own size, with peak memory')
      .example('$0 bench models/my-model --device cuda --dtype float16 -W 512 --height 512', 'the same on a GPU at 512x512') as unknown as Argv<BenchArgs>,
  handler: async (args) => {
    await bench(args);
  },
};
