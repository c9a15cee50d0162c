/** `animatorch queue`: the farm queue's job counts and its failed jobs with their reasons. */
import type { Argv, CommandModule } from 'yargs';
import { farmOptions } from '../farm-options';
import { assertReachable, redisOptions } from '../../farm/connection';
import { createRenderQueue, isCancelledReason } from '../../farm/queue';

export interface QueueArgs {
  redis: string;
  queue?: string;
  /** Failed jobs listed (newest first). */
  failed?: number;
  json?: boolean;
}

export interface QueueReport {
  name: string;
  counts: Record<string, number>;
  failed: { id: string; reason: string; attempts: number; cancelled: boolean; finishedOn?: string }[];
}

export async function queueReport(args: QueueArgs): Promise<QueueReport> {
  await assertReachable(redisOptions(args.redis, '--redis'));
  const q = createRenderQueue({ connection: args.redis, name: args.queue });
  try {
    const counts = await q.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
    const jobs = await q.queue.getFailed(0, (args.failed ?? 20) - 1);
    return {
      name: q.name,
      counts,
      failed: jobs.map((j) => ({
        id: j.id!,
        reason: j.failedReason,
        attempts: j.attemptsMade,
        cancelled: isCancelledReason(j.failedReason),
        ...(j.finishedOn ? { finishedOn: new Date(j.finishedOn).toISOString() } : {}),
      })),
    };
  } finally {
    await q.close();
  }
}

export const QueueCommand: CommandModule<object, QueueArgs> = {
  command: 'queue',
  describe: 'Show the farm queue: job counts, failed jobs with reasons',
  builder: (yargs: Argv<object>) =>
    farmOptions(yargs)
      .option('failed', { type: 'number', default: 20, describe: 'failed jobs to list' })
      .option('json', { type: 'boolean', describe: 'print JSON' }) as unknown as Argv<QueueArgs>,
  handler: async (args) => {
    const r = await queueReport(args);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      return;
    }
    process.stdout.write(`queue ${r.name}\n`);
    for (const [state, n] of Object.entries(r.counts)) process.stdout.write(`  ${state.padEnd(12)}${n}\n`);
    if (r.failed.length) process.stdout.write('failed jobs (newest first):\n');
    for (const f of r.failed) process.stdout.write(`  ${f.id}  ${f.cancelled ? '' : `after ${f.attempts} tr${f.attempts === 1 ? 'y' : 'ies'}: `}${f.reason}\n`);
  },
};
