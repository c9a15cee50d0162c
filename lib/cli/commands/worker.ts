/** `animatorch worker`: renders jobs from the farm's Redis queue until stopped (see README "Render farm"). */
import type { Argv, CommandModule } from 'yargs';
import { farmOptions } from '../farm-options';
import { runRenderWorker } from '../../farm/worker';

export interface WorkerArgs {
  redis: string;
  device?: string;
  models?: string[];
  out?: string;
  concurrency?: number;
  threads?: number;
  queue?: string;
}

export const WorkerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: 'Render jobs from a Redis queue (one worker per device)',
  builder: (yargs: Argv<object>) =>
    farmOptions(yargs)
      .option('device', { type: 'string', default: 'auto', describe: 'auto | cpu | cuda | cuda:N' })
      .option('models', { type: 'string', array: true, describe: 'folder(s) of exported models (default: the bundled models/)' })
      .option('out', { alias: 'o', type: 'string', default: 'renders', describe: 'output folder shared by all workers (e.g. a network mount)' })
      .option('concurrency', { type: 'number', default: 1, describe: 'jobs at once on this device' })
      .option('threads', { type: 'number', describe: 'CPU threads for libtorch' }) as unknown as Argv<WorkerArgs>,
  handler: async (args) => {
    const worker = runRenderWorker({
      connection: args.redis,
      device: args.device,
      models: args.models,
      outDir: args.out,
      concurrency: args.concurrency,
      threads: args.threads,
      queue: args.queue,
    });
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          process.stderr.write('stopping now; running jobs go back to the queue when their locks lapse\n');
          void worker.close(true).then(resolve);
          return;
        }
        stopping = true;
        process.stderr.write(`${signal}: finishing running jobs, then stopping (${signal} again to stop now)\n`);
        void worker.close().then(resolve);
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
  },
};
