/** The flags that name the farm's queue, shared by `worker`, `submit` and `queue`. */
import type { Argv } from 'yargs';

export function farmOptions<T>(yargs: Argv<T>): Argv<T> {
  return yargs
    .option('redis', { type: 'string', default: process.env.ANIMATORCH_REDIS ?? 'redis://127.0.0.1:6379', describe: 'Redis URL (env ANIMATORCH_REDIS)' })
    .option('queue', { type: 'string', describe: 'queue name (default animatorch-render)' }) as unknown as Argv<T>;
}
