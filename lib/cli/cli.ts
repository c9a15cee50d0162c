/** The `animatorch` command line: registers the commands; each command parses and calls the API. */
import yargs from 'yargs';
import { AbortError } from '../errors';
import { BenchCommand } from './commands/bench';
import { DoctorCommand } from './commands/doctor';
import { ExportCommand } from './commands/export';
import { InspectCommand } from './commands/inspect';
import { QueueCommand } from './commands/queue';
import { RenderCommand } from './commands/render';
import { SubmitCommand } from './commands/submit';
import { WorkerCommand } from './commands/worker';
import { animatorchVersion } from '../version';

const COMMANDS = ['render', 'export', 'inspect', 'bench', 'doctor', 'worker', 'submit', 'queue'];

/** Stacks are for bug reports: shown with --verbose or DEBUG=animatorch (or DEBUG=*). */
function wantsStack(argv: string[]): boolean {
  const debug = (process.env.DEBUG ?? '').split(/[\s,]+/);
  return argv.includes('--verbose') || debug.includes('animatorch') || debug.includes('animatorch*') || debug.includes('*');
}

/** Why an aborted render stopped: the signal's reason (e.g. 'terminated (SIGTERM)') rather than the generic message. */
function abortReason(err: AbortError): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : err.message;
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // yargs reports a usage problem through fail() and may then also reject; only the first failure is printed.
  let failure: { message?: string; err?: unknown } | undefined;
  const suggestions: string[] = [];
  const parser = yargs(argv)
    .scriptName('animatorch')
    .version(animatorchVersion())
    .option('verbose', { type: 'boolean', describe: 'print the stack trace of an error (also DEBUG=animatorch)', global: true })
    .command(RenderCommand)
    .command(ExportCommand)
    .command(InspectCommand)
    .command(BenchCommand)
    .command(DoctorCommand)
    .command(WorkerCommand)
    .command(SubmitCommand)
    .command(QueueCommand)
    .example('$0 render --prompt "a red circle moving right" --seed 42 --out out.gif', 'a video from the bundled demo model')
    .example('$0 export --base sd15/ --motion-module mm_sd_v15_v2.ckpt --out models/my-model', 'your own model from AnimateDiff weights')
    .example('$0 render --help', "a command's flags and examples")
    .demandCommand(1, `Name a command: ${COMMANDS.join(', ')}.`)
    .strict()
    .recommendCommands()
    .fail((message, err) => {
      if (!err && /^Did you mean /.test(message ?? '')) suggestions.push(message);
      else failure ??= { message, err };
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    failure ??= { err };
  }
  if (!failure && suggestions.length === 0) return (process.exitCode as number) ?? 0;
  const { message, err } = failure ?? {};
  if (err instanceof AbortError) console.error(`animatorch: ${abortReason(err)}; nothing was written`);
  else if (err) {
    console.error(`animatorch: ${err instanceof Error ? err.message : String(err)}`);
    if (wantsStack(argv) && err instanceof Error && err.stack) console.error(err.stack);
  } else {
    const first = argv.find((a) => !a.startsWith('-'));
    const what = first !== undefined && message === `Unknown argument: ${first}` && !COMMANDS.includes(first) ? `unknown command '${first}'` : message;
    const lines = [what, ...suggestions].filter(Boolean).join('. ');
    console.error(`animatorch: ${lines}\nRun 'animatorch --help' (or 'animatorch <command> --help') for usage.`);
  }
  return (process.exitCode as number) || 1;
}
