/** `animatorch inspect`: what a checkpoint or model folder is, without loading weights. */
import type { Argv, CommandModule } from 'yargs';
import { formatInspectResult, inspectPath, type InspectResult } from '../../checkpoints/inspect';

export interface InspectArgs {
  paths: string[];
  json?: boolean;
  verify?: boolean;
}

export interface InspectIO {
  stdout?: (text: string) => void;
}

/** Inspects each path and prints the result (text, or JSON with --json); resolves to the results. */
export async function inspect(args: InspectArgs, io: InspectIO = {}): Promise<InspectResult[]> {
  const print = io.stdout ?? ((t: string) => process.stdout.write(`${t}\n`));
  const paths = Array.isArray(args.paths) ? args.paths : [args.paths];
  if (paths.length === 0) throw new Error('inspect: give at least one file or folder');
  const results: InspectResult[] = [];
  for (const p of paths) results.push(await inspectPath(p, { verify: args.verify === true }));
  if (args.json) print(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
  else print(results.map((r) => formatInspectResult(r)).join('\n\n'));
  return results;
}

export const InspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <paths..>',
  describe: 'Show what a checkpoint (.safetensors/.ckpt/.pt/.bin) or model folder is, without loading its weights',
  builder: (yargs: Argv<object>) =>
    yargs
      .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'files or folders' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('verify', { type: 'boolean', default: false, describe: 'model folders: check every file\'s sha256 against model.yaml' })
      .example('$0 inspect mm_sd_v15_v2.ckpt', 'what a checkpoint is (motion module version, LoRA, base model), without loading it')
      .example('$0 inspect --verify models/my-model', "every file's sha256 against model.yaml (exit 1 on a mismatch)") as unknown as Argv<InspectArgs>,
  handler: async (args) => {
    const results = await inspect(args);
    // 0 only when every file is a valid, safe checkpoint (and --verify matched): as the exporter would accept it
    for (const r of results) if (r.problem) console.error(`animatorch: ${r.path}: ${r.problem.kind}: ${r.problem.message}`);
    if (results.some((r) => r.verified === false || r.problem)) process.exitCode = 1;
  },
};
