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

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let failed = false;
  await yargs(argv)
    .scriptName('animatorch')
    .version(animatorchVersion())
    .command(RenderCommand)
    .command(ExportCommand)
    .command(InspectCommand)
    .command(BenchCommand)
    .command(DoctorCommand)
    .command(WorkerCommand)
    .command(SubmitCommand)
    .command(QueueCommand)
    .demandCommand(1, 'Name a command: render, export, inspect, bench, doctor, worker, submit or queue.')
    .strict()
    .recommendCommands()
    .fail((message, err, y) => {
      failed = true;
      if (err instanceof AbortError) console.error('aborted; nothing was written');
      else if (err) console.error(`animatorch: ${err.message}`);
      else console.error(`${y.help()}\n\n${message}`);
    })
    .parseAsync();
  return failed ? (process.exitCode as number) || 1 : ((process.exitCode as number) ?? 0);
}
